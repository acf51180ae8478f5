import EmberSymbolization
import Foundation
import XCTest

/// Naming vDSO frames without the target's memory: ember's own vDSO stands in only for a
/// mapping of its size (another ABI's vDSO is another image).
final class VDSOSymbolizerTests: XCTestCase {
    /// This process's `[vdso]` line of /proc/self/maps, and the address `nm` gives
    /// `__vdso_clock_gettime` in a copy of the image.
    private func ownVDSO() throws -> (line: String, start: UInt64, end: UInt64, symbol: UInt64) {
        // Read whole: procfs files report a size of 0.
        let maps = String(decoding: try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile(),
                          as: UTF8.self)
        let line = try XCTUnwrap(maps.split(separator: "\n").first { $0.hasSuffix("[vdso]") }.map(String.init),
                                 "no vDSO mapped in this process")
        let range = line.split(separator: " ")[0].split(separator: "-")
        let start = try XCTUnwrap(UInt64(range[0], radix: 16)), end = try XCTUnwrap(UInt64(range[1], radix: 16))
        let image = Data(bytes: try XCTUnwrap(UnsafeRawPointer(bitPattern: UInt(start))), count: Int(end - start))
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("vdso-\(getpid()).so")
        try image.write(to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let nm = try runTool("/usr/bin/nm", ["-D", copy.path])
        let symbolLine = try XCTUnwrap(nm.split(separator: "\n").first { $0.contains(" T __vdso_clock_gettime") }, nm)
        let symbol = try XCTUnwrap(UInt64(symbolLine.split(separator: " ")[0], radix: 16))
        return (line, start, end, symbol)
    }

    private func runTool(_ path: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// A procfs with one process whose maps are `maps` and whose memory cannot be read.
    private func fakeProc(maps: String) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vdso-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("42"), withIntermediateDirectories: true)
        try (maps + "\n").write(to: root.appendingPathComponent("42/maps"), atomically: true, encoding: .utf8)
        return root
    }

    func testOwnVDSOStandsInForAnUnreadableOneOfTheSameSize() throws {
        let vdso = try ownVDSO()
        let root = try fakeProc(maps: vdso.line)
        defer { try? FileManager.default.removeItem(at: root) }
        let symbolizer = Symbolizer(procRoot: root.path)
        XCTAssertTrue(symbolizer.refresh(process: 42))
        let frames = symbolizer.userFrames(pid: 42, stack: [vdso.start + vdso.symbol + 4])
        XCTAssertEqual(frames.map(\.name), ["__vdso_clock_gettime"])
        XCTAssertEqual(frames.first?.isResolved, true)
    }

    func testAVDSOOfAnotherSizeIsNotNamedFromEmbersOwn() throws {
        let vdso = try ownVDSO()
        // The same start, one page longer: not the image ember has.
        let end = String(vdso.end + 0x1000, radix: 16)
        let line = vdso.line.replacingOccurrences(of: "-\(String(vdso.end, radix: 16))", with: "-\(end)")
        let root = try fakeProc(maps: line)
        defer { try? FileManager.default.removeItem(at: root) }
        let symbolizer = Symbolizer(procRoot: root.path)
        XCTAssertTrue(symbolizer.refresh(process: 42))
        let frames = symbolizer.userFrames(pid: 42, stack: [vdso.start + vdso.symbol + 4])
        XCTAssertEqual(frames.map(\.name), ["[vdso]+0x\(String(vdso.symbol + 4, radix: 16))"])
        XCTAssertEqual(frames.first?.isResolved, false)
    }
}
