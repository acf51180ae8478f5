import CEmberShim
import EmberELF
import EmberSampling
import EmberTestSupport
import EmberUnwinding
import Foundation
import XCTest

/// The unwinding acceptance tests: complete stacks with and without frame pointers, on the
/// samples built -O2 with frameless leaves (split-fp-o2), -O2 without frame pointers
/// (split-nofp), with threads, system calls, a shared library (PLT), signal handlers and
/// JIT code.
/// They record real processes with real BPF programs and need root.
final class UnwindingTests: RecordingTestCase {

    /// User frames only (kernel frames dropped), root first, the process frame removed.
    private func userFrames(_ stack: [String]) -> [String] {
        Array(stack.dropFirst().filter { !$0.hasSuffix("_[k]") })
    }

    /// Records `split` built as `binary` for 4 s at 1999 Hz and checks the acceptance
    /// figures: at least 99% complete chains, each path within 1.5 points of the share the
    /// workload measured itself.
    private func assertCompleteSplit(binary: String, unwind: String, rootsAtStart: Bool,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let output = path("\(binary)-\(unwind).folded")
        let result = try ember(["record", "-F", "1999", "--unwind", unwind, "-o", output, "--",
                                try sampleBinary(binary), "4", "--report"])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        var truth: [String: Double] = [:]
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let share = Double(fields[1]) { truth[String(fields[0])] = share }
        }
        XCTAssertEqual(truth.count, 3, "the workload reports its own split: \(result.stdout)", file: file, line: line)

        let folded = try Folded(path: output)
        XCTAssertGreaterThan(folded.total, 1000, "about 4 s at 1999 Hz (fewer on a busy machine)", file: file, line: line)
        func isComplete(_ stack: [String]) -> Bool {
            let frames = self.userFrames(stack)
            guard let main = frames.firstIndex(of: "main") else { return false }
            if rootsAtStart && frames.first != "_start" { return false }
            if frames.contains(where: { $0.hasPrefix("[") && !$0.hasPrefix("[vdso]") }) { return false }
            let below = Array(frames[(main + 1)...])
            if let spin = below.firstIndex(of: "spin") {
                return spin == 1 && below[0].hasPrefix("path_")
            }
            return true
        }
        let complete = folded.share(where: isComplete)
        let incomplete = folded.stacks.filter { !isComplete($0.key) }.sorted { $0.value > $1.value }
            .prefix(5).map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
        XCTAssertGreaterThanOrEqual(complete, 99, "complete chains with --unwind \(unwind); most frequent "
            + "incomplete stacks:\n\(incomplete)\n\(result.stderr)", file: file, line: line)

        let paths = ["path_a", "path_b", "path_c"]
        let inPaths = folded.share { stack in paths.contains { stack.contains($0) } }
        for name in paths {
            let share = folded.share { $0.contains(name) } / inPaths * 100
            XCTAssertEqual(share, truth[name] ?? -100, accuracy: 1.5,
                           "\(name) with --unwind \(unwind) on \(binary)", file: file, line: line)
        }
        XCTAssertTrue(result.stderr.contains("unwound with"), result.stderr, file: file, line: line)
    }

    func testFramePointerStacksGetTheFramelessLeafsCallerBack() throws {
        try assertCompleteSplit(binary: "split-fp-o2", unwind: "fp", rootsAtStart: false)
    }

    func testWithoutTheLeafFixFramePointerStacksMissTheCaller() throws {
        // The control experiment: the same recording without the fix loses path_x.
        let output = path("noleaf.folded")
        let result = try ember(["record", "-F", "499", "--unwind", "fp", "--no-leaf-fix", "-o", output, "--",
                                try sampleBinary("split-fp-o2"), "1.5"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        let skipped = folded.share { stack in
            let frames = self.userFrames(stack)
            guard let spin = frames.firstIndex(of: "spin"), spin > 0 else { return false }
            return frames[spin - 1] == "main"
        }
        XCTAssertGreaterThan(skipped, 80, "spin's caller is skipped without the fix")
    }

    func testDWARFStacksAreCompleteWithoutFramePointers() throws {
        try assertCompleteSplit(binary: "split-nofp", unwind: "dwarf", rootsAtStart: true)
    }

    func testDWARFStacksUseTheFrameTableOfASeparateDebugFile() throws {
        // Built without .eh_frame and stripped: its functions' CFI is only in the
        // .debug_frame of the file its .gnu_debuglink names.
        try assertCompleteSplit(binary: "split-debug-frame", unwind: "dwarf", rootsAtStart: true)
    }

    func testTheUnwinderLooksForDebugFilesWhereTheSymbolizerDoes() throws {
        // The same binary, its debug file moved out of its directory: only --debug-dir finds
        // the frame table, for unwinding as for names.
        let program = path("bin/split-debug-frame")
        let debugDirectory = path("debug")
        try FileManager.default.createDirectory(atPath: path("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: debugDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try sampleBinary("split-debug-frame"), toPath: program)
        try FileManager.default.copyItem(atPath: try sampleBinary("split-debug-frame.debug"),
                                         toPath: debugDirectory + "/split-debug-frame.debug")
        func mainReachedShare(_ options: [String]) throws -> Double {
            let output = path("moved-\(options.count).folded")
            let result = try ember(["record", "-F", "499", "--unwind", "dwarf"] + options + ["-o", output, "--", program, "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
            return try Folded(path: output).share { stack in
                let frames = self.userFrames(stack)
                return frames.first == "_start" && frames.contains("main")
            }
        }
        XCTAssertGreaterThan(try mainReachedShare(["--debug-dir", debugDirectory]), 95)
        XCTAssertLessThan(try mainReachedShare([]), 5, "without the debug file there is no CFI to unwind with")
    }

    func testAutoWalksABinaryWithoutFramePointersInTheKernel() throws {
        try assertCompleteSplit(binary: "split-nofp", unwind: "auto", rootsAtStart: true)
    }

    func testAutoWalksAFramePointerBuildInTheKernelWithItsFramelessLeaves() throws {
        // CFI knows where spin's return address is before it sets up a frame: no leaf fix.
        try assertCompleteSplit(binary: "split-fp-o2", unwind: "auto", rootsAtStart: true)
    }

    func testAutoUsesTheKernelsCFIWalkAndWithoutTablesPicksByBinary() throws {
        let output = path("auto-fp.folded")
        let result = try ember(["record", "-F", "499", "-o", output, "--", try sampleBinary("split-fp-o2"), "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("unwound with CFI in the kernel for split-fp-o2"), result.stderr)
        // Chosen for at its launch and again at its exec, it is one process in the list.
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("unwound with CFI in the kernel for") })
        XCTAssertEqual(line.components(separatedBy: "split-fp-o2 (").count, 2, String(line))
        // Without tables: frame pointers where the binary keeps them, DWARF where it does not.
        let fp = try ember(["record", "-F", "499", "--unwind-table-rows", "0", "-o", output, "--",
                            try sampleBinary("split-fp-o2"), "1"])
        XCTAssertTrue(fp.stderr.contains("unwound with frame pointers for split-fp-o2"), fp.stderr)
        let nofp = try ember(["record", "-F", "499", "--unwind-table-rows", "0", "-o", output, "--",
                              try sampleBinary("split-nofp"), "1"])
        XCTAssertTrue(nofp.stderr.contains("unwound with DWARF CFI for split-nofp"), nofp.stderr)
    }

    func testThreadsUnwindToTheirStart() throws {
        // User space unwinds the copies (dwarf), the kernel walks the tables (auto).
        for unwind in ["dwarf", "auto"] {
            let (_, folded) = try recordWorkload("threads-nofp", arguments: ["30", "3"],
                                                      options: ["-d", "1", "-F", "997", "--unwind", unwind])
            // clone3 → start_thread → worker → worker_spin. Both are local symbols of libc, named
            // only with its debug file; the chain must reach them either way.
            let complete = folded.share { stack in
                let frames = self.userFrames(stack)
                guard frames.firstIndex(of: "worker") == 2 else { return false }
                return frames[0..<2].allSatisfy {
                    $0.hasPrefix("libc.so.6+") || $0.contains("clone") || $0 == "start_thread"
                }
            }
            XCTAssertGreaterThan(complete, 97, "worker stacks reach clone3 / start_thread")
        }
    }

    func testSyscallHeavyStacksHaveKernelFramesUnderTheCompleteUserStack() throws {
        // User space unwinds the copies (dwarf), the kernel walks the tables (auto).
        for unwind in ["dwarf", "auto"] {
            let (_, folded) = try recordWorkload("syscalls-nofp",
                                                      options: ["-d", "1", "-F", "997", "--unwind", unwind])
            // main → read_loop → libc's read → the kernel's entry point → ... → read_zero.
            let throughKernel = folded.share { stack in
                guard let loop = stack.firstIndex(of: "read_loop"), stack.dropFirst().first == "_start",
                      let entry = stack.firstIndex(where: { $0.hasPrefix("entry_SYSCALL_64") })
                else { return false }
                let between = stack[(loop + 1)..<entry]
                return between.count == 1 && !between.first!.hasSuffix("_[k]")
                    && stack[entry...].allSatisfy { $0.hasSuffix("_[k]") }
            }
            XCTAssertGreaterThan(throughKernel, 60, "most time is in read(2) below read_loop")
        }
    }

    func testCallsThroughASharedLibraryUnwind() throws {
        // User space unwinds the copies (dwarf), the kernel walks the tables (auto).
        for unwind in ["dwarf", "auto"] {
            let (_, folded) = try recordWorkload("plt-nofp",
                                                      options: ["-d", "1", "-F", "997", "--unwind", unwind])
            let complete = folded.share { stack in
                let frames = self.userFrames(stack)
                return frames.first == "_start"
                    && frames.joined(separator: ";").contains("main;call_library;library_work;library_spin")
            }
            XCTAssertGreaterThan(complete, 90)
        }
    }

    func testStacksThroughASignalHandlerReachMain() throws {
        // User space unwinds the copies (dwarf), the kernel walks the tables (auto).
        for unwind in ["dwarf", "auto"] {
            let (_, folded) = try recordWorkload("signals-nofp",
                                                      options: ["-d", "1", "-F", "997", "--unwind", unwind])
            // handler_spin ← on_signal ← the signal trampoline ← work_loop (or what it calls:
            // now, clock_gettime) ← main ← ... ← _start. The handler outlasts the timer's
            // period, so the next signal comes as it returns: most runs interrupt one pc
            // throughout, the loop's or, now and then, its call of now()'s.
            let throughSignalFrame = folded.share { stack in
                let frames = self.userFrames(stack)
                guard frames.first == "_start", let loop = frames.firstIndex(of: "work_loop"),
                      let handler = frames.firstIndex(of: "on_signal") else { return false }
                return handler >= loop + 2 && frames.last == "handler_spin"
            }
            // The handler's share is the timer's doing, not the unwinder's: 17-26% in runs on
            // this machine; every stack in the handler is checked below.
            XCTAssertGreaterThan(throughSignalFrame, 10, "much time is in the handler")
            let handlerStacks = folded.stacks.filter { $0.key.contains("on_signal") }
            let handlerTotal = handlerStacks.values.reduce(0, +)
            let handlerComplete = handlerStacks.filter { self.userFrames($0.key).first == "_start" }.values.reduce(0, +)
            XCTAssertGreaterThanOrEqual(handlerComplete / handlerTotal, 0.98, "stacks in the handler reach _start")
        }
    }

    /// A signal's trampoline and the frame it interrupted have exact pcs, not return
    /// addresses: named by the byte before them, half the samples of `signals entry` would
    /// read `before_spin_at_entry` (never called: the function just before the loop's first
    /// byte) and the trampoline `libc.so.6+0x…` (the byte before `__restore_rt`).
    func testTheFrameASignalInterruptedIsNamedByItsExactPC() throws {
        for unwind in ["auto", "dwarf"] {
            let (result, folded) = try recordWorkload("signals-nofp", arguments: ["30", "entry"],
                                                      options: ["-d", "1", "-F", "997", "--unwind", unwind])
            let inHandler = folded.stacks.filter { $0.key.last == "handler_spin" }
            let total = inHandler.values.reduce(0, +)
            // Enough to judge the shares below by: the handler's part of the time is the
            // timer's doing (94 of 997 samples in one CI run, about a tenth).
            XCTAssertGreaterThan(total, 50, result.stderr)
            let listing = inHandler.map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
            XCTAssertFalse(listing.contains("before_spin_at_entry"), "\(unwind)\n\(listing)")
            // entry_loop;spin_at_entry;<trampoline>;on_signal;handler_spin
            let interruptedInLoop = inHandler.filter { stack, _ in
                let frames = self.userFrames(stack)
                guard let handler = frames.firstIndex(of: "on_signal"), handler >= 3 else { return false }
                return frames[handler - 2] == "spin_at_entry" && frames[handler - 3] == "entry_loop"
                    && !frames[handler - 1].contains("+0x")
            }.values.reduce(0, +)
            XCTAssertGreaterThanOrEqual(interruptedInLoop / total, 0.9, "\(unwind)\n\(listing)")
        }
    }

    /// A handler on an alternate signal stack mapped above the thread's own stack (as Go and
    /// Rust runtimes set theirs up): past the signal frame the walk goes down the address
    /// space. The kernel's walk reads the interrupted stack where it is; a DWARF copy of the
    /// handler's stack does not hold it, and says so rather than calling it a loop.
    func testStacksThroughAHandlerOnAnAlternateSignalStack() throws {
        func handlerStacks(_ folded: Folded) -> [[String]: Double] {
            folded.stacks.filter { $0.key.last == "handler_spin" }
        }
        let (auto, kernelWalked) = try recordWorkload("signals-nofp", arguments: ["30", "altstack"],
                                                      options: ["-d", "1", "-F", "997", "--unwind", "auto"])
        let inHandler = handlerStacks(kernelWalked)
        let handlerTotal = inHandler.values.reduce(0, +)
        XCTAssertGreaterThan(handlerTotal, 50, auto.stderr)
        let complete = inHandler.filter { stack, _ in
            let frames = self.userFrames(stack)
            // (The signal may interrupt work_loop's callees: clock_gettime, the vDSO.)
            guard frames.first == "__GI___clone3", let loop = frames.firstIndex(of: "work_loop"),
                  let handler = frames.firstIndex(of: "on_signal") else { return false }
            return frames[..<loop].contains("worker") && handler >= loop + 2
        }.values.reduce(0, +)
        // Samples before the tables were loaded are copies unwound in user space (below).
        let copies = auto.stderr.split(separator: "\n").first { $0.contains("unwound in user space instead") }
            .flatMap { Double($0.split(separator: " ")[1].replacingOccurrences(of: ",", with: "")) } ?? 0
        let listing = inHandler.map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
        XCTAssertGreaterThanOrEqual((complete + copies) / handlerTotal, 0.99,
                                    "the kernel's walk crosses to the thread's stack\n\(auto.stderr)\n\(listing)")
        XCTAssertGreaterThanOrEqual(complete / handlerTotal, 0.9, "most are walked in the kernel\n\(auto.stderr)")

        let (dwarf, copied) = try recordWorkload("signals-nofp", arguments: ["30", "altstack"],
                                                 options: ["-d", "1", "-F", "997", "--unwind", "dwarf"])
        XCTAssertFalse(dwarf.stderr.contains("went round in place"), dwarf.stderr)
        XCTAssertTrue(dwarf.stderr.contains("signal handler on an alternate stack (sigaltstack)"), dwarf.stderr)
        let copiedHandler = handlerStacks(copied)
        // [unknown];interrupted code;signal trampoline;on_signal;handler_spin
        let throughSignalFrame = copiedHandler.filter { stack, _ in
            let frames = self.userFrames(stack)
            guard let handler = frames.firstIndex(of: "on_signal") else { return false }
            return handler >= 3 && !frames[handler - 2].hasPrefix("[")
        }.values.reduce(0, +)
        XCTAssertGreaterThanOrEqual(throughSignalFrame / copiedHandler.values.reduce(0, +), 0.98,
                                    "the interrupted pc comes from the signal frame, which is in the copy\n"
                                        + copiedHandler.map { "\($0.value) \($0.key.joined(separator: ";"))" }
                                        .joined(separator: "\n"))
    }

    /// Generated code with no CFI, named by a perf map, in a program without frame pointers:
    /// both the kernel's walk and the user-space unwinder take the frame pointer's rule in
    /// the anonymous mapping, and go on by CFI below it.
    func testStacksThroughJITCodeWithoutCFIReachStart() throws {
        for unwind in ["auto", "dwarf"] {
            let output = path("jit-\(unwind).folded")
            let result = try ember(["record", "-F", "499", "--unwind", unwind, "-o", output, "--",
                                    try sampleBinary("jit"), "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let folded = try Folded(path: output)
            let inJIT = folded.stacks.filter { $0.key.contains("jit_loop_[j]") }
            let total = inJIT.values.reduce(0, +)
            XCTAssertGreaterThan(total / folded.total, 0.9, "the time is in the JIT code and what it calls\n\(result.stderr)")
            let complete = inJIT.filter { stack, _ in
                let frames = self.userFrames(stack)
                guard frames.first == "_start", let jit = frames.firstIndex(of: "jit_loop_[j]") else { return false }
                return frames[jit - 2] == "main" && frames[jit - 1] == "run_jit"
                    && (jit == frames.count - 1 || Array(frames[(jit + 1)...]) == ["hot"])
            }.values.reduce(0, +)
            let listing = inJIT.sorted { $0.value > $1.value }.prefix(5)
                .map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
            XCTAssertGreaterThanOrEqual(complete / total, 0.98, "--unwind \(unwind)\n\(result.stderr)\n\(listing)")
            XCTAssertTrue(folded.stacks.keys.contains { $0.last == "jit_loop_[j]" }, "samples in the JIT code itself")
        }
    }

    /// node with `--perf-basic-prof`: its JIT code in anonymous memory, named by its perf map,
    /// and V8's embedded builtins (`Builtins_JSEntry`, the interpreter's trampolines) in
    /// node's own .text, which has no CFI for them. Both keep frame pointers: DWARF
    /// unwinding in user space (libdwfl's frame-pointer fallback in the file, ember's rule in
    /// anonymous code) and the kernel's walk (which hands the builtins' frames to user
    /// space) reach `__libc_start_main` through them.
    func testNodeJITStacksReachTheRoot() throws {
        guard let node = ["/usr/bin/node", "/usr/local/bin/node"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("node is not installed") }
        // node writes /tmp/perf-PID.map and leaves it: the test takes its own away.
        let perfMaps = { Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [])
            .filter { $0.hasPrefix("perf-") && $0.hasSuffix(".map") } }
        let mapsBefore = perfMaps()
        addTeardownBlock {
            for name in perfMaps().subtracting(mapsBefore) { try? FileManager.default.removeItem(atPath: "/tmp/" + name) }
        }
        let script = packageRoot.appendingPathComponent("samples/node/hot.js").path
        for mode in ["dwarf", "auto"] {
            let output = path("node-\(mode).folded")
            // --perf-basic-prof also logs V8's code events, by default to isolate-*.log in
            // the working directory: into the scratch directory instead.
            let result = try ember(["record", "--unwind", mode, "-F", "439", "-o", output, "--", node, "--perf-basic-prof",
                                    "--no-logfile-per-isolate", "--logfile=\(path("v8-\(mode).log"))", script, "--seconds", "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let folded = try Folded(path: output)
            let throughJIT = folded.stacks.filter { $0.key.contains { $0.hasPrefix("JS:") && $0.contains("hot.js") && $0.hasSuffix("_[j]") } }
            let samples = throughJIT.values.reduce(0, +)
            XCTAssertGreaterThan(samples, 0.7 * folded.total, "\(mode): stacks through hot.js's JIT code\n\(result.stderr)")
            XCTAssertGreaterThan(throughJIT.filter { $0.key.contains("Builtins_JSEntry") }.values.reduce(0, +), 0.9 * samples,
                                 "\(mode): through V8's builtins in node's .text")
            let rooted = throughJIT.filter { $0.key.contains("__libc_start_main") || $0.key.contains("[truncated]") }
                .values.reduce(0, +)
            let listing = throughJIT.filter { !$0.key.contains("__libc_start_main") }.sorted { $0.value > $1.value }.prefix(3)
                .map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
            XCTAssertGreaterThanOrEqual(rooted / max(samples, 1), 0.99,
                                        "\(mode): \(Int(rooted)) of \(Int(samples)) reach the root\n\(listing)")
        }
    }

    /// HotSpot (openjdk 17) with `-XX:+PreserveFramePointer`, named by the perf map
    /// `jcmd PID Compiler.perfmap` writes: its interpreter, stubs and compiled code are in
    /// anonymous memory without CFI and keep frame pointers, and both walkers reach the Java
    /// thread's start (`start_thread;ThreadJavaMain;JavaMain`) through them.
    func testJavaJITStacksReachTheRoot() throws {
        guard let java = ["/usr/bin/java", "/usr/local/bin/java"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              let jcmd = ["/usr/bin/jcmd", "/usr/local/bin/jcmd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("java and jcmd (a JDK) are not installed") }
        let classes = packageRoot.appendingPathComponent("samples/build/java").path
        guard FileManager.default.fileExists(atPath: classes + "/Hot.class") else {
            throw XCTSkip("samples/build/java/Hot.class is not built (make -C samples, with javac)")
        }
        // Ready once its hot method has run for a second (compiled by then).
        let workload = try Workload(executable: java, arguments: ["-XX:+PreserveFramePointer", "-cp", classes, "Hot",
                                                                  "--seconds", "30"])
        defer { workload.stop() }
        let perfMap = "/tmp/perf-\(workload.pid).map"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: perfMap) }
        let written = try runProgram(jcmd, ["\(workload.pid)", "Compiler.perfmap"])
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: perfMap), "jcmd wrote no perf map")
        for mode in ["dwarf", "auto"] {
            let output = path("java-\(mode).folded")
            let result = try ember(["record", "--pid", "\(workload.pid)", "--unwind", mode, "-d", "2", "-F", "439", "-o", output])
            XCTAssertEqual(result.status, 0, result.stderr)
            let folded = try Folded(path: output)
            let throughJIT = folded.stacks.filter { $0.key.contains { $0.contains("Hot.hot") && $0.hasSuffix("_[j]") } }
            let samples = throughJIT.values.reduce(0, +)
            XCTAssertGreaterThan(samples, 0.7 * folded.total, "\(mode): stacks through Hot.hot's compiled code\n\(result.stderr)")
            let rooted = throughJIT.filter { stack, _ in
                guard let start = stack.firstIndex(of: "start_thread"), start + 2 < stack.count else { return false }
                return stack[start + 2] == "JavaMain" || stack.contains("[truncated]")
            }.values.reduce(0, +)
            let listing = throughJIT.sorted { $0.value > $1.value }.prefix(3)
                .map { "\($0.value) \($0.key.joined(separator: ";"))" }.joined(separator: "\n")
            XCTAssertGreaterThanOrEqual(rooted / max(samples, 1), 0.99,
                                        "\(mode): \(Int(rooted)) of \(Int(samples)) reach the root\n\(listing)")
        }
    }

    func testAnExitingProcessHasNoLostUserStack() throws {
        // The kernel frees a gigabyte as the process exits: those samples are its exit
        // work, with no user stack to copy, and not lost stacks.
        let output = path("exiting.folded")
        let result = try ember(["record", "-F", "997", "--unwind", "dwarf", "-o", output, "--",
                                try sampleBinary("forker"), "release", "1024"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        let exiting = folded.stacks.filter { $0.key.contains("do_exit_[k]") }
        XCTAssertGreaterThan(exiting.values.reduce(0, +), 5, "samples of the exit: \(folded.stacks.keys.prefix(5))")
        for (stack, _) in exiting {
            XCTAssertFalse(stack.contains { $0.hasPrefix("[lost") }, stack.joined(separator: ";"))
        }
    }

    func testStacksInTheDynamicLoaderAreWhole() throws {
        // Each exec'd program spends its first milliseconds relocating in ld.so, called from
        // the loader's entry point, whose CFI does not mark it as the outermost frame.
        let output = path("loader.folded")
        let result = try ember(["record", "-F", "997", "--unwind", "dwarf", "-o", output, "--",
                                try sampleBinary("forker"), "exec", "60", "0.002", try sampleBinary("spinner")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        let loader = folded.stacks.filter { $0.key.contains("_dl_start") }
        let total = loader.values.reduce(0, +)
        XCTAssertGreaterThan(total, 20, "samples in the loader: \(folded.stacks.sorted { $0.value > $1.value }.prefix(3))")
        let whole = loader.filter { $0.key.count > 1 && $0.key[1] != "[unknown]" }.values.reduce(0, +)
        XCTAssertGreaterThanOrEqual(whole / max(total, 1), 0.95, "\(loader.sorted { $0.value > $1.value }.prefix(3))")
    }

    func testStacksDeeperThanTheCopyEndInATruncatedFrame() throws {
        let output = path("truncated.folded")
        let result = try ember(["record", "-F", "499", "--unwind", "dwarf", "--stack-size", "64", "-o", output,
                                "--", try sampleBinary("threads-nofp"), "1", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        XCTAssertGreaterThan(folded.share { $0.count > 1 && $0[1] == "[truncated]" }, 50)
        XCTAssertTrue(result.stderr.contains("deeper than the copy"), result.stderr)
    }

    func testLBRStacksWhereTheCPUHasThemAndAClearRefusalWhereNot() throws {
        guard ember_probe_lbr_call_stack() != 0 else {
            // A CPU with LBR call stacks: the same acceptance figures as the other methods.
            try assertCompleteSplit(binary: "split-nofp", unwind: "lbr", rootsAtStart: true)
            return
        }
        // The sampler loads its program (the verifier accepts the LBR path), then finds
        // no event to attach it to.
        var configuration = SamplerConfiguration(scope: .processes([getpid()]))
        configuration.unwinding = .branchRecords
        XCTAssertThrowsError(try Sampler(configuration: configuration)) { error in
            XCTAssertTrue("\(error)".contains("Last Branch Record"), "\(error)")
        }
        let result = try ember(["record", "--all", "-d", "1", "--unwind", "lbr", "-o", path("lbr.folded")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--unwind lbr:"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one clear line: \(result.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("lbr.folded")))
    }
}

final class BranchRecordStacksTests: XCTestCase {
    func testCallStackRecordsBecomeReturnAddressesInnermostFirst() {
        let records = [
            BranchRecordStacks.Record(from: 0x401100, to: 0x401500),  // most recent call
            BranchRecordStacks.Record(from: 0x401020, to: 0x401100),
            BranchRecordStacks.Record(from: 0, to: 0),  // unused
            BranchRecordStacks.Record(from: 0x400f00, to: 0x401000),
        ]
        XCTAssertEqual(BranchRecordStacks.callStack(instructionPointer: 0x401512, records: records),
                       [0x401512, 0x401101, 0x401021])
        XCTAssertEqual(BranchRecordStacks.callStack(instructionPointer: 0x10, records: []), [0x10])
    }

    /// `struct perf_branch_entry` as the kernel writes it: from, to, a word of flags.
    private func branchEntryBytes(_ records: [(from: UInt64, to: UInt64)]) -> [UInt8] {
        records.flatMap { record in
            [record.from, record.to, 0x5].flatMap { word in withUnsafeBytes(of: word.littleEndian, Array.init) }
        }
    }

    private func branchSample(_ bytes: UnsafeRawBufferPointer) -> StackSample {
        StackSample(kind: .branchRecords, pid: 1, tid: 1, comm: "split", instructionPointer: 0x401512,
                    stackPointer: 0x7ffd0000, framePointer: 0, stackWords: [0, 0], stackIsTruncated: false,
                    bytes: bytes, kernelAddresses: [0xffffffff81000010])
    }

    func testBranchRecordsAreReadFromTheKernelLayout() {
        let bytes = branchEntryBytes([(0x401100, 0x401500), (0x401020, 0x401100)])
        bytes.withUnsafeBytes { raw in
            XCTAssertEqual(BranchRecordStacks.records(in: raw), [
                BranchRecordStacks.Record(from: 0x401100, to: 0x401500),
                BranchRecordStacks.Record(from: 0x401020, to: 0x401100),
            ])
            // A partial record at the end is not read.
            XCTAssertEqual(BranchRecordStacks.records(in: UnsafeRawBufferPointer(rebasing: raw[0..<40])).count, 1)
        }
    }

    func testBranchSamplesBecomeStacksAndAFullRecordIsTruncated() {
        let stacks = RingBufferStacks(unwinders: UnwinderCache(), branchRecordDepth: 2)
        let partial = branchEntryBytes([(0x401100, 0x401500)])
        let full = branchEntryBytes([(0x401100, 0x401500), (0x401020, 0x401100)])
        partial.withUnsafeBytes { stacks.add(branchSample($0)) }
        full.withUnsafeBytes { stacks.add(branchSample($0)) }
        full.withUnsafeBytes { stacks.add(branchSample($0)) }
        [UInt8]().withUnsafeBytes { stacks.add(branchSample($0)) }
        var leafFix = FramePointerStacks.Statistics()
        let result = stacks.callStacks(leafFix: nil, statistics: &leafFix)
        XCTAssertEqual(stacks.statistics.branchSamples, 4)
        XCTAssertEqual(stacks.statistics.branchTruncated, 2)
        let byUser = Dictionary(uniqueKeysWithValues: result.map { ($0.user, $0) })
        XCTAssertEqual(byUser[.frames([0x401512, 0x401101])]?.userEnd, .complete)
        XCTAssertEqual(byUser[.frames([0x401512, 0x401101, 0x401021])]?.userEnd, .truncated)
        XCTAssertEqual(byUser[.frames([0x401512, 0x401101, 0x401021])]?.count, 2)
        XCTAssertEqual(byUser[.lost(.copyFailed)]?.count, 1)
        XCTAssertEqual(byUser[.frames([0x401512, 0x401101])]?.kernel, .frames([0xffffffff81000010]))
    }

    func testBranchRecordDepthComesFromThePMUCaps() throws {
        let caps = FileManager.default.temporaryDirectory.appendingPathComponent("ember-caps-\(getpid())")
        try "32\n".write(to: caps, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: caps) }
        XCTAssertEqual(lastBranchRecordDepth(capsFile: caps.path), 32)
        XCTAssertNil(lastBranchRecordDepth(capsFile: "/nonexistent/caps/branches"))
    }

    func testUnavailabilityReasonsAreClear() {
        XCTAssertNil(BranchRecordStacks.unavailabilityReason(probeResult: 0))
        XCTAssertTrue(BranchRecordStacks.unavailabilityReason(probeResult: -2)!.contains("no Last Branch Record"))
        XCTAssertTrue(BranchRecordStacks.unavailabilityReason(probeResult: -13)!.contains("not permitted"))
    }
}

final class FramePointerDetectorTests: XCTestCase {
    func testTellsFramePointerBuildsFromOthers() throws {
        XCTAssertEqual(FramePointerDetector.usesFramePointers(path: try sampleBinary("split-fp-o2")), true)
        XCTAssertEqual(FramePointerDetector.usesFramePointers(path: try sampleBinary("split")), true)
        XCTAssertEqual(FramePointerDetector.usesFramePointers(path: try sampleBinary("split-nofp")), false)
        XCTAssertNil(FramePointerDetector.usesFramePointers(path: "/nonexistent"))
    }

    func testPrologueMatching() {
        XCTAssertTrue(FramePointerDetector.setsUpFramePointer([0x55, 0x48, 0x89, 0xe5, 0, 0, 0, 0]))
        XCTAssertTrue(FramePointerDetector.setsUpFramePointer([0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5]))
        // push %rbp; mov $imm,%edi; mov %rsp,%rbp (gcc -O2 schedules between them)
        XCTAssertTrue(FramePointerDetector.setsUpFramePointer([0x55, 0xbf, 0x80, 0x4f, 0x12, 0x00, 0x48, 0x89, 0xe5]))
        // push %rbp; push %rbx (rbp as an ordinary callee-saved register)
        XCTAssertFalse(FramePointerDetector.setsUpFramePointer([0x55, 0x53, 0x48, 0x83, 0xec, 0x08, 0, 0]))
        XCTAssertFalse(FramePointerDetector.setsUpFramePointer([0x48, 0x89, 0xe5, 0x55]))
    }
}

/// Unwinding never goes round in place: a crafted stack copy whose saved frame pointer points
/// at its own frame, so that each caller found is the same frame again.
final class UnwindingLoopTests: XCTestCase {
    func testAStackThatGoesRoundInPlaceEndsInUnknownAndIsCounted() throws {
        let binary = try sampleBinary("split")
        let workload = try Workload(sample: "split", arguments: ["30"])
        defer { workload.stop() }
        // An address in main after its prologue: there the CFA is rbp + 16, the caller's rbp
        // is saved at CFA - 16 and the return address at CFA - 8.
        let nm = try runProgram("/usr/bin/nm", [binary])
        let mainLine = try XCTUnwrap(nm.stdout.split(separator: "\n").first { $0.hasSuffix(" T main") })
        let mainAddress = try XCTUnwrap(UInt64(mainLine.split(separator: " ")[0], radix: 16))
        let maps = try String(contentsOfFile: "/proc/\(workload.pid)/maps", encoding: .utf8)
        let baseLine = try XCTUnwrap(maps.split(separator: "\n").first {
            $0.hasSuffix("/split") && $0.split(separator: " ")[2] == "00000000"
        })
        let base = try XCTUnwrap(UInt64(baseLine.split(separator: "-")[0], radix: 16))
        let pc = base + mainAddress + 0x14

        let unwinder = try ProcessUnwinder(pid: workload.pid, debugFiles: DebugFileLocator())
        let stackPointer: UInt64 = 0x7ffc_0000_1000
        // At the stack pointer: a saved rbp that is the frame itself, and a return address
        // back into main.
        let words: [UInt64] = [stackPointer, pc, 0, 0]
        let unwound = words.withUnsafeBytes { bytes in
            unwinder.unwind(StackSample(
                kind: .stackCopy, pid: workload.pid, tid: workload.pid, comm: "split", instructionPointer: pc,
                stackPointer: stackPointer, framePointer: stackPointer, stackWords: [], stackIsTruncated: false,
                bytes: bytes, kernelAddresses: []))
        }
        XCTAssertTrue(unwound.wentRound, "\(unwound)")
        XCTAssertEqual(unwound.end, .unknown)
        XCTAssertEqual(unwound.frames, [pc, pc], "the repeated frame is cut, not followed to the depth limit")

        // Counted where the ring buffer's samples are.
        let stacks = RingBufferStacks(unwinders: UnwinderCache())
        words.withUnsafeBytes { bytes in
            stacks.add(StackSample(
                kind: .stackCopy, pid: workload.pid, tid: workload.pid, comm: "split", instructionPointer: pc,
                stackPointer: stackPointer, framePointer: stackPointer, stackWords: [], stackIsTruncated: false,
                bytes: bytes, kernelAddresses: []))
        }
        XCTAssertEqual(stacks.statistics.wentRound, 1)
        XCTAssertEqual(stacks.statistics.unknownEnd, 1)
    }

    func testAFramePointerStackThatRepeatsToTheDepthLimitIsCutAfterItsFirstRepeat() {
        let selfPointing: [UInt64] = [10, 20, 30] + Array(repeating: 99, count: 124)
        let (cut, wentRound) = FramePointerStacks.cuttingRepeats(selfPointing)
        XCTAssertTrue(wentRound)
        XCTAssertEqual(cut, [10, 20, 30, 99])
        // Two frames pointing at each other.
        let pingPong: [UInt64] = [10] + (0..<63).flatMap { _ in [40, 50] as [UInt64] }
        XCTAssertEqual(FramePointerStacks.cuttingRepeats(pingPong).frames, [10, 40, 50])
        // Recursion that ends before the limit, and a deep stack that does not repeat, stay whole.
        let recursion: [UInt64] = [10] + Array(repeating: 99, count: 60) + [1, 2]
        XCTAssertEqual(FramePointerStacks.cuttingRepeats(recursion).frames, recursion)
        let deep = (0..<127).map { UInt64($0 + 1) }
        XCTAssertFalse(FramePointerStacks.cuttingRepeats(deep).wentRound)
    }
}
