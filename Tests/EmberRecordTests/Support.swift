import EmberTestSupport
import Foundation
import XCTest


/// The ember binary under test: $EMBER_BINARY, or the newest of the debug and release
/// builds in .build (scripts/test builds release last: its timings are a user's).
let emberBinary: String = {
    if let path = ProcessInfo.processInfo.environment["EMBER_BINARY"] { return path }
    let candidates = ["debug", "release"].map { packageRoot.appendingPathComponent(".build/\($0)/ember").path }
        .filter { FileManager.default.isExecutableFile(atPath: $0) }
    func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
    return candidates.max { modified($0) < modified($1) }
        ?? packageRoot.appendingPathComponent(".build/debug/ember").path
}()

func ember(_ arguments: [String]) throws -> CommandResult {
    guard FileManager.default.isExecutableFile(atPath: emberBinary) else {
        XCTFail("no ember binary at \(emberBinary): run `swift build` first")
        return CommandResult(status: -1, stdout: "", stderr: "")
    }
    return try runProgram(emberBinary, arguments)
}

/// A folded file read back: stack (root first) → count.
struct Folded {
    var stacks: [[String]: Double] = [:]
    var total: Double { stacks.values.reduce(0, +) }

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let space = try XCTUnwrap(line.lastIndex(of: " "), "malformed line \(line)")
            let count = try XCTUnwrap(Double(line[line.index(after: space)...]), "malformed count in \(line)")
            let frames = line[..<space].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            stacks[frames, default: 0] += count
        }
    }

    /// Percentage of samples whose stack matches.
    func share(where matches: ([String]) -> Bool) -> Double {
        let total = self.total
        guard total > 0 else { return 0 }
        return stacks.filter { matches($0.key) }.values.reduce(0, +) / total * 100
    }
}

/// A sample workload running in the background; it prints "ready" once started.
final class Workload {
    let process = Process()
    var pid: Int32 { process.processIdentifier }

    convenience init(sample: String, arguments: [String]) throws {
        try self.init(executable: try sampleBinary(sample), arguments: arguments)
    }

    init(executable: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        // Wait for "ready": the threads exist before ember attaches.
        let line = out.fileHandleForReading.availableDataUntilNewline()
        XCTAssertEqual(line, "ready")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A test case that records real processes: it needs root, and gives each test a scratch
/// directory for outputs.
class RecordingTestCase: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        guard geteuid() == 0 else {
            throw XCTSkip("loading BPF programs and opening perf events for all tasks needs root")
        }
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("ember-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    /// Starts `sample` (which runs 30 s unless told otherwise), records it with `ember record
    /// --pid` and `options` into a folded file, checks that ember succeeded, and reads the file.
    func recordWorkload(_ sample: String, arguments: [String] = ["30"], options: [String],
                        file: StaticString = #filePath, line: UInt = #line) throws -> (CommandResult, Folded) {
        let workload = try Workload(sample: sample, arguments: arguments)
        defer { workload.stop() }
        let output = path("\(sample)-\(UUID().uuidString.prefix(8)).folded")
        let result = try ember(["record", "--pid", "\(workload.pid)"] + options + ["-o", output])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return (result, try Folded(path: output))
    }
}

extension RecordingTestCase {
    /// ember's BPF programs loaded now, as bpftool lists them.
    func emberPrograms() throws -> [String] {
        let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let bpftool else { throw XCTSkip("bpftool is not installed (scripts/bootstrap installs it)") }
        let result = try runProgram(bpftool, ["prog", "show"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // ember's programs are named after their functions: sample, follow_fork, on_switch.
        return result.stdout.split(separator: "\n").filter {
            $0.contains(" name sample ") || $0.contains(" name follow_fork ") || $0.contains(" name on_switch ")
        }.map(String.init)
    }

    /// The loaded BPF programs with these names, as bpftool lists them.
    func bpftoolPrograms(named names: [String]) throws -> [String] {
        guard let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("bpftool is not installed (scripts/bootstrap installs it)") }
        let result = try runProgram(bpftool, ["prog", "show"])
        return result.stdout.split(separator: "\n").filter { line in names.contains { line.contains(" name \($0) ") } }
            .map(String.init)
    }

    /// What `programs` lists once it is empty, or after 2 s: the kernel frees a tracing
    /// program after an RCU grace period (bpf_link_free defers the link's put of it), so right
    /// after ember exits bpftool can still list one that is on its way out.
    func programsLeftAfterTheirRelease(_ programs: () throws -> [String]) throws -> [String] {
        var left = try programs()
        let deadline = Date().addingTimeInterval(2)
        while !left.isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            left = try programs()
        }
        return left
    }

    func XCTAssertNoLeftoverEmberPrograms(file: StaticString = #filePath, line: UInt = #line) throws {
        let left = try programsLeftAfterTheirRelease(emberPrograms)
        XCTAssertTrue(left.isEmpty, "BPF programs left loaded: \(left)", file: file, line: line)
    }
}
