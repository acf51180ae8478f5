import EmberTestSupport
import Foundation
import XCTest

/// Off-CPU stacks through code without frame pointers: samples/qsort.c `--block`, a
/// frame-pointer program whose comparator, called back by libc's qsort (no frame pointers),
/// sleeps in nanosleep at each comparison. With `--unwind auto` the blocked thread's stack is
/// walked by CFI in the kernel at switch-out and keeps main; a frame-pointer walk loses it.
/// The same for a waker's stack (`--wakeups`), taken at sched_waking.
final class OffCPUCFITests: RecordingTestCase {
    /// The user frames of a stack, root first (process, kernel and marker frames dropped).
    private func userFrames(_ stack: [String]) -> [String] {
        Array(stack.dropFirst().filter { !$0.hasSuffix("_[k]") && !$0.hasSuffix("_[o]") })
    }

    /// Whether the stack holds the whole chain from libc's start to the comparator's sleep:
    /// `__libc_start_call_main;main;block_round;qsort…;…;wait_cmp;…nanosleep`, each of the
    /// first four directly calling the next.
    private func isWhole(_ stack: [String]) -> Bool {
        let frames = userFrames(stack)
        guard let start = frames.firstIndex(of: "__libc_start_call_main"), start + 3 < frames.count,
              frames[start + 1] == "main", frames[start + 2] == "block_round", frames[start + 3].hasPrefix("qsort"),
              let comparator = frames.firstIndex(of: "wait_cmp"), comparator > start + 3
        else { return false }
        return frames[(comparator + 1)...].contains { $0.contains("nanosleep") }
    }

    /// The seconds the sample says its comparator slept.
    private func blockedSeconds(_ stdout: String) throws -> Double {
        let line = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("blocked=") }, stdout)
        return try XCTUnwrap(Double(line.dropFirst("blocked=".count)))
    }

    private func record(_ options: [String], seconds: String, name: String) throws -> (CommandResult, Folded) {
        let output = path("\(name).folded")
        let result = try ember(["record"] + options + ["-o", output, "--", try sampleBinary("qsort"), "--block", seconds])
        XCTAssertEqual(result.status, 0, result.stderr)
        return (result, try Folded(path: output))
    }

    func testABlockedComparatorUnderQsortKeepsMainWithAuto() throws {
        let (result, folded) = try record(["--off-cpu"], seconds: "3", name: "auto")
        let whole = folded.share(where: isWhole)
        XCTAssertGreaterThanOrEqual(whole, 95, "main under qsort in the blocked time: \(folded.stacks.keys)\n\(result.stderr)")
        XCTAssertTrue(result.stderr.contains("stacks walked in the kernel by CFI"), result.stderr)
        // The time itself (microseconds), as the sample measured its sleeps.
        let slept = try blockedSeconds(result.stdout)
        let comparator = folded.stacks.filter { userFrames($0.key).contains("wait_cmp") }.values.reduce(0, +) / 1e6
        XCTAssertEqual(comparator, slept, accuracy: slept * 0.05, "the comparator's blocked seconds")

        // The control experiment: frame pointers stop in libc, main is gone.
        let (fpResult, framePointers) = try record(["--off-cpu", "--unwind", "fp"], seconds: "1.5", name: "fp")
        XCTAssertLessThan(framePointers.share(where: isWhole), 5, "\(framePointers.stacks.keys)")
        XCTAssertLessThan(framePointers.share { userFrames($0).contains("main") }, 5, "\(framePointers.stacks.keys)")
        XCTAssertGreaterThan(framePointers.share { $0.contains { $0.hasPrefix("msort_with_tmp") } }, 90,
                             "the blocked time is there, under qsort's internals: \(framePointers.stacks.keys)")
        XCTAssertTrue(fpResult.stderr.contains("stacks by frame pointers"), fpResult.stderr)
    }

    func testABlockedComparatorUnderQsortKeepsMainWithDWARFCopies() throws {
        // --unwind dwarf: each blocked stack is copied through the ring buffer at switch-out and
        // unwound in user space, its block's length joined to it at switch-in. (The frame-pointer
        // control, where main is gone, is the test above.)
        let (result, folded) = try record(["--off-cpu", "--unwind", "dwarf"], seconds: "3", name: "dwarf")
        XCTAssertGreaterThanOrEqual(folded.share(where: isWhole), 95, "\(folded.stacks.keys)\n\(result.stderr)")
        XCTAssertTrue(result.stderr.contains("stacks copied at switch-out and unwound with DWARF CFI"), result.stderr)
        let slept = try blockedSeconds(result.stdout)
        let comparator = folded.stacks.filter { userFrames($0.key).contains("wait_cmp") }.values.reduce(0, +) / 1e6
        XCTAssertEqual(comparator, slept, accuracy: slept * 0.05, "the comparator's blocked seconds")
        // Every stack met its block's end, but for blocks whose switch-in the program did not
        // see (rare, counted on their own line).
        func reported(_ phrase: String) -> Double {
            let line = result.stderr.split(separator: "\n").first { $0.contains(phrase) }
            return line.flatMap { $0.split(separator: " ").dropFirst().first }
                .flatMap { Double($0.replacingOccurrences(of: ",", with: "")) } ?? 0
        }
        XCTAssertLessThanOrEqual(reported("came without their block's end"),
                                 reported("switched out again before its switch-in was seen"), result.stderr)
        XCTAssertEqual(reported("came without their stack"), 0, result.stderr)
    }

    func testAFullMapOfWalkedStacksSendsBlockedStacksThroughTheRingBuffer() throws {
        // One entry for walked stacks: every other distinct blocked stack goes whole through the
        // ring buffer (as a CPU sample's does), not down to frame pointers, which lose main.
        let (result, folded) = try record(["--off-cpu", "--walked-stacks-map-size", "1"], seconds: "2", name: "tiny")
        XCTAssertGreaterThanOrEqual(folded.share(where: isWhole), 95, "\(folded.stacks.keys)\n\(result.stderr)")
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("went whole through the ring buffer") },
                                 result.stderr)
        let sent = try XCTUnwrap(line.split(separator: " ").dropFirst().first.flatMap { Double($0.replacingOccurrences(of: ",", with: "")) })
        XCTAssertGreaterThan(sent, 500, "most blocks' stacks: \(line)")
        XCTAssertFalse(result.stderr.contains("by frame pointers instead of CFI: the map of walked stacks"), result.stderr)
    }

    func testWallClockOnTheBlockedComparatorKeepsMainOnAndOffCPU() throws {
        let (result, folded) = try record(["--wall", "-F", "997"], seconds: "3", name: "wall")
        let offCPU = folded.filtered { $0.last == "[off-cpu]_[o]" }
        XCTAssertGreaterThan(offCPU.total / folded.total, 0.9, "the sample waits nearly all the time: \(result.stderr)")
        XCTAssertGreaterThanOrEqual(offCPU.share(where: isWhole), 95, "\(offCPU.stacks.keys)\n\(result.stderr)")
        // Its on-CPU samples (between sleeps) are walked by CFI too: main is under qsort there.
        let onCPU = folded.filtered { $0.last != "[off-cpu]_[o]" && self.userFrames($0).contains("wait_cmp") }
        XCTAssertTrue(onCPU.stacks.keys.contains { userFrames($0).starts(with: ["_start", "__libc_start_main",
                                                                                "__libc_start_call_main", "main"]) },
                      "\(onCPU.stacks.keys)")
    }

    func testTheWakersStackIsWalkedByCFIToo() throws {
        // samples/blocking mutex: the holder releases the lock in hold_and_release, through
        // libc's pthread_mutex_unlock (no frame pointers): the waker's stack, taken at
        // sched_waking in the holder's context, keeps hold_and_release only if walked by CFI.
        func releasedInHoldAndRelease(_ options: [String]) throws -> Double {
            let output = path("wakeups\(options.joined()).folded")
            let result = try ember(["record", "--off-cpu", "--wakeups"] + options + ["-o", output, "--",
                                    try sampleBinary("blocking"), "mutex", "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let woken = try Folded(path: output).filtered { stack in
                stack.contains { $0.contains("lll_lock_wait") } && stack.contains("--_[w]") && stack.last == "holder_[w]"
            }
            XCTAssertGreaterThan(woken.total, 500_000, "the lock's waits, woken by the holder: \(woken.stacks.keys)")
            return woken.share { stack in
                guard let separator = stack.firstIndex(of: "--_[w]") else { return false }
                let waker = Array(stack[(separator + 1)...])
                // Innermost first: the wake, the unlock, hold_and_release, the thread's entry.
                guard let wake = waker.firstIndex(where: { $0.contains("lll_lock_wake") }),
                      let caller = waker.firstIndex(of: "hold_and_release_[w]"),
                      let entry = waker.firstIndex(of: "start_thread_[w]")
                else { return false }
                return wake < caller && caller < entry && waker.allSatisfy { $0.hasSuffix("_[w]") }
            }
        }
        XCTAssertGreaterThan(try releasedInHoldAndRelease([]), 90, "auto: the waker's whole stack")
        XCTAssertLessThan(try releasedInHoldAndRelease(["--unwind", "fp"]), 10,
                          "frame pointers lose hold_and_release under libc's unlock")
    }
}

extension Folded {
    /// The stacks that match, as a folded file of their own.
    func filtered(_ matches: ([String]) -> Bool) -> Folded {
        var subset = self
        subset.stacks = stacks.filter { matches($0.key) }
        return subset
    }
}
