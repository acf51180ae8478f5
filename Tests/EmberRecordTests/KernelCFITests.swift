import EmberTestSupport
import Foundation
import XCTest

/// In-kernel CFI unwinding (`--unwind auto`): programs whose time is in libraries built
/// without frame pointers (libc's qsort and printf, libstdc++'s thread entry) get their
/// whole chains from the BPF program's walk of the files' unwind tables. They record real
/// processes with real BPF programs and need root.
final class KernelCFITests: RecordingTestCase {

    /// User frames only (kernel frames dropped), root first, the process frame removed.
    private func userFrames(_ stack: [String]) -> [String] {
        Array(stack.dropFirst().filter { !$0.hasSuffix("_[k]") })
    }

    /// How many of the samples the report says the kernel walked by CFI, in percent.
    private func walkedShare(_ report: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        for text in report.split(separator: "\n") where text.contains("samples walked in the kernel by CFI") {
            let words = text.split(separator: " ").map { $0.replacingOccurrences(of: ",", with: "") }
            if words.count > 4, let walked = Double(words[1]), let seen = Double(words[3]), seen > 0 {
                return walked / seen * 100
            }
        }
        XCTFail("no CFI line in the report:\n\(report)", file: file, line: line)
        return 0
    }

    /// Records `sample` launched by ember for `seconds` with `options`; returns the report and
    /// the share of samples whose user stack is complete: rooted at `root`, no marker frame,
    /// through `through` in order (each frame directly calling the next).
    private func completeShare(_ sample: String, seconds: String = "3", options: [String] = [],
                               root: String, through chain: [String],
                               file: StaticString = #filePath, line: UInt = #line) throws -> (String, Double) {
        let output = path("\(sample)-\(options.joined()).folded")
        let result = try ember(["record", "-F", "997"] + options + ["-o", output, "--", try sampleBinary(sample), seconds])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let folded = try Folded(path: output)
        XCTAssertGreaterThan(folded.total, 997 * (Double(seconds) ?? 1) / 4, "\(seconds) s at 997 Hz (fewer on a busy machine)",
                             file: file, line: line)
        let joinedChain = chain.joined(separator: ";")
        func isComplete(_ stack: [String]) -> Bool {
            let frames = userFrames(stack)
            guard frames.first == root, !frames.contains(where: { $0.hasPrefix("[") && !$0.hasPrefix("[vdso]") })
            else { return false }
            return frames.joined(separator: ";").contains(joinedChain)
        }
        let incomplete = folded.stacks.filter { !isComplete($0.key) }.sorted { $0.value > $1.value }
            .prefix(3).map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
        return (result.stderr + "\nmost frequent incomplete stacks:\n" + incomplete, folded.share(where: isComplete))
    }

    func testAComparatorCalledByQsortKeepsMainWithAuto() throws {
        let (report, complete) = try completeShare("qsort", root: "_start", through: ["main", "sort_round"])
        XCTAssertGreaterThanOrEqual(complete, 99, report)
        XCTAssertGreaterThan(walkedShare(report), 80, "walked in the kernel, not copied: \(report)")
        // The control experiment: frame pointers stop in qsort, which keeps none.
        let (_, framePointers) = try completeShare("qsort", seconds: "1.5", options: ["--unwind", "fp"],
                                                   root: "_start", through: ["main", "sort_round"])
        XCTAssertLessThan(framePointers, 5, "frame-pointer walks lose main under qsort")
    }

    func testAHotPathInsidePrintfKeepsMainWithAuto() throws {
        let (report, complete) = try completeShare("printf", root: "_start", through: ["main", "print_round"])
        XCTAssertGreaterThanOrEqual(complete, 99, report)
        XCTAssertGreaterThan(walkedShare(report), 80, report)
    }

    func testAStdThreadReachesClone3ThroughLibstdcxxWithAuto() throws {
        let (report, complete) = try completeShare("cxxthread", root: "__GI___clone3",
                                                   through: ["start_thread"])
        XCTAssertGreaterThanOrEqual(complete, 99, report)
        // (libstdc++'s table, the largest, is compiled once the program maps it: until then,
        // a few tenths of a second, samples are copies.)
        XCTAssertGreaterThan(walkedShare(report), 50, report)
    }

    func testTablesOverTheBudgetAreReportedAndUnwoundInUserSpace() throws {
        // A budget too small for libc's table: its samples take the user-space path, whole.
        let (report, complete) = try completeShare("qsort", seconds: "1.5", options: ["--unwind-table-rows", "2000"],
                                                   root: "_start", through: ["main", "sort_round"])
        XCTAssertTrue(report.contains("did not fit the kernel's budget ("), report)
        XCTAssertLessThan(walkedShare(report), 5, "libc's samples, nearly all, took the user-space path")
        XCTAssertGreaterThanOrEqual(complete, 95, "the user-space path, whole: \(report)")
    }

    func testAFullMapOfWalkedStacksLosesNoSample() throws {
        // Two entries for walked stacks: nearly every stack goes whole through the ring buffer.
        let output = path("full.folded")
        let result = try ember(["record", "-F", "499", "--stack-map-size", "2", "-o", output, "--",
                                try sampleBinary("qsort"), "1.5"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("CFI stacks were sent whole to user space"), result.stderr)
        let folded = try Folded(path: output)
        let reported = try XCTUnwrap(result.stderr.split(separator: " ").dropFirst().first
            .flatMap { Double($0.replacingOccurrences(of: ",", with: "")) })
        XCTAssertEqual(folded.total, reported, "every sample the kernel saw is in the profile")
        XCTAssertGreaterThan(folded.share { self.userFrames($0).first == "_start" && $0.contains("qsort_r") }, 95,
                             "the stacks sent whole are the walked ones")
    }
}
