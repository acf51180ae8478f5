import EmberTestSupport
import Foundation
import XCTest

/// `ember record --off-cpu` and `--wall` on samples/blocking.c, whose main thread repeats
/// 20 ms computing, 50 ms blocked reading a pipe and 30 ms in nanosleep, and prints the
/// seconds it spent in each: ember's figures are checked against what the sample measured.
final class OffCPUTests: RecordingTestCase {
    /// What the sample says of its main thread: seconds computing, blocked on the pipe, asleep.
    private struct SelfReport {
        var compute: Double
        var pipe: Double
        var sleep: Double

        init(_ stdout: String) throws {
            let line = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("compute=") }, stdout)
            var values: [String: Double] = [:]
            for field in line.split(separator: " ") {
                let parts = field.split(separator: "=")
                values[String(parts[0])] = Double(parts[1])
            }
            compute = try XCTUnwrap(values["compute"])
            pipe = try XCTUnwrap(values["pipe"])
            sleep = try XCTUnwrap(values["sleep"])
        }
    }

    /// The main thread's stacks (recorded with --threads: the second frame is `blocking-TID`).
    private func mainThread(_ folded: Folded) -> [[String]: Double] {
        folded.stacks.filter { $0.key.count > 1 && $0.key[1].hasPrefix("blocking-") }
    }

    private func total(_ stacks: [[String]: Double], where matches: ([String]) -> Bool) -> Double {
        stacks.filter { matches($0.key) }.values.reduce(0, +)
    }

    /// The main thread's time blocked on the pipe and asleep (off-CPU stacks, in microseconds).
    private func blockedSplit(_ main: [[String]: Double]) -> (pipe: Double, sleep: Double) {
        (total(main) { $0.contains("__read") || $0.contains("wait_for_pipe") }, total(main) { $0.contains("nap") })
    }

    /// The main thread's wall-clock time split three ways, against what the sample measured.
    private func assertWallSplit(_ main: [[String]: Double], _ truth: SelfReport,
                                 file: StaticString = #filePath, line: UInt = #line) {
        let compute = total(main) { $0.contains("compute") }
        let pipe = total(main) { !$0.contains("compute") && ($0.contains("__read") || $0.contains("wait_for_pipe")) }
        let sleep = total(main) { $0.contains("nap") }
        let sum = compute + pipe + sleep, trueSum = truth.compute + truth.pipe + truth.sleep
        XCTAssertEqual(compute / sum * 100, truth.compute / trueSum * 100, accuracy: 3, "computing (20 by design)",
                       file: file, line: line)
        XCTAssertEqual(pipe / sum * 100, truth.pipe / trueSum * 100, accuracy: 3, "blocked on the pipe (50)",
                       file: file, line: line)
        XCTAssertEqual(sleep / sum * 100, truth.sleep / trueSum * 100, accuracy: 3, "asleep (30)", file: file, line: line)
    }

    func testBlockedTimeIsSplitAsTheSampleMeasuredIt() throws {
        let folded = path("offcpu.folded"), pprof = path("offcpu.pb.gz"), svg = path("offcpu.svg")
        let result = try ember(["record", "--off-cpu", "--state", "S", "--threads", "-o", folded, "-o", pprof,
                                "-o", svg, "--", try sampleBinary("blocking"), "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let truth = try SelfReport(result.stdout)
        let profile = try Folded(path: folded)
        for stack in profile.stacks.keys {
            XCTAssertEqual(stack.last, "[off-cpu]_[o]", "every off-CPU stack ends in the off-CPU frame: \(stack)")
        }
        let main = mainThread(profile)
        let (pipe, sleep) = blockedSplit(main)
        XCTAssertEqual(pipe / (pipe + sleep) * 100, truth.pipe / (truth.pipe + truth.sleep) * 100, accuracy: 3,
                       "the pipe's share of the main thread's sleeping time (62.5 by design)")
        // Counts are microseconds: the blocked time itself, not only its shares.
        XCTAssertEqual((pipe + sleep) / 1e6, truth.pipe + truth.sleep, accuracy: (truth.pipe + truth.sleep) * 0.05)
        XCTAssertTrue(result.stderr.contains("off-CPU of 1 process"), result.stderr)

        // pprof: its own sample type, the [off-cpu] frame in its own mapping, the same time.
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
        XCTAssertEqual(raw.sampleTypes, ["off_cpu/nanoseconds"])
        let pprofStacks = raw.foldedStacks(type: 0)
        let withoutThreads = profile.stacks.reduce(into: [[String]: Double]()) { result, entry in
            var frames = entry.key
            frames.remove(at: 1)
            result[frames, default: 0] += entry.value
        }
        XCTAssertEqual(Set(pprofStacks.keys), Set(withoutThreads.keys))
        XCTAssertEqual(pprofStacks.values.reduce(0, +) / 1000, profile.total, accuracy: profile.total * 1e-4)
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(text.contains("[off-cpu]") && text.contains("microseconds"), "the SVG names the frame and unit")
    }

    func testWallClockSharesAddOnAndOffCPUTime() throws {
        let folded = path("wall.folded"), pprof = path("wall.pb.gz")
        let result = try ember(["record", "--wall", "-F", "997", "--threads", "-o", folded, "-o", pprof, "--",
                                try sampleBinary("blocking"), "4"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let truth = try SelfReport(result.stdout)
        let main = mainThread(try Folded(path: folded))
        assertWallSplit(main, truth)
        XCTAssertTrue(main.keys.contains { $0.contains("compute") && $0.last != "[off-cpu]_[o]" }, "on-CPU samples")

        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
        XCTAssertEqual(raw.sampleTypes, ["samples/count", "cpu/nanoseconds", "off_cpu/nanoseconds", "wall/nanoseconds"])
        XCTAssertEqual(raw.defaultType, 3)
        for sample in raw.samples {
            XCTAssertEqual(sample.values[3], sample.values[1] + sample.values[2], "wall is on-CPU plus off-CPU time")
        }
    }

    func testDWARFStacksSplitBlockedAndWallTimeAsTheSampleMeasuredIt() throws {
        // --unwind dwarf: blocked stacks copied at switch-out, unwound in user space, and joined
        // with their blocks' lengths at switch-in: the same shares as the in-kernel counts.
        let folded = path("dwarf.folded")
        let result = try ember(["record", "--off-cpu", "--unwind", "dwarf", "--state", "S", "--threads", "-o", folded, "--",
                                try sampleBinary("blocking"), "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("stacks copied at switch-out"), result.stderr)
        let truth = try SelfReport(result.stdout)
        let main = mainThread(try Folded(path: folded))
        let (pipe, sleep) = blockedSplit(main)
        XCTAssertEqual(pipe / (pipe + sleep) * 100, truth.pipe / (truth.pipe + truth.sleep) * 100, accuracy: 3,
                       "the pipe's share of the main thread's sleeping time (62.5 by design)")
        XCTAssertEqual((pipe + sleep) / 1e6, truth.pipe + truth.sleep, accuracy: (truth.pipe + truth.sleep) * 0.05)
        XCTAssertTrue(main.keys.filter { $0.contains("nap") }.allSatisfy { $0.contains("__libc_start_call_main") },
                      "unwound to the root: \(main.keys)")

        let wall = path("dwarf-wall.folded")
        let wallResult = try ember(["record", "--wall", "--unwind", "dwarf", "-F", "997", "--threads", "-o", wall, "--",
                                    try sampleBinary("blocking"), "3"])
        XCTAssertEqual(wallResult.status, 0, wallResult.stderr)
        assertWallSplit(mainThread(try Folded(path: wall)), try SelfReport(wallResult.stdout))
    }

    func testAThreadBlockedForTheWholeRecordingHasTheRecordingsDuration() throws {
        // The idler thread blocks in wait_forever before ember starts and until after it stops.
        let (result, folded) = try recordWorkload("blocking", options: ["--off-cpu", "--threads", "-d", "2"])
        let idler = folded.stacks.filter { $0.key.count > 1 && $0.key[1].hasPrefix("idler-") }
        XCTAssertEqual(idler.values.reduce(0, +) / 1e6, 2, accuracy: 0.2, "\(idler)")
        XCTAssertTrue(idler.keys.contains { $0.contains("[blocked when recording began]") }, "\(idler.keys)")
        XCTAssertTrue(result.stderr.contains("were blocked when recording began"), result.stderr)
        XCTAssertTrue(result.stderr.contains("still blocked at the end: counted to the end"), result.stderr)
    }

    func testFullMapsSendBlocksThroughTheRingBufferWithoutLoss() throws {
        let folded = path("tiny.folded")
        let result = try ember(["record", "--off-cpu", "--state", "S", "--threads", "--counts-map-size", "2",
                                "-o", folded, "--", try sampleBinary("blocking"), "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("sent through the ring buffer"), result.stderr)
        // (A block whose switch-in the program did not see, rare and reported on its own line,
        // is no loss of the full map's.)
        XCTAssertFalse(result.stderr.split(separator: "\n").contains {
            $0.contains("lost") && !$0.contains("before its switch-in was seen")
        }, result.stderr)
        let truth = try SelfReport(result.stdout)
        let (pipe, sleep) = blockedSplit(mainThread(try Folded(path: folded)))
        XCTAssertEqual(pipe / (pipe + sleep) * 100, truth.pipe / (truth.pipe + truth.sleep) * 100, accuracy: 3)
    }

    func testFiltersDropBlocksAndSayHowMuch() throws {
        // The main thread's blocks last 30 to 50 ms (longer on a loaded machine, never a
        // second); the idler's lasts the whole run: a 1 s minimum keeps the idler alone.
        let folded = path("long.folded")
        let result = try ember(["record", "--off-cpu", "--min-block", "1s", "--threads", "-o", folded, "--",
                                try sampleBinary("blocking"), "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("--min-block 1s dropped"), result.stderr)
        let profile = try Folded(path: folded)
        XCTAssertEqual(mainThread(profile).values.reduce(0, +), 0, "\(mainThread(profile))")
        let idler = profile.stacks.filter { $0.key.count > 1 && $0.key[1].hasPrefix("idler-") }
        XCTAssertEqual(idler.values.reduce(0, +) / 1e6, 2, accuracy: 0.3, "the idler's one block: the whole run")

        // Nothing here waits uninterruptibly for long: --state D drops the sleeps, and says so.
        let disk = path("disk.folded")
        let dResult = try ember(["record", "--off-cpu", "--state", "D", "-o", disk, "--", try sampleBinary("blocking"), "2"])
        XCTAssertEqual(dResult.status, 0, dResult.stderr)
        XCTAssertTrue(dResult.stderr.contains("--state dropped"), dResult.stderr)
        XCTAssertLessThan(try Folded(path: disk).total, 100_000, "under 0.1 s of D time")
    }

    func testAWaitForAMutexCarriesTheStackOfTheThreadThatReleasedIt() throws {
        let folded = path("wakeups.folded"), pprof = path("wakeups.pb.gz")
        let result = try ember(["record", "--off-cpu", "--wakeups", "--threads", "-o", folded, "-o", pprof, "--",
                                try sampleBinary("blocking"), "mutex", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let main = mainThread(try Folded(path: folded))
        // The main thread's futex waits, as offwaketime draws them: the blocked stack, `--`,
        // then the waker's stack upside down, its thread's name last.
        let lockWaits = main.filter { $0.key.contains { $0.contains("lll_lock_wait") } }
        XCTAssertGreaterThan(lockWaits.values.reduce(0, +), 500_000, "\(main.keys)")
        let byHolder = lockWaits.filter { entry in
            guard let separator = entry.key.firstIndex(of: "--_[w]") else { return false }
            let waker = entry.key[(separator + 1)...]
            return waker.last == "holder_[w]" && waker.allSatisfy { $0.hasSuffix("_[w]") }
                && waker.contains { $0.contains("lll_lock_wake") || $0.contains("unlock") }
        }
        XCTAssertGreaterThan(byHolder.values.reduce(0, +) / lockWaits.values.reduce(0, +), 0.9,
                             "the lock's waits are woken by the holder releasing it: \(lockWaits.keys)")
        // pprof keeps the waker frames in the [waker] mapping.
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
        XCTAssertTrue(raw.foldedStacks(type: 0).keys.contains { $0.contains("holder_[w]") && $0.contains("--_[w]") })
    }

    func testNoBPFProgramRemainsAfterAnOffCPURecording() throws {
        let workload = try Workload(sample: "blocking", arguments: ["30"])
        defer { workload.stop() }
        // Other ember processes on a shared machine load programs named as the CPU sampler's
        // (RecordTests checks those alone); the off-CPU programs' names are this recorder's.
        func offCPUPrograms() throws -> [String] {
            try emberPrograms().filter { $0.contains(" name on_switch ") } + bpftoolPrograms(named: ["on_exit", "on_waking"])
        }
        for unwind in ["auto", "dwarf"] {
            let result = try ember(["record", "--wall", "--wakeups", "--unwind", unwind, "--pid", "\(workload.pid)", "-d", "1",
                                    "-o", path("w-\(unwind).folded")])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(try programsLeftAfterTheirRelease(offCPUPrograms), [], unwind)
        }
        // Killed outright, ember leaves nothing either: the kernel closes its descriptors.
        let recorder = Process()
        recorder.executableURL = URL(fileURLWithPath: emberBinary)
        recorder.arguments = ["record", "--off-cpu", "--wakeups", "--unwind", "dwarf", "--pid", "\(workload.pid)",
                              "-o", path("k.folded")]
        recorder.standardError = FileHandle.nullDevice
        try recorder.run()
        let deadline = Date().addingTimeInterval(15)
        while try offCPUPrograms().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(try offCPUPrograms().isEmpty, "the off-CPU programs are loaded while it records")
        kill(recorder.processIdentifier, SIGKILL)
        recorder.waitUntilExit()
        XCTAssertEqual(try programsLeftAfterTheirRelease(offCPUPrograms), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("k.folded")))
    }
}

/// Malformed off-CPU options: one line, a non-zero exit, nothing recorded (no root needed).
final class OffCPUOptionTests: XCTestCase {
    func testBadOptionsAreOneLineErrors() throws {
        let cases: [([String], String)] = [
            (["--off-cpu", "--min-block", "5"], "--min-block must be a duration"),
            (["--off-cpu", "--min-block=-1us"], "--min-block must be a duration"),
            (["--off-cpu", "--min-block", "1e99s"], "--min-block must be a duration"),
            (["--off-cpu", "--state", "X"], "--state must list"),
            (["--off-cpu", "--state", "S,"], "--state must list"),
            (["--off-cpu", "--wall"], "exclude each other"),
            (["--min-block", "1ms"], "--min-block goes with --off-cpu or --wall"),
            (["--state", "D"], "--state goes with --off-cpu or --wall"),
            (["--wakeups"], "--wakeups goes with --off-cpu or --wall"),
        ]
        for (options, message) in cases {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString).folded").path
            let result = try ember(["record"] + options + ["-o", out, "--", "/bin/true"])
            XCTAssertNotEqual(result.status, 0, "\(options)")
            let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.contains("See 'ember") }
            XCTAssertEqual(lines.count, 1, "\(options): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(options): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }
}
