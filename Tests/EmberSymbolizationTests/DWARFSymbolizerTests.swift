import EmberSymbolization
import EmberSystem
import EmberTestSupport
import Foundation
import XCTest

/// Inline chains, lines and debug files, on samples/symbolize binaries built by the test.
final class DWARFSymbolizerTests: XCTestCase {
    /// inline.c's lines: where each function of the chain is at the sampled address.
    private struct Lines {
        var stepThree = 0, stepTwo = 0, stepOne = 0, hotLoop = 0
    }

    private func sourceLines() throws -> Lines {
        let source = try String(contentsOfFile: packageRoot.appendingPathComponent("samples/symbolize/inline.c").path,
                                encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        func line(_ marker: String) throws -> Int {
            try XCTUnwrap(lines.firstIndex { $0.contains(marker) }, "no \(marker) in inline.c") + 1
        }
        return Lines(stepThree: try line("x = x * 6364136223846793005UL"),
                     stepTwo: try line("return step_three(x ^ 0x5555)"),
                     stepOne: try line("return step_two(x + 7) * 3"),
                     hotLoop: try line("x = step_one(x);"))
    }

    /// An address in hot_loop where all three inlined functions are active: the first, in
    /// address order, whose chain is four deep (the multiply loop of step_three).
    private func deepestAddress(in binary: String, symbolizer: Symbolizer,
                                symbolsFrom symbolFile: String? = nil) throws -> UInt64 {
        let (start, size) = try functionRange("hot_loop", in: symbolFile ?? binary)
        for address in start..<start + size {
            if try symbolizer.frames(inFile: binary, address: address).count == 4 { return address }
        }
        XCTFail("no address of hot_loop in \(binary) has a chain of 4 frames")
        return start
    }

    func functionRange(_ name: String, in binary: String) throws -> (UInt64, UInt64) {
        let nm = try runProgram("/usr/bin/nm", ["-S", "--defined-only", binary])
        for line in nm.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 4, fields[3] == name,
               let start = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16) {
                return (start, size)
            }
        }
        throw XCTSkip("nm lists no \(name) in \(binary)")
    }

    private func assertFullChain(_ frames: [SymbolizedFrame], lines: Lines, withLines: Bool,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(frames.map(\.name), ["step_three", "step_two", "step_one", "hot_loop"], file: file, line: line)
        XCTAssertEqual(frames.map(\.kind), [.inlined, .inlined, .inlined, .function], file: file, line: line)
        XCTAssertTrue(frames.allSatisfy(\.isResolved), file: file, line: line)
        if withLines {
            XCTAssertEqual(frames.map { $0.location?.short ?? "?" },
                           ["inline.c:\(lines.stepThree)", "inline.c:\(lines.stepTwo)",
                            "inline.c:\(lines.stepOne)", "inline.c:\(lines.hotLoop)"], file: file, line: line)
        } else {
            XCTAssertTrue(frames.allSatisfy { $0.location == nil }, file: file, line: line)
        }
    }

    func testInlineChainWithLinesFromDWARF5() throws {
        let binary = try symbolizeSample("inline")
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        let address = try deepestAddress(in: binary, symbolizer: symbolizer)
        assertFullChain(try symbolizer.frames(inFile: binary, address: address), lines: try sourceLines(), withLines: true)
        // The function's first instruction is in no inlined call.
        let (start, _) = try functionRange("hot_loop", in: binary)
        XCTAssertEqual(try symbolizer.frames(inFile: binary, address: start).map(\.name), ["hot_loop"])
    }

    func testInlineChainWithoutLines() throws {
        let binary = try symbolizeSample("inline")
        let symbolizer = Symbolizer()
        let address = try deepestAddress(in: binary, symbolizer: symbolizer)
        assertFullChain(try symbolizer.frames(inFile: binary, address: address), lines: try sourceLines(), withLines: false)
    }

    func testCompressedDWARF4Sections() throws {
        let binary = try symbolizeSample("inline-gz")
        let sections = try runProgram("/usr/bin/readelf", ["-S", "-W", binary]).stdout
        let debugInfo = try XCTUnwrap(sections.split(separator: "\n").first { $0.contains(".debug_info") })
        XCTAssertTrue(debugInfo.split(separator: " ").contains("C"), "not compressed: \(debugInfo)")
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        let address = try deepestAddress(in: binary, symbolizer: symbolizer)
        assertFullChain(try symbolizer.frames(inFile: binary, address: address), lines: try sourceLines(), withLines: true)
    }

    func testStrippedBinaryUsesItsDebugLinkFile() throws {
        let binary = try symbolizeSample("linked")
        let symbols = try runProgram("/usr/bin/nm", [binary])
        XCTAssertTrue(symbols.stderr.contains("no symbols"), "the sample should be stripped: \(symbols.stdout)")
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        let address = try deepestAddress(in: binary, symbolizer: symbolizer, symbolsFrom: binary + ".debug")
        assertFullChain(try symbolizer.frames(inFile: binary, address: address), lines: try sourceLines(), withLines: true)
    }

    func testDebugLinkWithWrongCRCIsRefused() throws {
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let binary = scratch + "/linked"
        try FileManager.default.copyItem(atPath: try symbolizeSample("linked"), toPath: binary)
        var debug = try Data(contentsOf: URL(fileURLWithPath: try symbolizeSample("linked") + ".debug"))
        debug.append(0)  // still a valid ELF file, but not the one the link's CRC names
        try debug.write(to: URL(fileURLWithPath: scratch + "/linked.debug"))
        let (start, _) = try functionRange("hot_loop", in: try symbolizeSample("linked") + ".debug")
        let frames = try Symbolizer().frames(inFile: binary, address: start + 0x40)
        XCTAssertEqual(frames.map(\.name), ["linked+0x\(String(start + 0x40, radix: 16))"])
        XCTAssertFalse(frames[0].isResolved)
    }

    func testDebugFileFoundOnlyByBuildIDUnderADebugDirectory() throws {
        let binary = try symbolizeSample("buildid")
        let scratch = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A temporary debug root holding only .build-id/xx/rest.debug.
        try FileManager.default.copyItem(atPath: symbolizeDebugRoot + "/.build-id", toPath: scratch + "/.build-id")
        let notes = try runProgram("/usr/bin/readelf", ["-n", binary]).stdout
        let buildID = try XCTUnwrap(notes.split(separator: "\n").first { $0.contains("Build ID:") }?
            .split(separator: " ").last.map(String.init), "no build id in \(binary)")
        let debugFile = scratch + "/.build-id/\(buildID.prefix(2))/\(buildID.dropFirst(2)).debug"
        XCTAssertTrue(FileManager.default.fileExists(atPath: debugFile), debugFile)
        let (start, _) = try functionRange("hot_loop", in: debugFile)
        // Without the directory, nothing names it.
        XCTAssertEqual(try Symbolizer().frames(inFile: binary, address: start).map(\.name),
                       ["buildid+0x\(String(start, radix: 16))"])
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true, debugDirectories: [scratch]))
        let address = try deepestAddress(in: binary, symbolizer: symbolizer, symbolsFrom: debugFile)
        assertFullChain(try symbolizer.frames(inFile: binary, address: address), lines: try sourceLines(), withLines: true)
    }

    func testMiniDebugInfoNamesFunctionsOfAStrippedBinary() throws {
        let binary = try symbolizeSample("minidebug")
        let sections = try runProgram("/usr/bin/readelf", ["-S", "-W", binary]).stdout
        XCTAssertTrue(sections.contains(".gnu_debugdata"))
        XCTAssertFalse(sections.contains(".symtab"))
        let (start, size) = try functionRange("hot_loop", in: try symbolizeSample("inline"))
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        for address in [start, start + size / 2, start + size - 1] {
            // A symbol table only: the function, no inlined calls, no lines.
            XCTAssertEqual(try symbolizer.frames(inFile: binary, address: address),
                           [SymbolizedFrame(name: "hot_loop", isResolved: true)])
        }
        XCTAssertEqual(try symbolizer.frames(inFile: binary, address: try functionRange("main", in: try symbolizeSample("inline")).0).map(\.name),
                       ["main"])
    }

    func testDemanglingCanBeTurnedOff() throws {
        let binary = try symbolizeSample("shapes")
        let (start, _) = try functionRange("_ZN3app4workEl", in: binary)
        XCTAssertEqual(try Symbolizer().frames(inFile: binary, address: start).map(\.name), ["app::work(long)"])
        XCTAssertEqual(try Symbolizer(options: SymbolizerOptions(demangle: false)).frames(inFile: binary, address: start).map(\.name),
                       ["_ZN3app4workEl"])
    }

    func testFilesReadOnAnotherThreadNameAddressesAsFilesReadInPlace() throws {
        // A process's map that puts inline's code at 0x5555_0000_0000 (its file offsets are
        // its addresses).
        let binary = try symbolizeSample("inline")
        let base: UInt64 = 0x5555_0000_0000
        let map = MemoryMap(parsing: "555500000000-555500010000 r-xp 00000000 00:00 1 \(binary)\n")
        let (start, size) = try functionRange("hot_loop", in: binary)
        let addresses = (start..<start + size).map { base + $0 }
        let options = SymbolizerOptions(lines: true)

        let ahead = Symbolizer(options: options)
        ahead.setMemoryMap(map, for: 4242)
        XCTAssertFalse(ahead.filesAreRead(pid: 4242, addresses: addresses), "the file's tables are not read yet")
        let deadline = Date().addingTimeInterval(30)
        while !ahead.filesAreRead(pid: 4242, addresses: addresses) && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(ahead.filesAreRead(pid: 4242, addresses: addresses), "read on the other thread")

        let inPlace = Symbolizer(options: options)
        inPlace.setMemoryMap(map, for: 4242)
        var deepest = 0
        for address in addresses {
            let read = ahead.userFrames(pid: 4242, stack: [address])
            let expected = inPlace.userFrames(pid: 4242, stack: [address])
            XCTAssertEqual(read.map(\.name), expected.map(\.name))
            XCTAssertEqual(read.map { $0.location?.short }, expected.map { $0.location?.short })
            deepest = max(deepest, read.count)
        }
        XCTAssertEqual(deepest, 4, "the inline chains are there")
    }

    func testFilesNoProcessMapsAreClosedAfterTheGracePeriodAndReadAgainWhenMapped() throws {
        let binary = try symbolizeSample("inline")
        // No such process: the file is opened by its path.
        let line = "555500000000-555500010000 r-xp 00000000 00:00 1 \(binary)\n"
        let base: UInt64 = 0x5555_0000_0000
        let (start, _) = try functionRange("hot_loop", in: binary)
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        // The descriptors open on this binary; counted by target, as other tests' background
        // readers in this process open and close files of their own meanwhile.
        let target = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
        let openOnBinary = {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == target
            }.count
        }
        let before = openOnBinary()

        symbolizer.setMemoryMap(MemoryMap(parsing: line), for: 4242)
        let named = symbolizer.userFrames(pid: 4242, stack: [base + start])
        XCTAssertEqual(named.last?.name, "hot_loop")
        XCTAssertGreaterThan(openOnBinary(), before, "the file is open while mapped")

        var closed: [ObjectIdentifier] = []
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: 0) { closed.append($0) }, 0,
                       "a mapped file stays")
        symbolizer.forget(process: 4242)
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: 100) { closed.append($0) }, 0,
                       "unmapped from now on: the grace period starts")
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: 130) { closed.append($0) }, 0)
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: 160) { closed.append($0) }, 1)
        XCTAssertEqual(closed.count, 1, "readers of the file are told before it closes")
        XCTAssertEqual(symbolizer.releasedFiles, 1)
        XCTAssertEqual(openOnBinary(), before, "its descriptors are closed")

        // Mapped again (the same program run again): read again, named the same.
        symbolizer.setMemoryMap(MemoryMap(parsing: line), for: 4343)
        let again = symbolizer.userFrames(pid: 4343, stack: [base + start])
        XCTAssertEqual(again.map(\.name), named.map(\.name))
        XCTAssertEqual(again.map { $0.location?.short }, named.map { $0.location?.short })
    }

    func testAMappedFileLetsGoOfItsDWARFWhenIdleAndReadsItAgainForANewAddress() throws {
        let binary = try symbolizeSample("inline")
        let line = "555500000000-555500010000 r-xp 00000000 00:00 1 \(binary)\n"
        let base: UInt64 = 0x5555_0000_0000
        let (start, size) = try functionRange("hot_loop", in: binary)
        let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true))
        let reference = Symbolizer(options: SymbolizerOptions(lines: true))
        symbolizer.setMemoryMap(MemoryMap(parsing: line), for: 4242)
        reference.setMemoryMap(MemoryMap(parsing: line), for: 4242)
        let inlined = try XCTUnwrap((start..<start + size).first {
            reference.userFrames(pid: 4242, stack: [base + $0]).count > 1
        }, "an address in an inline chain")
        let first = symbolizer.userFrames(pid: 4242, stack: [base + inlined])
        XCTAssertGreaterThan(first.count, 1, "an inline chain, from the DWARF")

        let now = Clock.monotonicSeconds()
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: now), 0)
        XCTAssertEqual(symbolizer.releasedDWARF, 0, "used moments ago")
        XCTAssertEqual(symbolizer.releaseIdleFiles(unusedFor: 60, now: now + 61), 0, "still mapped: not closed")
        XCTAssertEqual(symbolizer.releasedDWARF, 1, "idle for a minute")

        // Addresses named before keep their frames; new ones read the DWARF again.
        XCTAssertEqual(symbolizer.userFrames(pid: 4242, stack: [base + inlined]).map(\.name), first.map(\.name))
        for address in stride(from: start, to: start + size, by: 3) where address != inlined {
            let again = symbolizer.userFrames(pid: 4242, stack: [base + address])
            let expected = reference.userFrames(pid: 4242, stack: [base + address])
            XCTAssertEqual(again.map(\.name), expected.map(\.name))
            XCTAssertEqual(again.map { $0.location?.short }, expected.map { $0.location?.short })
        }
    }

    func testBadFilesGiveErrors() throws {
        XCTAssertThrowsError(try Symbolizer().frames(inFile: "/nonexistent/file", address: 1))
        XCTAssertThrowsError(try Symbolizer().frames(inFile: "/etc/hostname", address: 1))
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("ember-sym-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

final class PerfMapTests: XCTestCase {
    func testParsesAndLooksUpPerfMapLines() {
        let map = PerfMap(parsing: """
            7f0000001000 40 jit_one
            0x7f0000002000 0x10 LazyCompile:*run script.js:12
            garbage line
            7f0000003000 0 empty
            """)
        XCTAssertEqual(map.count, 2)
        XCTAssertEqual(map.lookup(0x7f00_0000_1000), "jit_one")
        XCTAssertEqual(map.lookup(0x7f00_0000_103f), "jit_one")
        XCTAssertNil(map.lookup(0x7f00_0000_1040))
        XCTAssertEqual(map.lookup(0x7f00_0000_2008), "LazyCompile:*run script.js:12")
        XCTAssertNil(map.lookup(0x7f00_0000_0fff))
    }
}
