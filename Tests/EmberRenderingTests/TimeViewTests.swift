import EmberProfile
@testable import EmberRendering
import Foundation
import XCTest

/// The time view's page: what its embedded data holds (checked by parsing it back), and that
/// nothing from the profile can end its script elements. Tests/browser/test_timeview.py
/// drives the page itself in Chromium.
final class TimeViewTests: XCTestCase {
    private let second: Int64 = 1_000_000_000

    /// Two threads of one process: `main;one` in the first second, `main;two` in the next.
    private func timedProfile(names: (String, String) = ("one", "two")) -> Profile {
        var profile = Profile()
        profile.startTime = 50 * second
        let pid = profile.intern("pid"), tid = profile.intern("tid"), comm = profile.intern("comm")
        let threads = [11, 12].map { thread in
            profile.addLabelSet([
                Label(key: pid, number: 11), Label(key: tid, number: Int64(thread)),
                Label(key: comm, text: profile.intern(thread == 11 ? "server" : "helper")),
            ])
        }
        for index in 0..<100 {
            let leaf = index < 50 ? names.0 : names.1
            profile.addSample(frames: [("main", .user), (leaf, .user)], values: [1], labels: threads[index % 2],
                              time: 50 * second + Int64(index) * 20_000_000 + 5_000_000)
        }
        return profile
    }

    /// The page's JSON data, parsed back.
    private func embeddedData(_ html: String) throws -> [String: Any] {
        let opening = "<script type=\"application/json\" id=\"ember-data\">"
        let start = try XCTUnwrap(html.range(of: opening)).upperBound
        let end = try XCTUnwrap(html.range(of: "</script>", range: start..<html.endIndex)).lowerBound
        let object = try JSONSerialization.jsonObject(with: Data(html[start..<end].utf8))
        return try XCTUnwrap(object as? [String: Any])
    }

    private func html(_ profile: Profile, options: FlameGraphOptions = .init()) -> String {
        String(decoding: TimeView.htmlBytes(of: profile, options: options), as: UTF8.self)
    }

    func testDataHoldsTheTreeInDrawingOrderAndEachSampleInTimeOrder() throws {
        let data = try embeddedData(html(timedProfile(names: ("zeta", "alpha"))))
        let labels = try XCTUnwrap(data["labels"] as? [String])
        let parent = try XCTUnwrap(data["parent"] as? [Int])
        let label = try XCTUnwrap(data["label"] as? [Int])
        // The root, the process, main, then its children in name order: alpha before zeta.
        XCTAssertEqual(label.map { labels[$0] }, ["all", "main", "alpha", "zeta"])
        XCTAssertEqual(parent, [-1, 0, 1, 1])
        let time = try XCTUnwrap(data["time"] as? [Int])
        XCTAssertEqual(time.count, 100)
        // From the recording's start: 5 ms, then every 20 ms, in microseconds.
        XCTAssertEqual(time.first, 5000)
        XCTAssertEqual(Set(time.dropFirst()), [20000])
        let node = try XCTUnwrap(data["node"] as? [Int])
        XCTAssertEqual(node.prefix(50).map { labels[label[$0]] }, Array(repeating: "zeta", count: 50))
        XCTAssertEqual(node.suffix(50).map { labels[label[$0]] }, Array(repeating: "alpha", count: 50))
        let threads = try XCTUnwrap(data["threads"] as? [[Any]])
        XCTAssertEqual(threads.count, 2)
        XCTAssertEqual(threads.map { $0[1] as? Int }, [11, 12])
        XCTAssertEqual(threads.map { $0[2] as? String }, ["server", "helper"])
        XCTAssertEqual(threads.map { $0[3] as? String }, ["server", "server"], "the process is named by its main thread")
        XCTAssertEqual(data["thread"] as? [Int], (0..<100).map { $0 % 2 })
        XCTAssertTrue(data["weight"] is NSNull, "every sample counts 1: no weights")
        XCTAssertEqual(data["noTime"] as? String, "")
    }

    /// A thread that names itself after it starts (and a process that execs) is named by the
    /// name most of its samples have (the later of two alike), whichever label set comes first
    /// in the profile.
    func testAThreadIsNamedByTheNameMostOfItsSamplesHave() throws {
        var profile = Profile()
        let pid = profile.intern("pid"), tid = profile.intern("tid"), comm = profile.intern("comm")
        func labels(_ thread: Int64, _ name: String) -> Int32 {
            profile.addLabelSet([Label(key: pid, number: 7), Label(key: tid, number: thread), Label(key: comm, text: profile.intern(name))])
        }
        let (worker, renamedWorker) = (labels(8, "server"), labels(8, "worker-1"))
        let (launcher, server) = (labels(7, "sh"), labels(7, "server"))
        // "early" is added last in the profile and has the first and the last sample of
        // thread 8, "worker-1" most of them. Of thread 7's two names, a sample each: the later.
        let early = labels(8, "early")
        for (set, time) in [(early, 1), (worker, 2), (renamedWorker, 3), (renamedWorker, 8), (renamedWorker, 9),
                            (early, 10), (launcher, 4), (server, 5)] {
            profile.addSample(frames: [("main", .user)], values: [1], labels: set, time: Int64(time) * second)
        }
        let threads = try XCTUnwrap(try embeddedData(html(profile))["threads"] as? [[Any]])
        XCTAssertEqual(threads.map { $0[1] as? Int }, [8, 7])
        XCTAssertEqual(threads.map { $0[2] as? String }, ["worker-1", "server"])
        XCTAssertEqual(threads.map { $0[3] as? String }, ["server", "server"], "the process is named by its main thread's name")
    }

    /// A name's weight is that of all its label sets: a launched command's main thread is
    /// "ember" until it execs, then "blocking" in several sets (on-CPU, and off-CPU in each
    /// state), each lighter than the first but not together.
    func testANamesWeightIsThatOfAllItsLabelSets() throws {
        var profile = Profile()
        let pid = profile.intern("pid"), tid = profile.intern("tid"), comm = profile.intern("comm")
        let state = profile.intern("state")
        func labels(_ name: String, _ extra: String?) -> Int32 {
            var list = [Label(key: pid, number: 5), Label(key: tid, number: 5), Label(key: comm, text: profile.intern(name))]
            if let extra { list.append(Label(key: state, text: profile.intern(extra))) }
            return profile.addLabelSet(list)
        }
        let (launcher, running, sleeping, waiting) = (labels("ember", nil), labels("blocking", nil),
                                                      labels("blocking", "S"), labels("blocking", "D"))
        for (set, value, time) in [(launcher, 5.0, 1), (running, 3, 2), (sleeping, 4, 3), (waiting, 2, 4)] {
            profile.addSample(frames: [("main", .user)], values: [value], labels: set, time: Int64(time) * second)
        }
        let threads = try XCTUnwrap(try embeddedData(html(profile))["threads"] as? [[Any]])
        XCTAssertEqual(threads.map { $0[2] as? String }, ["blocking"])
        XCTAssertEqual(threads.map { $0[3] as? String }, ["blocking"])
    }

    func testSamplesWithoutTimesAreInTheWholeGraphOnlyAndSaySo() throws {
        var profile = timedProfile()
        profile.addSample(names: ["main", "counted"], value: 7)
        let data = try embeddedData(html(profile))
        let labels = try XCTUnwrap(data["labels"] as? [String])
        let label = try XCTUnwrap(data["label"] as? [Int])
        XCTAssertEqual((data["untimedNode"] as? [Int])?.map { labels[label[$0]] }, ["counted"])
        XCTAssertEqual(data["untimedWeight"] as? [Double], [7])
        XCTAssertEqual((data["time"] as? [Int])?.count, 100)

        var folded = Profile()
        folded.addSample(names: ["main", "a"], value: 3)
        let untimed = try embeddedData(html(folded))
        XCTAssertTrue((untimed["noTime"] as? String ?? "").contains("no times"))
        XCTAssertEqual((untimed["time"] as? [Int])?.count, 0)
        XCTAssertEqual(untimed["untimedWeight"] as? [Double], [3])
    }

    func testHostileNamesCannotEndTheScriptAndAreShownAsTheSVGShowsThem() throws {
        let markup = "</script><script>alert(1)</script><!--"
        let control = "a\u{1}b\u{7F}\u{2028}"
        var options = FlameGraphOptions()
        options.title = "</title><script>alert(2)</script>"
        let page = html(timedProfile(names: (markup, control)), options: options)
        XCTAssertEqual(page.components(separatedBy: "<script").count - 1, 2, "only the page's own script elements")
        XCTAssertEqual(page.components(separatedBy: "</script").count - 1, 2)
        XCTAssertFalse(page.contains("<!--"))
        XCTAssertTrue(page.contains("<title>&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;</title>"))
        let data = try embeddedData(page)
        let labels = try XCTUnwrap(data["labels"] as? [String])
        XCTAssertTrue(labels.contains(markup), "\(labels)")
        XCTAssertTrue(labels.contains("a\\x01b\\x7F\u{2028}"), "\(labels)")
        XCTAssertEqual(data["title"] as? String, options.title)
    }

    /// --reverse and --base shape the page's tree as they shape the graph of the recording:
    /// leaf functions at the root; re-rooted on a frame, stacks without it in no graph.
    func testReverseAndBaseShapeTheTree() throws {
        var profile = timedProfile()
        profile.addSample(frames: [("other", .user)], values: [1], labels: 0, time: 50 * second + 3_000_000_000)
        var options = FlameGraphOptions()
        options.reverse = true
        var data = try embeddedData(html(profile, options: options))
        var labels = try XCTUnwrap(data["labels"] as? [String])
        var label = try XCTUnwrap(data["label"] as? [Int])
        XCTAssertEqual(try XCTUnwrap(data["parent"] as? [Int]), [-1, 0, 1, 0, 0, 4])
        XCTAssertEqual(label.map { labels[$0] }, ["all", "one", "main", "other", "two", "main"])
        XCTAssertEqual((data["node"] as? [Int])?.count, 101)

        options = FlameGraphOptions()
        options.baseFrames = ["two"]
        data = try embeddedData(html(profile, options: options))
        labels = try XCTUnwrap(data["labels"] as? [String])
        label = try XCTUnwrap(data["label"] as? [Int])
        XCTAssertEqual(label.map { labels[$0] }, ["all", "two"])
        XCTAssertEqual((data["node"] as? [Int])?.count, 50, "only the samples with the base frame")
        XCTAssertEqual(Set(try XCTUnwrap(data["node"] as? [Int])), [1])
    }

    /// --notes are kept as the SVG keeps them (stored, escaped, not drawn); --min-width
    /// reaches the page.
    func testNotesAreStoredEscapedAndMinWidthIsPassedOn() throws {
        var options = FlameGraphOptions()
        options.notes = "\"><script>alert(3)</script>"
        options.minWidth = .percent(2.5)
        let page = html(timedProfile(), options: options)
        XCTAssertTrue(page.contains("<meta name=\"description\" content=\"&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;\">"))
        XCTAssertEqual(page.components(separatedBy: "<script").count - 1, 2)
        let data = try embeddedData(page)
        XCTAssertEqual(data["minWidthPercent"] as? Double, 2.5)
        XCTAssertNil(data["minWidthPixels"])
        XCTAssertEqual(try embeddedData(html(timedProfile()))["minWidthPixels"] as? Double, 0.1)
    }

    func testScriptsUseNoMarkupParsing() {
        for script in [TimeViewAssets.script.description, FlameGraphAssets.flameGraphFunction.description] {
            XCTAssertFalse(script.contains("innerHTML"))
            XCTAssertFalse(script.contains("insertAdjacentHTML"))
            XCTAssertFalse(script.contains("document.write"))
            XCTAssertFalse(script.lowercased().contains("</script"))
        }
    }

    /// A wall-clock recording: CPU samples are points, off-CPU blocks intervals (their
    /// length beside their end time), in the graph's unit (microseconds with a factor).
    func testOffCPUBlocksHaveTheirLengthAndTheChosenValues() throws {
        var profile = Profile(sampleTypes: [.samples, .cpuNanoseconds, .offCPUNanoseconds, .wallNanoseconds],
                              defaultSampleType: 3)
        profile.addSample(frames: [("main", .user), ("compute", .user)], values: [1, 10_000_000, 0, 10_000_000],
                          time: 1_000_000_000)
        profile.addSample(frames: [("main", .user), ("[off-cpu]", .offCPU)], values: [0, 0, 50_000_000, 50_000_000],
                          time: 1_060_000_000)
        var options = FlameGraphOptions()
        options.factor = 1e-3
        let data = try embeddedData(String(decoding: TimeView.htmlBytes(of: profile, options: options), as: UTF8.self))
        XCTAssertEqual(data["weight"] as? [Double], [10_000, 50_000], "microseconds of wall time")
        XCTAssertEqual(data["length"] as? [Int], [0, 50_000], "the block's length; the sample a point")
        XCTAssertEqual(data["time"] as? [Int], [0, 60_000])
        let counts = try embeddedData(String(decoding: TimeView.htmlBytes(of: profile, sampleType: 0), as: UTF8.self))
        XCTAssertEqual(counts["weight"] as? [Double], [1, 0])
    }

    func testWeightsAreKeptWhenSamplesCountDifferently() throws {
        var profile = Profile(sampleTypes: [.samples, .cpuNanoseconds], defaultSampleType: 1)
        profile.addSample(frames: [("main", .user)], values: [1, 1000], time: 10)
        profile.addSample(frames: [("main", .user)], values: [1, 3000], time: 20)
        let data = try embeddedData(html(profile))
        XCTAssertEqual(data["weight"] as? [Double], [1000, 3000])
    }
}
