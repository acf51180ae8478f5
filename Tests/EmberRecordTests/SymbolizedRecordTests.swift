import EmberTestSupport
import Foundation
import XCTest

/// End to end: `ember record` and `ember symbolize` on the samples of samples/symbolize,
/// asserting the exact names and order of frames. Recording needs root.
final class SymbolizedRecordTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("ember-sym-record-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    private func requireRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("recording needs root (BPF and perf events for all tasks)") }
    }

    /// Records a samples/symbolize program for `seconds` and reads the folded result back.
    private func record(_ sample: String, target: String = "all", options: [String] = [],
                        seconds: Double = 1.5) throws -> Folded {
        try requireRoot()
        let workload = try SymbolizeWorkload(sample: sample, target: target, arguments: ["30"])
        defer { workload.stop() }
        let output = path("\(sample).folded")
        let result = try ember(["record", "--pid", "\(workload.pid)", "-d", "\(seconds)", "-F", "199",
                                "--no-kernel", "-o", output] + options)
        XCTAssertEqual(result.status, 0, result.stderr)
        let folded = try Folded(path: output)
        XCTAssertGreaterThan(folded.total, 50, "a CPU-bound process sampled at 199 Hz")
        return folded
    }

    /// The frames from `first` to the leaf of the stack with the most samples among those
    /// containing `first`, and that stack's share of all samples.
    private func heaviest(_ folded: Folded, from first: String) throws -> (frames: [String], share: Double) {
        let candidates = folded.stacks.filter { $0.key.contains(first) }
        let top = try XCTUnwrap(candidates.max { $0.value < $1.value }, "no stack contains \(first): \(folded.stacks.keys)")
        let start = top.key.firstIndex(of: first)!
        return (Array(top.key[start...]), top.value / folded.total * 100)
    }

    private func sourceLine(_ file: String, _ marker: String) throws -> Int {
        let text = try String(contentsOfFile: packageRoot.appendingPathComponent("samples/symbolize/\(file)").path,
                              encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return try XCTUnwrap(lines.firstIndex { $0.contains(marker) }, "no \(marker) in \(file)") + 1
    }

    func testInlinedFramesComeAfterTheirFunctionMarkedI() throws {
        let folded = try record("inline")
        let (frames, share) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "hot_loop", "step_one_[i]", "step_two_[i]", "step_three_[i]"])
        XCTAssertGreaterThan(share, 70)
    }

    func testLinesOptionAddsFileAndLineToEveryFrame() throws {
        let folded = try record("inline", options: ["--lines"])
        let main = try sourceLine("inline.c", "while (now() < end) hot_loop(1000);")
        let hotLoop = try sourceLine("inline.c", "x = step_one(x);")
        let stepOne = try sourceLine("inline.c", "return step_two(x + 7) * 3")
        let stepTwo = try sourceLine("inline.c", "return step_three(x ^ 0x5555)")
        let stepThree = try sourceLine("inline.c", "x = x * 6364136223846793005UL")
        let (frames, _) = try heaviest(folded, from: "main (inline.c:\(main))")
        XCTAssertEqual(frames, ["main (inline.c:\(main))", "hot_loop (inline.c:\(hotLoop))",
                                "step_one (inline.c:\(stepOne))_[i]", "step_two (inline.c:\(stepTwo))_[i]",
                                "step_three (inline.c:\(stepThree))_[i]"])
    }

    func testStrippedBinaryIsNamedFromItsDebugLinkInsideTheProcessRoot() throws {
        let folded = try record("linked")
        let (frames, _) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "hot_loop", "step_one_[i]", "step_two_[i]", "step_three_[i]"])
    }

    func testBuildIDDebugFileFromDebugDirOption() throws {
        let folded = try record("buildid", options: ["--debug-dir", symbolizeDebugRoot])
        let (frames, _) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "hot_loop", "step_one_[i]", "step_two_[i]", "step_three_[i]"])
    }

    func testCxxNamesAreDemangled() throws {
        let folded = try record("shapes")
        let (frames, share) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "app::work(long)", "geometry::Accumulator<double>::run(double, long)"])
        XCTAssertGreaterThan(share, 70)
    }

    func testNoDemangleKeepsMangledNames() throws {
        let folded = try record("shapes", options: ["--no-demangle"])
        let (frames, _) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "_ZN3app4workEl", "_ZN8geometry11AccumulatorIdE3runEdl"])
    }

    func testRustLegacyAndV0NamesAreDemangled() throws {
        try requireRustc()
        for (sample, churn) in [("spin-rs-legacy", "spin::engine::Mixer<T>::churn"),
                                ("spin-rs-v0", "<spin::engine::Mixer<u32>>::churn")] {
            let folded = try record(sample, target: "rust")
            let (frames, _) = try heaviest(folded, from: "spin::main")
            // Below churn, what rustc inlined from core (black_box, wrapping_mul...) varies.
            XCTAssertEqual(Array(frames.prefix(3)), ["spin::main", "spin::hot_path", churn], sample)
            XCTAssertTrue(frames.dropFirst(3).allSatisfy { $0.hasSuffix("_[i]") }, "\(sample): \(frames)")
        }
    }

    func testSwiftNamesAreDemangled() throws {
        let folded = try record("spin-swift", target: "swift")
        let churn = "spin.Engine.churn(rounds: Swift.Int) -> Swift.UInt64"
        let stacks = folded.stacks.filter { $0.key.contains(churn) }
        XCTAssertGreaterThan(stacks.values.reduce(0, +) / folded.total * 100, 70)
        for stack in stacks.keys {
            // The optimizer may fold hotPath into main; churn stays its own function.
            let index = stack.firstIndex(of: churn)!
            XCTAssertTrue(["main", "spin.hotPath(Swift.Int) -> Swift.UInt64"].contains(stack[index - 1]), "\(stack)")
            XCTAssertTrue(stack[(index + 1)...].allSatisfy { $0.hasSuffix("_[i]") }, "\(stack)")
        }
    }

    func testJITFramesFromThePerfMapAreMarkedJ() throws {
        let folded = try record("jit")
        let (frames, share) = try heaviest(folded, from: "main")
        XCTAssertEqual(frames, ["main", "run_generated", "jit_spin_loop_[j]"])
        XCTAssertGreaterThan(share, 70)
    }

    // MARK: ember symbolize

    func testSymbolizeElfPrintsTheInlineChainWithLines() throws {
        let binary = try symbolizeSample("inline")
        let nm = try runProgram("/usr/bin/nm", [binary]).stdout
        let hotLoop = try XCTUnwrap(nm.split(separator: "\n").first { $0.hasSuffix(" T hot_loop") }?.split(separator: " ").first)
        let start = try XCTUnwrap(UInt64(hotLoop, radix: 16))
        // Each address of hot_loop, in one batch; the deepest chains must name all four.
        let addresses = (0..<0x60).map { "0x" + String(start + UInt64($0), radix: 16) }
        let result = try ember(["symbolize", "--elf", binary] + addresses)
        XCTAssertEqual(result.status, 0, result.stderr)
        let source = packageRoot.appendingPathComponent("samples/symbolize/inline.c").path
        let expected = """
              step_three [inlined] at \(source):\(try sourceLine("inline.c", "x = x * 6364136223846793005UL"))
              step_two [inlined] at \(source):\(try sourceLine("inline.c", "return step_three(x ^ 0x5555)"))
              step_one [inlined] at \(source):\(try sourceLine("inline.c", "return step_two(x + 7) * 3"))
              hot_loop at \(source):\(try sourceLine("inline.c", "x = step_one(x);"))

            """
        XCTAssertTrue(result.stdout.contains(expected), result.stdout)
        XCTAssertTrue(result.stdout.hasPrefix("0x\(String(start, radix: 16))\n  hot_loop at \(source):"), result.stdout)
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("0x") }.count, 0x60)
    }

    func testSymbolizePidNamesJITCode() throws {
        let workload = try SymbolizeWorkload(sample: "jit", target: "all", arguments: ["30"])
        defer { workload.stop() }
        let map = try String(contentsOfFile: "/tmp/perf-\(workload.pid).map", encoding: .utf8)
        let start = try XCTUnwrap(map.split(separator: " ").first.flatMap { UInt64($0, radix: 16) })
        let result = try ember(["symbolize", "--pid", "\(workload.pid)", String(start + 4, radix: 16)])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "0x\(String(start + 4, radix: 16))\n  jit_spin_loop [jit]\n")
    }

    /// A process in its own PID namespace (as in a container) names its perf map with the
    /// pid it sees, 1; ember finds it through NSpid in /proc/PID/status.
    func testPerfMapOfAProcessInAPIDNamespace() throws {
        try requireRoot()
        let binary = try symbolizeSample("jit")
        let mapPath = "/tmp/perf-1.map"
        guard !FileManager.default.fileExists(atPath: mapPath) else {
            throw XCTSkip("\(mapPath) exists already: another process in a PID namespace uses it")
        }
        defer { try? FileManager.default.removeItem(atPath: mapPath) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--pid", "--fork", "--mount-proc", binary, "30"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        guard out.fileHandleForReading.availableDataUntilNewline() == "ready" else {
            throw XCTSkip("cannot start a process in a new PID namespace with unshare")
        }
        let unsharePid = process.processIdentifier
        let children = try runProgram("/bin/cat", ["/proc/\(unsharePid)/task/\(unsharePid)/children"]).stdout
        let child = try XCTUnwrap(children.split(separator: " ").first.flatMap { Int32($0) }, "no child of unshare")
        defer { kill(child, SIGKILL) }
        let status = try runProgram("/bin/cat", ["/proc/\(child)/status"]).stdout
        XCTAssertTrue(status.contains("NSpid:\t\(child)\t1"), status)
        let map = try String(contentsOfFile: mapPath, encoding: .utf8)
        let start = try XCTUnwrap(map.split(separator: " ").first.flatMap { UInt64($0, radix: 16) })
        let result = try ember(["symbolize", "--pid", "\(child)", String(start, radix: 16)])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "0x\(String(start, radix: 16))\n  jit_spin_loop [jit]\n")
    }

    func testSymbolizeBadInputGivesOneErrorLine() throws {
        let binary = try symbolizeSample("inline")
        for (arguments, message) in [
            (["symbolize", "--elf", binary, "0xzz"], "not a hexadecimal address: 0xzz"),
            (["symbolize", "--elf", "/nonexistent/app", "0x10"], "cannot open /nonexistent/app"),
            (["symbolize", "--elf", "/etc/hostname", "0x10"], "not an ELF file"),
            (["symbolize", "--pid", "999999999", "0x10"], "no such process: 999999999"),
            (["symbolize", "0x10"], "exactly one of --pid PID, --elf FILE or --kernel"),
        ] {
            let result = try ember(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
        }
    }

    func testSymbolizeKernelNamesModuleFunctions() throws {
        try requireRoot()
        // /proc files read as empty through Foundation (their size is 0): cat them.
        let kallsyms = try runProgram("/bin/cat", ["/proc/kallsyms"]).stdout
        var counts: [Substring: Int] = [:]
        var modules: [(address: Substring, name: String)] = []
        for line in kallsyms.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3 else { continue }
            counts[fields[0], default: 0] += 1
            if fields.count == 4, ["t", "T"].contains(fields[1]), fields[3].hasPrefix("["),
               !fields[2].hasPrefix("__pfx_"), !fields[2].hasPrefix("__cfi_") {
                modules.append((fields[0], "\(fields[2]) \(fields[3])"))
            }
        }
        // A module function alone at its address (no alias to choose between).
        guard let module = modules.first(where: { counts[$0.address] == 1 && $0.address != "0000000000000000" }) else {
            throw XCTSkip("no module functions in /proc/kallsyms")
        }
        let result = try ember(["symbolize", "--kernel", String(module.address)])
        XCTAssertEqual(result.status, 0, result.stderr)
        let address = String(UInt64(module.address, radix: 16)!, radix: 16)
        XCTAssertEqual(result.stdout, "0x\(address)\n  \(module.name)\n")
    }

    private func requireRustc() throws {
        guard FileManager.default.isExecutableFile(atPath: "/root/.cargo/bin/rustc") else {
            throw XCTSkip("rustc is not at /root/.cargo/bin/rustc: cannot build the Rust samples")
        }
    }
}

/// A samples/symbolize program running in the background; it prints "ready" once started.
final class SymbolizeWorkload {
    let process = Process()
    var pid: Int32 { process.processIdentifier }

    init(sample: String, target: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: try symbolizeSample(sample, target: target))
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        XCTAssertEqual(out.fileHandleForReading.availableDataUntilNewline(), "ready")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
