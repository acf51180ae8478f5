import CEmberShim
import EmberSampling
import EmberSystem
import EmberTestSupport
@testable import EmberUnwinding
import Foundation
import XCTest

/// How a process's memory map becomes the mappings the kernel's CFI walk searches.
final class KernelUnwindTablesTests: XCTestCase {
    func testExecutableMappingsAreReadFromTheMemoryMap() {
        let maps = """
            55d0c2a00000-55d0c2a01000 r--p 00000000 fd:01 1234 /usr/bin/program
            55d0c2a01000-55d0c2a02000 r-xp 00001000 fd:01 1234 /usr/bin/program
            7f3a10000000-7f3a10021000 rwxp 00000000 00:00 0
            7f3a12028000-7f3a1217d000 r-xp 00028000 fd:01 5678 /usr/lib/x86_64-linux-gnu/libc.so.6
            7ffd4f3fe000-7ffd4f400000 r-xp 00000000 00:00 0                          [vdso]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            7f3a11000000-7f3a11001000 r-xp 00000000 fd:01 999 /path with spaces/lib.so
            """
        let mappings = KernelUnwindTables.executableMappings(maps)
        XCTAssertEqual(mappings.map(\.start), [0x55d0c2a01000, 0x7f3a10000000, 0x7f3a11000000, 0x7f3a12028000, 0x7ffd4f3fe000],
                       "executable ones only, sorted, [vsyscall] left out")
        XCTAssertEqual(mappings[0].file, "fd:01:1234")
        XCTAssertEqual(mappings[0].offset, 0x1000)
        XCTAssertNil(mappings[1].file, "anonymous code (a JIT's)")
        XCTAssertEqual(mappings[2].path, "/path with spaces/lib.so")
        XCTAssertEqual(mappings[3].path, "/usr/lib/x86_64-linux-gnu/libc.so.6")
        XCTAssertEqual(mappings[4].file, "vdso")
    }

    func testTheBiasComesFromTheSegmentTheMappingStartsIn() {
        // libc: its text segment is at file offset 0x26000, linked at 0x26000.
        let libc = KernelUnwindTables.Mapping(start: 0x7f3a12026000, end: 0x7f3a1217d000, offset: 0x26000,
                                              file: "x", path: "/lib/libc.so.6")
        let segments: [(offset: UInt64, address: UInt64, size: UInt64)] = [
            (0, 0, 0x25f00), (0x26000, 0x26000, 0x156000), (0x17c000, 0x17c000, 0x4f000),
        ]
        XCTAssertEqual(KernelUnwindTables.bias(of: libc, segments: segments), 0x7f3a12000000)
        // A segment linked elsewhere than its file offset (p_vaddr - p_offset = 0x1000).
        let shifted = KernelUnwindTables.Mapping(start: 0x400000, end: 0x401000, offset: 0x1000, file: "y", path: "/p")
        XCTAssertEqual(KernelUnwindTables.bias(of: shifted, segments: [(0x1040, 0x402040, 0x100)]),
                       0x400000 &- 0x1000 &+ 0x1040 &- 0x402040)
    }

    /// The exec tracepoint drops a process's mappings from the BPF program's map; the
    /// process watched anew gets them written again, though they read as before.
    func testAProcessWatchedAnewGetsItsMappingsWrittenAgain() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading the BPF program needs root") }
        var configuration = SamplerConfiguration(scope: .processes([getpid()]))
        configuration.unwinding = .perProcess
        configuration.samplesCPU = false
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        let tables = KernelUnwindTables(sampler: sampler)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer {
            child.terminate()
            child.waitUntilExit()
        }
        usleep(100_000)
        let pid = child.processIdentifier

        XCTAssertTrue(tables.watch(pid))
        let count = try XCTUnwrap(sampler.processMappingCount(pid))
        XCTAssertGreaterThanOrEqual(count, 3, "sleep, libc, the loader")
        sampler.removeProcessMappings(pid)  // as the exec tracepoint does
        XCTAssertTrue(tables.watch(pid))
        XCTAssertNil(sampler.processMappingCount(pid), "mappings that read as before are not written again")
        XCTAssertTrue(tables.watch(pid, anew: true))
        XCTAssertEqual(sampler.processMappingCount(pid), count)
    }

    /// A walk that meets a pc in none of the process's mappings (libc, left out here, as
    /// when the loader has not mapped it yet at exec) asks at once for them to be read
    /// again: once for each time they are written, so a pc that stays unmapped costs nothing.
    func testAPCInNoMappingAsksOnceForTheMapsToBeReadAgain() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading the BPF program needs root") }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try sampleBinary("split"))
        child.arguments = ["30"]
        try child.run()
        defer {
            child.terminate()
            child.waitUntilExit()
        }
        let pid = child.processIdentifier
        var configuration = SamplerConfiguration(scope: .processes([pid]))
        configuration.unwinding = .perProcess
        configuration.frequency = 997
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        usleep(100_000)
        let maps = try FileContents.text("/proc/\(pid)/maps")
        let program = try XCTUnwrap(KernelUnwindTables.executableMappings(maps).first { $0.path.hasSuffix("/split") })
        // The program alone, walked by frame pointers: its main returns into libc.
        let mappings = [ember_mapping(start: program.start, end: program.end, bias: 0, table: 0,
                                      kind: EMBER_MAPPING_FRAME_POINTER.rawValue)]
        try sampler.setProcessMappings(pid, mappings)
        try sampler.start()

        func requests(within seconds: Double) throws -> Int {
            var count = 0
            let end = Clock.monotonicSeconds() + seconds
            while Clock.monotonicSeconds() < end {
                _ = try sampler.pollStackSamples(timeout: 50) { record in
                    if record.kind == .processUnmappedCode, record.pid == pid { count += 1 }
                }
            }
            return count
        }
        XCTAssertEqual(try requests(within: 0.5), 1, "asked once, though every sample meets libc")
        try sampler.setProcessMappings(pid, mappings)
        XCTAssertEqual(try requests(within: 0.5), 1, "mappings written again: asked again")
        XCTAssertGreaterThan(sampler.counters().cfiPending, 100, "the samples went to the user-space unwinder")
    }
}
