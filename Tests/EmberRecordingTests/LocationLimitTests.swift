import EmberProfile
@testable import EmberRecording
import EmberSymbolization
import EmberTestSupport
import EmberUnwinding
import Foundation
import XCTest

/// Past its limit of locations, a recording's profile merges new addresses into the
/// location of what they name: the flame graph stays the same, the profile stops growing.
final class LocationLimitTests: XCTestCase {
    /// A process (not a real one: its map is given) that maps the sample binary, and a
    /// stack of two frames at every 4th byte of the file: named code and unnamed bytes.
    private func profile(limit: Int, binary: String) throws -> (Profile, ProfileBuilder) {
        let size = UInt64(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: binary)[.size] as? NSNumber).intValue)
        var info = stat()
        XCTAssertEqual(stat(binary, &info), 0)
        let base: UInt64 = 0x5555_0000_0000
        let pid: Int32 = 999_999_001
        let symbolizer = Symbolizer()
        symbolizer.setMemoryMap(MemoryMap(mappings: [
            MemoryMapping(start: base, end: base + (size + 4095) & ~4095, permissions: "r-xp", fileOffset: 0,
                          device: "fd:01", inode: UInt64(info.st_ino), path: binary),
        ]), for: pid, name: "split")
        var settings = RecordingSettings(target: .system)
        settings.maximumLocations = limit
        let builder = ProfileBuilder(symbolizer: symbolizer, settings: settings)
        let caller = base + size / 2
        let stacks = stride(from: base, to: base + size, by: 4).map { address in
            CallStack(pid: pid, tid: pid, threadName: "split", user: .frames([address, caller]), kernel: .absent, count: 1)
        }
        builder.add(stacks, clockOffset: 0)
        return (builder.finish(startTime: 0, duration: 1), builder)
    }

    /// Folded text with unnamed frames (`split+0x1234`, or `[split]` when merged) as one.
    private func folded(_ profile: Profile) -> [String: Double] {
        var lines: [String: Double] = [:]
        let unnamed = try! NSRegularExpression(pattern: "split\\+0x[0-9a-f]+|\\[split\\]")
        for line in FoldedWriter.text(of: profile).split(separator: "\n") {
            let text = String(line)
            guard let space = text.lastIndex(of: " "), let count = Double(text[text.index(after: space)...]) else { continue }
            let stack = String(text[..<space])
            let merged = unnamed.stringByReplacingMatches(in: stack, range: NSRange(stack.startIndex..., in: stack),
                                                          withTemplate: "[split]")
            lines[merged, default: 0] += count
        }
        return lines
    }

    func testPastTheLimitAddressesJoinTheirFunctionAndTheFlameGraphIsTheSame() throws {
        let binary = try sampleBinary("split")
        let (exact, exactBuilder) = try profile(limit: 10_000_000, binary: binary)
        let (merged, mergedBuilder) = try profile(limit: 1_000, binary: binary)
        XCTAssertEqual(exactBuilder.mergedAddresses, 0)
        XCTAssertGreaterThan(exact.locations.count, 5_000, "one location per address without a limit")
        XCTAssertGreaterThan(mergedBuilder.mergedAddresses, 4_000)

        // Past the limit the profile holds one location per inline chain named (and one for
        // the file's unnamed bytes), each one that the exact profile names too.
        let pastLimit = merged.locations.dropFirst(1_000).map { chain($0, in: merged) }
        XCTAssertEqual(Set(pastLimit).count, pastLimit.count, "one location per name")
        let exactChains = Set(exact.locations.map { chain($0, in: exact) })
        XCTAssertTrue(Set(pastLimit).subtracting(exactChains) == ["[split]:0"], "\(Set(pastLimit).subtracting(exactChains))")
        XCTAssertTrue(pastLimit.contains("spin:0"), "\(pastLimit)")
        XCTAssertLessThan(pastLimit.count, 500)

        XCTAssertEqual(folded(merged), folded(exact), "the flame graph does not change")
        XCTAssertEqual(merged.total(ofType: 0), exact.total(ofType: 0))
    }

    /// A location's lines as names and line numbers, innermost first.
    private func chain(_ location: Location, in profile: Profile) -> String {
        location.lines.map { "\(profile.name(ofFunction: $0.function)):\($0.line)" }.joined(separator: ";")
    }

    func testUnnamedFramesAreNamedAfterTheirFile() {
        XCTAssertEqual(ProfileBuilder.unnamedFrame("/usr/lib/x86_64-linux-gnu/libc.so.6"), "[libc.so.6]")
        XCTAssertEqual(ProfileBuilder.unnamedFrame("[heap]"), "[heap]")
        XCTAssertEqual(ProfileBuilder.unnamedFrame(""), "[anon]")
        XCTAssertEqual(ProfileBuilder.unnamedFrame(nil), "[unknown]")
    }
}
