import CEmberShim
@testable import EmberSampling
import Foundation
import XCTest

/// What loading ember's BPF programs costs every recording: the instructions the kernel's
/// verifier walks to load them. A change that multiplies the paths it must walk (a value that
/// differs by path and lives on past its branches, such as flags handed back to a caller)
/// fails nothing else: it shows only as a start that takes a quarter of a second more, the
/// whole of a short recording's own CPU. The budgets are several times what the programs
/// take today (docs/benchmarks.md, "Fixed costs").
final class BPFVerifierTests: XCTestCase {
    func testTheProgramsVerifyWithinTheirBudgets() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading BPF programs needs root") }
        var configuration = SamplerConfiguration(scope: .processes([getpid()]))
        configuration.unwinding = .perProcess
        configuration.samplesCPU = false
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        let offCPU = try OffCPUSampler(sharing: sampler, configuration: OffCPUConfiguration())
        defer { offCPU.close() }
        let counts = try sampler.verifiedInstructions().merging(try offCPU.verifiedInstructions()) { $1 }
        guard let sample = counts["sample"] else { throw XCTSkip("this kernel does not report verified instructions") }
        print("BPFVerifierTests: verified instructions \(counts.sorted { $0.key < $1.key })")
        XCTAssertLessThan(sample, 50_000, "the sampling program (perf_event)")
        XCTAssertLessThan(try XCTUnwrap(counts["on_switch"]), 40_000, "the off-CPU program (sched_switch)")
        XCTAssertLessThan(try XCTUnwrap(counts["on_waking"]), 40_000, "the waker program (sched_waking)")
        for name in ["follow_fork", "note_exec", "forget_exit", "on_exit"] {
            XCTAssertLessThan(try XCTUnwrap(counts[name]), 2_000, name)
        }
    }

    /// The options are read-only data the verifier knows: a mode's program is checked only along
    /// its own paths (frame pointers need no CFI walk and no stack copy, --no-interpreter no
    /// Python walk; without wakeups the waker program does nothing).
    func testEachModeVerifiesOnlyItsOwnPaths() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading BPF programs needs root") }
        func verified(_ unwinding: UnwindingMethod, wakeups: Bool = true, python: Bool = true) throws -> [String: Int] {
            var configuration = SamplerConfiguration(scope: .processes([getpid()]))
            configuration.unwinding = unwinding
            configuration.interpreterFrames = python
            configuration.samplesCPU = false
            let sampler = try Sampler(configuration: configuration)
            defer { sampler.close() }
            var offCPUConfiguration = OffCPUConfiguration()
            offCPUConfiguration.wakeups = wakeups
            let offCPU = try OffCPUSampler(sharing: sampler, configuration: offCPUConfiguration)
            defer { offCPU.close() }
            return try sampler.verifiedInstructions().merging(try offCPU.verifiedInstructions()) { $1 }
        }
        let auto = try verified(.perProcess)
        guard let autoSample = auto["sample"] else { throw XCTSkip("this kernel does not report verified instructions") }
        let framePointers = try verified(.framePointers, wakeups: false)
        let dwarf = try verified(.dwarf)
        let native = try verified(.perProcess, python: false)
        print("BPFVerifierTests: verified instructions by mode: auto \(auto.sorted { $0.key < $1.key }), "
              + "auto --no-interpreter \(native.sorted { $0.key < $1.key }), "
              + "fp \(framePointers.sorted { $0.key < $1.key }), dwarf \(dwarf.sorted { $0.key < $1.key })")
        // Without the pruning every mode would verify the same instructions.
        XCTAssertLessThan(try XCTUnwrap(framePointers["sample"]), autoSample * 3 / 4, "fp: no CFI walk")
        XCTAssertLessThan(try XCTUnwrap(dwarf["sample"]), autoSample * 3 / 4, "dwarf: no CFI walk")
        XCTAssertLessThan(try XCTUnwrap(native["sample"]), autoSample * 3 / 4, "--no-interpreter: no Python walk")
        XCTAssertLessThan(try XCTUnwrap(framePointers["on_switch"]), try XCTUnwrap(auto["on_switch"]) * 3 / 4)
        XCTAssertLessThan(try XCTUnwrap(framePointers["on_waking"]), 100, "without wakeups the waker program returns at once")
    }

    /// A program the verifier refuses is named with the verifier's reason, not with the "failed
    /// to load object" libbpf prints after it (a kernel that counted the stacks of the programs'
    /// calls more strictly once refused the off-CPU program with nothing but "Permission denied").
    func testARefusedProgramIsNamedWithTheVerifiersReason() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading BPF programs needs root") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-verifier-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("refused.bpf.c")
        // Every kernel refuses it: it reads memory at a number.
        try """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("perf_event")
        int reads_anywhere(void *ctx)
        {
            return *(int *)(long)bpf_get_prandom_u32();
        }
        char LICENSE[] SEC("license") = "GPL";
        """.write(to: source, atomically: true, encoding: .utf8)
        let object = directory.appendingPathComponent("refused.bpf.o")
        #if arch(arm64)
        let multiarch = "aarch64-linux-gnu"
        #else
        let multiarch = "x86_64-linux-gnu"
        #endif
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compile.arguments = ["clang", "-target", "bpf", "-O2", "-I/usr/include/\(multiarch)", "-c", source.path,
                             "-o", object.path]
        try compile.run()
        compile.waitUntilExit()
        XCTAssertEqual(compile.terminationStatus, 0, "clang -target bpf")
        let bytes = [UInt8](try Data(contentsOf: object))

        ember_capture_libbpf_messages()
        let program = try BPFObject(bytes: bytes, description: "the test's BPF program")
        defer { program.close() }
        let result = program.load()
        XCTAssertNotEqual(result, 0, "the verifier takes a program that reads memory at a number")
        let message = program.loadError(result).description
        XCTAssertTrue(message.hasPrefix("could not load the test's BPF program: the kernel's verifier refused reads_anywhere: "),
                      message)
        XCTAssertTrue(message.contains("invalid mem access"), message)
        XCTAssertFalse(message.contains("\n"), message)
    }
}
