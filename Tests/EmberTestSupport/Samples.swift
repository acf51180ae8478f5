import Foundation
import XCTest

/// The package's root directory, found from this file's path.
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Builds the sample workloads (make -C samples) once and returns the path of one.
public func sampleBinary(_ name: String) throws -> String {
    try SampleBuild.shared.build()
    return packageRoot.appendingPathComponent("samples/build/\(name)").path
}

final class SampleBuild: @unchecked Sendable {
    static let shared = SampleBuild()
    private var built = false
    private let lock = NSLock()

    func build() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !built else { return }
        let result = try runProgram("/usr/bin/make", ["-s", "-C", packageRoot.appendingPathComponent("samples").path])
        guard result.status == 0 else {
            throw XCTSkip("cannot build the samples: \(result.stderr)")
        }
        built = true
    }
}

public struct CommandResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a program to completion and captures its output.
public func runProgram(_ executable: String, _ arguments: [String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a chatty child cannot block on a full pipe.
    let outReader = PipeReader(out)
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    let outData = outReader.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Drains a pipe on another thread.
final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        Thread.detachNewThread { [self] in
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
