import EmberTestSupport
import Foundation
import XCTest

/// Targets that change under ember while it samples them (maps that come and go, a tracer
/// stopping them, a program exec'ing) never make it crash or hang. Each recording runs under
/// a watchdog: a hang is exit status 124.
final class HostileTargetTests: RecordingTestCase {
    private func record(_ arguments: [String]) throws -> CommandResult {
        try runProgram("/usr/bin/timeout", ["60", emberBinary, "record"] + arguments)
    }

    func testMapsThatComeAndGoWhileSampled() throws {
        for unwind in ["dwarf", "fp", "auto"] {
            let workload = try Workload(sample: "churn", arguments: ["maps", "30"])
            defer { workload.stop() }
            let output = path("churn-\(unwind).folded")
            let result = try record(["--pid", "\(workload.pid)", "-d", "3", "-F", "999", "--unwind", unwind,
                                     "-o", output, "-o", path("churn-\(unwind).pb.gz")])
            XCTAssertEqual(result.status, 0, "\(unwind): \(result.stderr)")
            let folded = try Folded(path: output)
            XCTAssertGreaterThan(folded.total, 200, unwind)
            // libwork.so is mapped a fraction of the time: its frames are named once a read of
            // the maps (at the start, every second, at the end) has seen it mapped. Over 2 s,
            // with three reads, none saw it in one CI run in fp mode; 3 s gives four.
            XCTAssertTrue(folded.stacks.keys.contains { $0.contains("library_spin") || $0.contains("library_work") },
                          "\(unwind): \(Array(folded.stacks.keys.prefix(5))) \(result.stderr)")
        }
    }

    func testATargetStoppedAndResumedByATracer() throws {
        let workload = try Workload(sample: "split-nofp", arguments: ["30"])
        defer { workload.stop() }
        let tracer = Process()
        tracer.executableURL = URL(fileURLWithPath: try sampleBinary("churn"))
        tracer.arguments = ["trace", "\(workload.pid)", "4"]
        tracer.standardOutput = FileHandle.nullDevice
        try tracer.run()
        defer { if tracer.isRunning { tracer.terminate() } }
        for unwind in ["dwarf", "fp"] {
            let output = path("traced-\(unwind).folded")
            let result = try record(["--pid", "\(workload.pid)", "-d", "1.5", "-F", "999", "--unwind", unwind, "-o", output])
            XCTAssertEqual(result.status, 0, "\(unwind): \(result.stderr)")
            XCTAssertGreaterThan(try Folded(path: output).share { $0.contains("spin") }, 50, unwind)
        }
        tracer.waitUntilExit()
        XCTAssertEqual(tracer.terminationStatus, 0, "the tracer attached and detached")
    }

    func testProgramsThatExecAndExitWhileSampled() throws {
        // 200 programs of 10 ms, each exec'd and gone before the next: none of it is fatal.
        let output = path("exec.folded")
        let result = try record(["-F", "999", "--unwind", "dwarf", "-o", output, "--", try sampleBinary("forker"),
                                 "exec", "200", "0.01", try sampleBinary("split-nofp")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertGreaterThan(try Folded(path: output).total, 100)
    }
}
