import EmberTestSupport
import Foundation
import XCTest

/// Off-CPU blocks that find no room anywhere are counted and reported, never dropped
/// silently: a counts map of 2 entries sends nearly every block of a ping-pong (two blocks
/// per round trip, each with its waker) through a ring buffer of one page, which cannot
/// take them between two polls.
final class OffCPULossTests: RecordingTestCase {
    /// A number as the report prints it ("1,234.567").
    private func number(_ text: Substring) -> Double? { Double(text.replacingOccurrences(of: ",", with: "")) }

    func testAFullRingBufferWithWakeupsCountsAndReportsWhatItLost() throws {
        let output = path("lossy.folded")
        let seconds = 2.0
        let result = try ember(["record", "--off-cpu", "--wakeups", "--counts-map-size", "2", "--ring-buffer-size", "4096",
                                "-o", output, "--", try sampleBinary("blocking"), "pingpong", "\(seconds)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("blocks sent through the ring buffer: the counts map was full"), result.stderr)
        // "N blocks (T ms) lost: the ring buffer was full"
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("lost: the ring buffer was full") },
                                 result.stderr)
        let words = line.split(separator: " ")
        let lostBlocks = try XCTUnwrap(words.firstIndex(of: "blocks").flatMap { number(words[$0 - 1]) }, String(line))
        let lostSeconds = try XCTUnwrap(words.firstIndex(of: "ms)").flatMap { number(words[$0 - 1].dropFirst()) }, String(line)) / 1e3
        XCTAssertGreaterThan(lostBlocks, 1000, "a page cannot hold a ping-pong's blocks: \(line)")

        // What was kept and what was lost add up to the two threads' time off the CPU: their
        // lives (the recording) less the CPU time they used.
        let kept = try Folded(path: output).total / 1e6
        let cpuLine = try XCTUnwrap(result.stdout.split(separator: " ").first { $0.hasPrefix("cpu=") }, result.stdout)
        let cpu = try XCTUnwrap(Double(cpuLine.dropFirst("cpu=".count).trimmingCharacters(in: .whitespacesAndNewlines)))
        let offCPU = 2 * seconds - cpu
        XCTAssertGreaterThan(kept, 0, "some blocks were kept")
        XCTAssertEqual(kept + lostSeconds, offCPU, accuracy: offCPU * 0.15,
                       "kept \(kept) s + lost \(lostSeconds) s against \(offCPU) s off the CPU\n\(result.stderr)")
    }
}
