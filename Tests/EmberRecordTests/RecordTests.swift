import EmberTestSupport
import Foundation
import XCTest

/// End-to-end tests of `ember record`: real BPF programs, real perf events, real processes
/// built from samples/. They need root (or CAP_BPF + CAP_PERFMON) and skip without it.
final class RecordTests: RecordingTestCase {

    func testKnownSplitIsMeasuredWithinAFewPoints() throws {
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        let result = try ember(["record", "--pid", "\(workload.pid)", "-d", "3", "-F", "997",
                                "-o", path("split.folded"), "-o", path("split.svg")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: path("split.folded"))
        XCTAssertGreaterThan(folded.total, 300, "3 s at 997 Hz on a CPU-bound process (fewer on a busy machine)")
        let a = folded.share { $0.contains("path_a") && $0.contains("spin") }
        let b = folded.share { $0.contains("path_b") && $0.contains("spin") }
        let c = folded.share { $0.contains("path_c") && $0.contains("spin") }
        XCTAssertEqual(a, 60, accuracy: 4, "path_a share")
        XCTAssertEqual(b, 30, accuracy: 4, "path_b share")
        XCTAssertEqual(c, 10, accuracy: 3, "path_c share")
        // Root first: the process name, then main above its callers.
        for stack in folded.stacks.keys where stack.contains("path_a") {
            XCTAssertEqual(stack.first, "split")
            let main = try XCTUnwrap(stack.firstIndex(of: "main"))
            XCTAssertEqual(stack[main + 1], "path_a")
        }
        let svg = try String(contentsOfFile: path("split.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg"))
        XCTAssertTrue(svg.contains("path_a"))
        XCTAssertTrue(result.stderr.contains("samples of 1 process"), result.stderr)
    }

    /// periodic repeats its 60/30/10 round every 1,001,001 ns of wall-clock time, the period
    /// of 999 Hz. At exactly that period every sample lands at one phase of the round
    /// (--fixed-period, as perf samples: one function gets nearly all of them); the varied
    /// period samples every phase.
    func testWorkRepeatingAtTheSamplingPeriodGetsItsTrueShares() throws {
        let periodic = try sampleBinary("periodic")
        func shares(_ options: [String]) throws -> [Double] {
            let output = path("periodic-\(UUID().uuidString.prefix(8)).folded")
            let result = try ember(["record", "-F", "999", "-o", output] + options + ["--", periodic, "1001001", "3"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let folded = try Folded(path: output)
            XCTAssertGreaterThan(folded.total, 500, "3 s at 999 Hz of a CPU-bound process (fewer on a busy machine)")
            return ["hot", "warm", "cool"].map { name in folded.share { $0.contains(name) } }
        }
        let varied = try shares([])
        XCTAssertEqual(varied[0], 60, accuracy: 5, "hot, \(varied)")
        XCTAssertEqual(varied[1], 30, accuracy: 5, "warm, \(varied)")
        XCTAssertEqual(varied[2], 10, accuracy: 4, "cool, \(varied)")
        let fixed = try shares(["--fixed-period"])
        let deviation = zip(fixed, [60.0, 30, 10]).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(deviation, 20, "at a fixed period the samples lock onto one phase: \(fixed)")
    }

    func testFullMapsLoseNoSample() throws {
        // Two buckets in the stack map and two entries in the counts map: nearly every sample
        // overflows, and goes whole through the ring buffer instead of being dropped.
        let output = path("overflow.folded")
        let result = try ember(["record", "-F", "499", "--unwind", "fp", "--stack-map-size", "2",
                                "--counts-map-size", "2", "-o", output, "--", try sampleBinary("split"), "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("sent whole to user space"), result.stderr)
        XCTAssertFalse(result.stderr.contains("samples lost") || result.stderr.contains("lost their"), result.stderr)
        let folded = try Folded(path: output)
        let reported = try XCTUnwrap(result.stderr.split(separator: " ").dropFirst().first
            .flatMap { Double($0.replacingOccurrences(of: ",", with: "")) })
        XCTAssertEqual(folded.total, reported, "every sample the kernel saw is in the profile")
        XCTAssertEqual(folded.share { $0.contains("path_a") }, 60, accuracy: 6)
    }

    func testEveryThreadIsSampledIncludingThoseStartedBeforeAttaching() throws {
        let (_, folded) = try recordWorkload("threads", arguments: ["30", "4"],
                                             options: ["-d", "2", "-F", "199", "--threads"])
        let threadFrames = Set(folded.stacks.keys.compactMap { stack -> String? in
            guard stack.contains("worker_spin") else { return nil }
            return stack[1]
        })
        let workers = Set(threadFrames.compactMap { $0.split(separator: "-").prefix(2).joined(separator: "-") })
        XCTAssertEqual(workers, ["worker-0", "worker-1", "worker-2", "worker-3"], "\(threadFrames)")
        XCTAssertEqual(threadFrames.count, 4, "one thread frame per worker thread: \(threadFrames)")
    }

    func testATargetThatExitsEarlyStillYieldsASymbolizedProfile() throws {
        let workload = try Workload(sample: "split", arguments: ["5"])
        defer { workload.stop() }
        let start = Date()
        let result = try ember(["record", "--pid", "\(workload.pid)", "-d", "20",
                                "-o", path("early.folded"), "-o", path("early.svg")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 15, "ember stops when the target exits")
        XCTAssertTrue(result.stderr.contains("exited"), result.stderr)
        let folded = try Folded(path: path("early.folded"))
        XCTAssertGreaterThan(folded.total, 50)
        XCTAssertGreaterThan(folded.share { $0.contains("path_a") }, 40, "symbolized after exit")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("early.svg")))
    }

    func testCommandModeProfilesTheLaunchedCommandAndItsChildren() throws {
        let split = try sampleBinary("split")
        // The shell forks the workload: children are followed.
        let result = try ember(["record", "-F", "499", "-o", path("command.folded"), "--",
                                "/bin/sh", "-c", "\(split) 1.5 >/dev/null; \(split) 0.5 >/dev/null"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("command exited"), result.stderr)
        let folded = try Folded(path: path("command.folded"))
        XCTAssertGreaterThan(folded.share { $0.first == "split" && $0.contains("path_a") }, 40)
        XCTAssertGreaterThan(folded.total, 400, "about 2 s at 499 Hz")
    }

    func testAShortCommandIsSymbolizedThroughItsLibraries() throws {
        // Lives one second, less than the periodic refresh: its libraries are read anyway.
        let output = path("short.folded")
        let result = try ember(["record", "-F", "499", "-o", output, "--", try sampleBinary("split-nofp"), "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        let named = folded.share { stack in
            stack.contains("main") && stack.contains("__libc_start_main") && !stack.contains("[unknown]")
        }
        XCTAssertGreaterThan(named, 95, "libc's frames under main are named: \(folded.stacks.keys.prefix(3))")
    }

    func testShortLivedChildrenAreSymbolized() throws {
        // Forty children of 40 ms each, forked one after another: each lives less than a
        // poll, so its map is read on the fork event (the parent's, until exec).
        let forked = path("forked.folded")
        var result = try ember(["record", "-F", "997", "-o", forked, "--",
                                try sampleBinary("forker"), "fork", "40", "40"])
        XCTAssertEqual(result.status, 0, result.stderr)
        var folded = try Folded(path: forked)
        let inChildren = folded.share { $0.contains("child_work") }
        XCTAssertGreaterThan(inChildren, 90, "children's samples named: \(folded.stacks.sorted { $0.value > $1.value }.prefix(3))")

        // Children that exec a 30 ms program: read on the exec event, again as the loader
        // maps libraries.
        let executed = path("executed.folded")
        result = try ember(["record", "-F", "997", "-o", executed, "--",
                            try sampleBinary("forker"), "exec", "40", "0.03", try sampleBinary("split")])
        XCTAssertEqual(result.status, 0, result.stderr)
        folded = try Folded(path: executed)
        let inSplit = folded.share { $0.first == "split" && $0.contains("spin") && $0.contains("main") }
        XCTAssertGreaterThan(inSplit, 80, "exec'd programs' samples named: \(folded.stacks.sorted { $0.value > $1.value }.prefix(3))")
    }

    func testProcessesThatEndJoinTheProfileAsTheyEnd() throws {
        // 2,000 children of 5 ms one after another: once a thousand have been gone a second,
        // their samples are symbolized and their maps let go, so that a long recording keeps
        // only what the live ones need. (That point comes about 7 s in, at the refresh after
        // the 1,024th child has been gone a second; the run lasts about 11 s, so a slow
        // machine still reaches it.)
        for unwind in ["fp", "dwarf"] {
            let folded = path("\(unwind).folded")
            let pprof = path("\(unwind).pb.gz")
            let result = try ember(["record", "-F", "997", "--unwind", unwind, "-o", folded, "-o", pprof, "--",
                                    try sampleBinary("forker"), "fork", "2000", "5"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let early = try XCTUnwrap(count(in: result.stderr, after: "symbolized ", before: " processes as they ended"),
                                      "\(unwind): \(result.stderr)")
            XCTAssertGreaterThanOrEqual(early, 1024, result.stderr)
            XCTAssertFalse(result.stderr.contains("did not reach the profile"), result.stderr)
            let stacks = try Folded(path: folded)
            let seen = try XCTUnwrap(count(in: result.stderr, after: "ember: ", before: " samples of"), result.stderr)
            XCTAssertEqual(stacks.total, Double(seen), "every sample is in the profile")
            // Symbolizing them does not stop ember reading new children's maps in time (a
            // child that exits before its first samples are read loses them, as before).
            let lateLine = result.stderr.split(separator: "\n").first { $0.contains("process exited before") } ?? ""
            let late = count(in: String(lateLine), after: "ember: ", before: " of ") ?? 0
            XCTAssertLessThan(Double(late), Double(seen) * 0.02, result.stderr)
            let named = stacks.share { $0.first == "forker" && $0.contains("child_work") && $0.contains("main") }
            XCTAssertGreaterThan(named, 80, "\(unwind): \(stacks.stacks.sorted { $0.value > $1.value }.prefix(3))")
            // pprof says the same, with each child's pid.
            let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
            XCTAssertEqual(raw.foldedStacks(type: 0), stacks.stacks, unwind)
            let pids = Set(raw.samples.filter { $0.labels["comm"] == "forker" }.compactMap { $0.labels["pid"] })
            XCTAssertGreaterThan(pids.count, 1600, "\(unwind): the children's samples keep their pids")
        }
    }

    /// The number (with thousands separators) between `prefix` and `suffix` on a line of `text`.
    private func count(in text: String, after prefix: String, before suffix: String) -> Int? {
        for line in text.split(separator: "\n") {
            guard let end = line.range(of: suffix), let start = line[..<end.lowerBound].range(of: prefix, options: .backwards)
            else { continue }
            return Int(line[start.upperBound..<end.lowerBound].filter { $0 != "," })
        }
        return nil
    }

    func testSystemWideShortLivedProcessesAreSymbolized() throws {
        // Starts a second after ember: sixty 30 ms programs, each read on its exec event.
        let programs = Process()
        programs.executableURL = URL(fileURLWithPath: "/bin/sh")
        programs.arguments = ["-c", "sleep 1; exec \(try sampleBinary("forker")) exec 60 0.03 \(try sampleBinary("split"))"]
        programs.standardOutput = FileHandle.nullDevice
        try programs.run()
        defer { programs.terminate(); programs.waitUntilExit() }
        let output = path("system.folded")
        let result = try ember(["record", "--all", "-d", "4", "-F", "997", "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        let inSplit = folded.stacks.filter { $0.key.first == "split" }
        let total = inSplit.values.reduce(0, +)
        XCTAssertGreaterThan(total, 300, "the programs were sampled: \(result.stderr)")
        let named = inSplit.filter { $0.key.contains("spin") && $0.key.contains("main") }.values.reduce(0, +)
        XCTAssertGreaterThan(named / max(total, 1) * 100, 90, "\(inSplit.sorted { $0.value > $1.value }.prefix(3))")
        // Read at exec, before the loader maps libc: the kernel's walk asks at its first pc in
        // libc for the maps to be read again, at once, not at the next poll, after the
        // process ended (its samples meanwhile reach the user-space unwinder while it lives).
        let lost = inSplit.filter { $0.key.contains { $0.hasPrefix("[lost user stack") } }.values.reduce(0, +)
        XCTAssertLessThan(lost / max(total, 1) * 100, 2, result.stderr)
        // Processes that ended before their name was read are counted, not called `?`.
        XCTAssertFalse(result.stderr.contains("? ("), result.stderr)
        XCTAssertFalse(folded.stacks.keys.contains { $0.first == "?" || $0.first == "" }, "unnamed process frames")
    }

    func testPIDModeFollowsChildrenRunningBeforeAttaching() throws {
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: try sampleBinary("forker"))
        parent.arguments = ["hold", "3"]
        let out = Pipe()
        parent.standardOutput = out
        try parent.run()
        defer { parent.terminate(); parent.waitUntilExit() }
        let child = out.fileHandleForReading.availableDataUntilNewline()
        XCTAssertNotNil(Int32(child), "forker printed its child's pid: \(child)")
        let output = path("held.folded")
        let result = try ember(["record", "--pid", String(parent.processIdentifier), "-d", "1", "-F", "499", "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        XCTAssertGreaterThan(folded.share { $0.contains("child_work") }, 90, "the running child is sampled")
    }

    func testCommandThatCannotRunIsAClearError() throws {
        let result = try ember(["record", "-o", path("x.folded"), "--", "/nonexistent/program"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("cannot run '/nonexistent/program'"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.folded")))
    }

    func testKernelFramesSitAboveTheUserStackOfASyscallHeavyProcess() throws {
        let (_, folded) = try recordWorkload("syscalls", options: ["-d", "1", "-F", "997"])
        // libc's read() sets up no frame, so a frame-pointer walk skips read_loop (the
        // frameless-leaf problem of the unwinding issue); main is always there.
        let inKernel = folded.share { stack in
            guard let main = stack.firstIndex(of: "main") else { return false }
            return stack[(main + 1)...].contains("vfs_read_[k]") && stack.last!.hasSuffix("_[k]")
        }
        XCTAssertGreaterThan(inKernel, 50, "most time is in read(2), under main")
        // Kernel frames never come before user frames.
        for stack in folded.stacks.keys {
            if let firstKernel = stack.firstIndex(where: { $0.hasSuffix("_[k]") }) {
                XCTAssertTrue(stack[firstKernel...].allSatisfy { $0.hasSuffix("_[k]") }, "\(stack)")
            }
        }
        let (_, userOnly) = try recordWorkload("syscalls", options: ["-d", "1", "--no-kernel"])
        XCTAssertFalse(userOnly.stacks.keys.contains { $0.contains { $0.hasSuffix("_[k]") } })
    }

    func testSwiftSampleIsSymbolized() throws {
        let (_, folded) = try recordWorkload("spinner", options: ["-d", "1", "-F", "997"])
        // Swift symbols are mangled for now (demangling is the symbolizer issue's).
        let heavy = folded.share { $0.contains { $0.contains("heavyPath") } }
        let light = folded.share { $0.contains { $0.contains("lightPath") } }
        XCTAssertGreaterThan(heavy, light, "2:1 split")
        XCTAssertGreaterThan(heavy + light, 80)
    }

    func testWithoutPrivilegesTheErrorSaysWhatIsNeeded() throws {
        // As nobody: neither BPF nor perf events for all tasks are allowed.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: scratch.path)
        let result = try runProgram("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            emberBinary, "record", "--all", "-d", "1", "-o", path("nobody.svg"),
        ])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("not permitted"), result.stderr)
        XCTAssertTrue(result.stderr.contains("CAP_BPF and CAP_PERFMON"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("nobody.svg")))
    }

    func testOnATerminalAStatusLineShowsProgress() throws {
        // script(1) gives ember a terminal; its status line is redrawn with a carriage return.
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        let command = "\(emberBinary) record --pid \(workload.pid) -d 2.5 -o \(path("tty.folded"))"
        let result = try runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
        XCTAssertEqual(result.status, 0, result.stdout)
        XCTAssertTrue(result.stdout.contains("ember: recording"), result.stdout)
        XCTAssertTrue(result.stdout.contains("/ 2.5 s"), result.stdout)
        // Not on a terminal (the other tests), there is no status line.
        let quiet = try ember(["record", "--pid", "\(workload.pid)", "-d", "1.5", "-o", path("quiet.folded")])
        XCTAssertFalse(quiet.stderr.contains("ember: recording"), quiet.stderr)
    }

    func testBadPIDIsAClearError() throws {
        let result = try ember(["record", "--pid", "999999", "-d", "1", "-o", path("x.svg")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no such process: 999999"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.svg")))
    }

    func testUnwritableOutputIsAClearErrorBeforeRecording() throws {
        let result = try ember(["record", "--all", "-d", "1", "-o", "/nonexistent-dir/out.svg"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("cannot write '/nonexistent-dir/out.svg'"), result.stderr)
        let unknown = try ember(["record", "--all", "-d", "1", "-o", path("out.png")])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("cannot tell the format"), unknown.stderr)
    }

    func testSystemWideRecordingSeesOtherProcesses() throws {
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        let result = try ember(["record", "--all", "-d", "1.5", "-F", "199", "-o", path("all.folded")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: path("all.folded"))
        XCTAssertGreaterThan(folded.share { $0.first == "split" }, 5, "the machine may be busy")
    }

    func testSystemWideRecordingLeavesEmberOutUnlessAsked() throws {
        // DWARF unwinding of a busy process at a high rate keeps ember itself on a CPU.
        let workload = try Workload(sample: "split-nofp", arguments: ["30"])
        defer { workload.stop() }
        func emberShare(_ options: [String]) throws -> Double {
            let output = path("self-\(options.count).folded")
            let result = try ember(["record", "--all", "-d", "2", "-F", "1999", "--unwind", "dwarf"] + options
                                   + ["-o", output])
            XCTAssertEqual(result.status, 0, result.stderr)
            return try Folded(path: output).share { $0.first == "ember" }
        }
        XCTAssertEqual(try emberShare([]), 0, "ember is the profiler, not the system")
        XCTAssertGreaterThan(try emberShare(["--include-ember"]), 0)
    }

    func testInterruptWritesWhatWasGathered() throws {
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        let process = try startRecording(pid: workload.pid, output: path("int.folded"))
        Thread.sleep(forTimeInterval: 2)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertGreaterThan(try Folded(path: path("int.folded")).total, 20)
        try XCTAssertNoLeftoverEmberPrograms()
    }

    func testNoBPFProgramOrLinkRemainsAfterExit() throws {
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        let result = try ember(["record", "--pid", "\(workload.pid)", "-d", "1", "-o", path("a.folded")])
        XCTAssertEqual(result.status, 0, result.stderr)
        try XCTAssertNoLeftoverEmberPrograms()

        // Even when ember is killed outright, the kernel releases its fds and everything with them.
        let process = try startRecording(pid: workload.pid, output: path("killed.folded"))
        XCTAssertFalse(try emberPrograms().isEmpty, "ember's programs are loaded while it records")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try XCTAssertNoLeftoverEmberPrograms()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("killed.folded")))
    }

    /// Starts `ember record --pid` without a duration and waits until its BPF programs are
    /// loaded (at most 15 s).
    private func startRecording(pid: Int32, output: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: emberBinary)
        process.arguments = ["record", "--pid", "\(pid)", "-o", output]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while try emberPrograms().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        return process
    }
}
