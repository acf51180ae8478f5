import Foundation
import XCTest

/// Builds the symbolizer's samples (make -C samples/symbolize TARGET) once per target and
/// returns the path of one in samples/symbolize/build.
public func symbolizeSample(_ name: String, target: String = "all") throws -> String {
    try SymbolizeSampleBuild.shared.build(target)
    return packageRoot.appendingPathComponent("samples/symbolize/build/\(name)").path
}

/// samples/symbolize/build/debugroot: a debug root holding only .build-id/ entries.
public var symbolizeDebugRoot: String {
    packageRoot.appendingPathComponent("samples/symbolize/build/debugroot").path
}

final class SymbolizeSampleBuild: @unchecked Sendable {
    static let shared = SymbolizeSampleBuild()
    private var built: Set<String> = []
    private let lock = NSLock()

    func build(_ target: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard !built.contains(target) else { return }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "/root/.cargo/bin:/opt/swift/usr/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        process.arguments = ["-s", "-C", packageRoot.appendingPathComponent("samples/symbolize").path, target]
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw XCTSkip("cannot build samples/symbolize \(target): \(message)")
        }
        built.insert(target)
    }
}
