import EmberTestSupport
import Foundation
import XCTest

/// Frames in the vDSO are named from its own symbols, as perf names them: samples/vdso
/// spends most of its time in `clock_gettime`, served by the vDSO without a system call.
final class VDSOTests: RecordingTestCase {
    /// Records samples/vdso with `-p` (perf's and py-spy's spelling of --pid).
    private func record(unwind: String) throws -> Folded {
        let workload = try Workload(sample: "vdso", arguments: ["30"])
        defer { workload.stop() }
        let output = path("vdso-\(unwind).folded")
        let result = try ember(["record", "-p", "\(workload.pid)", "-d", "1.5", "-F", "499", "--no-kernel",
                                "--unwind", unwind, "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try Folded(path: output)
    }

    /// The leaf that most samples end in, and the share of samples that end there.
    private func topLeaf(_ folded: Folded) throws -> (name: String, share: Double) {
        var leaves: [String: Double] = [:]
        for (stack, count) in folded.stacks { leaves[stack.last ?? "", default: 0] += count }
        let top = try XCTUnwrap(leaves.max { $0.value < $1.value })
        return (top.key, top.value / folded.total * 100)
    }

    func testVDSOFramesAreNamedWithFramePointersAndDWARF() throws {
        for unwind in ["fp", "dwarf"] {
            let folded = try record(unwind: unwind)
            XCTAssertGreaterThan(folded.total, 50, unwind)
            let (leaf, share) = try topLeaf(folded)
            XCTAssertEqual(leaf, "__vdso_clock_gettime", "\(unwind): \(folded.stacks)")
            XCTAssertGreaterThan(share, 60, unwind)
            let unnamed = folded.share { $0.contains { $0.hasPrefix("[vdso]") } }
            XCTAssertEqual(unnamed, 0, "\(unwind): vDSO frames left as [vdso]+0xOFFSET")
        }
    }

    /// perf names the same function: its hottest symbol on the same workload is ember's leaf.
    func testPerfNamesTheSameVDSOFunction() throws {
        guard let perf = ["/usr/bin/perf", "/usr/local/bin/perf"].first(where: FileManager.default.isExecutableFile)
        else { throw XCTSkip("perf is not installed") }
        let data = path("perf.data")
        let record = try runProgram(perf, ["record", "-q", "-F", "199", "-o", data, "--",
                                           try sampleBinary("vdso"), "1.5"])
        XCTAssertEqual(record.status, 0, record.stderr)
        let report = try runProgram(perf, ["report", "-i", data, "--stdio", "--no-children", "--sort", "sym",
                                           "-g", "none"])
        XCTAssertEqual(report.status, 0, report.stderr)
        // "    92.55%  [.] __vdso_clock_gettime"
        let line = try XCTUnwrap(report.stdout.split(separator: "\n").first { $0.contains("%") && !$0.hasPrefix("#") },
                                 report.stdout)
        let perfTop = try XCTUnwrap(line.split(separator: " ").last.map(String.init))
        XCTAssertEqual(try topLeaf(try self.record(unwind: "fp")).name, perfTop)
    }
}
