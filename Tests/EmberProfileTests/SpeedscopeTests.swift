import EmberProfile
import EmberTestSupport
import Foundation
import XCTest

final class SpeedscopeTests: XCTestCase {
    /// Two threads of one process in `perf script` text, with times: thread 11 runs at 1.0 s,
    /// 1.001 s and (after a pause) 1.010 s; thread 12 once.
    let perfScript = """
        app 10/11 1.000000: 1000000 cpu-clock:
        \t  1000 work+0x4 (/usr/bin/app)
        \t  2000 main+0x8 (/usr/bin/app)

        app 10/12 1.000500: 1000000 cpu-clock:
        \t  3000 other (/usr/bin/app)

        app 10/11 1.001000: 1000000 cpu-clock:
        \t  1000 work+0x4 (/usr/bin/app)
        \t  2000 main+0x8 (/usr/bin/app)

        app 10/11 1.010000: 1000000 cpu-clock:
        \tffffffff81000000 schedule ([kernel.kallsyms])
        \t  2000 main+0x8 (/usr/bin/app)


        """

    func testOneTimelinePerThreadWithTheGapsItDidNotRun() throws {
        let profile = PerfScriptReader.read(bytes: Array(perfScript.utf8)).profile
        XCTAssertTrue(profile.hasSampleTimes)
        let bytes = SpeedscopeWriter.encode(profile, name: "test")
        let file = try SpeedscopeFile(data: Data(bytes))
        XCTAssertEqual(file.profiles.map(\.name), ["app (10): thread (11)", "app (10): thread (12)"])
        let first = file.profiles[0]
        XCTAssertEqual(first.unit, "nanoseconds")
        // Each sample covers the period before its time, from the first's start: 0–1 ms,
        // 1–2 ms, a gap, 10–11 ms.
        XCTAssertEqual(first.weights, [1_000_000, 1_000_000, 8_000_000, 1_000_000])
        XCTAssertEqual(first.samples.map { $0.map { file.frames[$0] } },
                       [["main", "work"], ["main", "work"], [], ["main", "schedule_[k]"]])
        XCTAssertEqual(first.startValue, 0)
        XCTAssertEqual(first.endValue, 11_000_000)
        XCTAssertEqual(file.profiles[1].startValue, -500_000 + 1_000_000, "thread 12 starts half a millisecond in")
    }

    func testWithoutTimesSamplesKeepTheirOrderAndCountsAreUnitless() throws {
        let profile = FoldedReader.read(bytes: Array("a;b 3\na;c 1\n".utf8)).profile
        let file = try SpeedscopeFile(data: Data(SpeedscopeWriter.encode(profile)))
        XCTAssertEqual(file.profiles.count, 1)
        XCTAssertEqual(file.profiles[0].unit, "none")
        XCTAssertEqual(file.profiles[0].weights, [3, 1])
        XCTAssertEqual(file.profiles[0].endValue, 4)
        XCTAssertEqual(file.profiles[0].samples.map { $0.map { file.frames[$0] } }, [["a", "b"], ["a", "c"]])
    }

    func testHostileNamesAreValidJSON() throws {
        var profile = Profile()
        profile.addSample(names: ["quote\" back\\slash", "tab\tnew\nline", "\u{1}ctl"], value: 1)
        let bytes = SpeedscopeWriter.encode(profile)
        let file = try SpeedscopeFile(data: Data(bytes))
        XCTAssertEqual(file.frames, ["quote\" back\\slash", "tab\tnew line", "\u{1}ctl"])
    }
}
