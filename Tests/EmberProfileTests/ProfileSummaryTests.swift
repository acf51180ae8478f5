import EmberProfile
import EmberTestSupport
import Foundation
import XCTest

/// `ember report`'s figures: self and total per function, library, process and thread, the
/// tables' and tree's text; checked against `go tool pprof -top` on real Go profiles.
final class ProfileSummaryTests: XCTestCase {
    private func folded(_ text: String) -> Profile { FoldedReader.read(bytes: Array(text.utf8)).profile }

    private func entry(_ entries: [ProfileSummary.Entry], _ name: String) throws -> ProfileSummary.Entry {
        try XCTUnwrap(entries.first { $0.name == name }, "no \(name) in \(entries.map(\.name))")
    }

    /// Self and total of `name`.
    private func values(_ entries: [ProfileSummary.Entry], _ name: String) throws -> [Double] {
        let found = try entry(entries, name)
        return [found.selfValue, found.totalValue]
    }

    /// Recursion counts once in total; an inlined copy is its function; kernel code keeps its kind.
    func testSelfAndTotalOfAFoldedFixture() throws {
        let profile = folded("""
            app;main;work;work;work 6
            app;main;work;helper_[i];read;sys_read_[k] 3
            app;main;read 1
            """)
        let summary = ProfileSummary(profile: profile, rootsAreProcesses: true)
        XCTAssertEqual(summary.total, 10)
        XCTAssertEqual(summary.stackCount, 3)
        XCTAssertEqual(try values(summary.functions, "work"), [6, 9])
        XCTAssertEqual(try values(summary.functions, "main"), [0, 10])
        XCTAssertEqual(try values(summary.functions, "helper"), [0, 3])
        XCTAssertEqual(try values(summary.functions, "read"), [1, 4])
        XCTAssertEqual(try values(summary.functions, "sys_read [k]"), [3, 3])
        XCTAssertEqual(summary.functions.map(\.name).prefix(3), ["work", "sys_read [k]", "read"])
        XCTAssertEqual(summary.functionsByTotal.first?.name, "main")
        // The root is the process, not a function.
        XCTAssertNil(summary.functions.first { $0.name == "app" })
        XCTAssertEqual(summary.processes, [.init(name: "app", selfValue: 10, totalValue: 10)])
        XCTAssertTrue(summary.threads.isEmpty)
        XCTAssertTrue(summary.libraries.isEmpty)
    }

    /// The report's hottest functions are the summary's self values, without its totals.
    func testHottestFunctionsAreTheSummarysSelfValues() throws {
        var profile = folded("""
            app;main;work;work;work 6
            app;main;work;helper_[i];read;sys_read_[k] 3
            app;main;read 1
            app;main;spin 6
            """)
        // A stack whose innermost frame is a thread: no function's self.
        let process = profile.addLocation(Location(mapping: -1, kind: .process, lines: [Line(function: profile.addFunction(name: "app"))]))
        let thread = profile.addLocation(Location(mapping: -1, kind: .thread, lines: [Line(function: profile.addFunction(name: "t"))]))
        profile.addSample(stack: profile.addStack(rootFirst: [process, thread]), values: [2])
        let summary = ProfileSummary(profile: profile)
        let (hottest, total) = ProfileSummary.hottestFunctions(in: profile, count: 3)
        XCTAssertEqual(total, summary.total)
        XCTAssertEqual(hottest.map(\.name), ["spin", "work", "sys_read [k]"], "by self, then by name")
        for found in hottest { XCTAssertEqual(found.selfValue, try entry(summary.functions, found.name).selfValue) }
        let all = ProfileSummary.hottestFunctions(in: profile, count: 100).functions
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.selfValue) }),
                       Dictionary(uniqueKeysWithValues: summary.functions.filter { $0.selfValue > 0 }.map { ($0.name, $0.selfValue) }))
    }

    func testCallersAndCalleesOfAFunction() throws {
        let profile = folded("app;main;work;spin 6\napp;main;work;work;spin 2\napp;idle;work 1\napp;main;work 3\n")
        let summary = ProfileSummary(profile: profile, rootsAreProcesses: true)
        XCTAssertEqual(try entry(summary.functions, "work").process, "app")
        XCTAssertEqual(try entry(summary.functions, "work").processCount, 1)
        let (callers, callees) = ProfileSummary.neighbors(of: "work", in: profile)
        XCTAssertEqual(callers.map { [$0.name: $0.totalValue] }, [["main": 11], ["idle": 1]])
        XCTAssertEqual(callees.map { [$0.name: $0.totalValue] }, [["spin": 6], ["(self)": 4], ["work": 2]])
        XCTAssertEqual(ProfileSummary.neighbors(of: "main", in: profile).callers.map(\.name), ["app"])
    }

    func testWithoutRootsAsProcessesTheRootIsAFunction() throws {
        let summary = ProfileSummary(profile: folded("app;main 2\nother 1\n"))
        XCTAssertEqual(try entry(summary.functions, "app").totalValue, 2)
        XCTAssertTrue(summary.processes.isEmpty)
    }

    /// A recording's pprof: the comm label is the process, tid and thread_name the thread,
    /// mappings the libraries.
    func testProcessesThreadsAndLibrariesOfAProfile() throws {
        var profile = Profile(sampleTypes: [.samples])
        let libc = profile.addMapping(Mapping(start: 0x1000, limit: 0x2000, fileOffset: 0, file: "/usr/lib/libc.so.6"))
        let app = profile.addMapping(Mapping(start: 0x5000, limit: 0x6000, fileOffset: 0, file: "/opt/app"))
        func location(_ name: String, _ mapping: Int32, kind: FrameKind = .user) -> Int32 {
            profile.addLocation(Location(mapping: mapping, kind: kind, lines: [Line(function: profile.addFunction(name: name))]))
        }
        let process = location("app", -1, kind: .process)
        let main = location("main", app), memcpy = location("memcpy", libc)
        for (tid, name, count) in [(11, "worker", 3.0), (12, "io", 1.0)] {
            let labels = profile.addLabelSet([
                Label(key: profile.intern(LabelKey.tid), number: Int64(tid)),
                Label(key: profile.intern(LabelKey.threadName), text: profile.intern(name)),
            ])
            profile.addSample(stack: profile.addStack(rootFirst: [process, main, memcpy]), values: [count], labels: labels)
            profile.addSample(stack: profile.addStack(rootFirst: [process, main]), values: [1], labels: labels)
        }
        let summary = ProfileSummary(profile: profile)
        XCTAssertEqual(summary.total, 6)
        XCTAssertEqual(summary.processes, [.init(name: "app", selfValue: 6, totalValue: 6)])
        XCTAssertEqual(summary.threads, [.init(name: "worker (11)", selfValue: 4, totalValue: 4),
                                         .init(name: "io (12)", selfValue: 2, totalValue: 2)])
        XCTAssertEqual(summary.libraries, [.init(name: "libc.so.6", selfValue: 4, totalValue: 4, process: "app", processCount: 1),
                                           .init(name: "app", selfValue: 2, totalValue: 6, process: "app", processCount: 1)])
        XCTAssertEqual(try entry(summary.functions, "memcpy").process, "app")
        XCTAssertNil(summary.functions.first { $0.name == "app" })
    }

    /// The same figures as pprof's own `-top`, on the CPU and heap profiles Go writes.
    func testSelfAndTotalPercentagesMatchGoToolPprofTop() throws {
        let directory = NSTemporaryDirectory() + "ember-summary-go-\(getpid())"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let (cpu, heap) = try GoPprof.sampleProfiles(in: directory)
        for (file, type) in [(cpu, "cpu"), (cpu, "samples"), (heap, "inuse_space"), (heap, "alloc_objects")] {
            let profile = try PprofReader.read(Array(try Data(contentsOf: URL(fileURLWithPath: file))), name: file)
            let summary = ProfileSummary(profile: profile, sampleType: profile.sampleType(named: type))
            let rows = try GoPprof.top(file, sampleIndex: type)
            XCTAssertFalse(rows.isEmpty, "\(file) \(type)")
            XCTAssertEqual(Set(rows.map(\.name)), Set(summary.functions.filter { $0.totalValue != 0 }.map(\.name)),
                           "\(file) \(type)")
            for row in rows {
                let mine = try entry(summary.functions, row.name)
                // pprof prints percentages with two decimals, two significant digits under 1%,
                // and "100%" for anything from 99.95% to 100.05% (its measurement.Percentage).
                func accuracy(_ printed: Double) -> Double { printed == 100 ? 0.05 : 0.006 }
                XCTAssertEqual(mine.selfValue / summary.total * 100, row.flatPercent, accuracy: accuracy(row.flatPercent),
                               "\(file) \(type) flat% of \(row.name)")
                XCTAssertEqual(mine.totalValue / summary.total * 100, row.cumulativePercent,
                               accuracy: accuracy(row.cumulativePercent), "\(file) \(type) cum% of \(row.name)")
            }
            if type == "cpu" {
                XCTAssertEqual(summary.functionsByTotal.first { $0.name.hasPrefix("main.hot") }?.name, "main.hotA")
            }
        }
    }

    // MARK: - Text

    func testTablesFitTheWidthAndCutLongNames() throws {
        let long = String(repeating: "very_long_function_name_", count: 8)
        let profile = folded("app;main;\(long) 90\napp;main 10\n")
        let summary = ProfileSummary(profile: profile, rootsAreProcesses: true)
        let text = SummaryText().table("Top functions by self:", summary.functions, total: summary.total,
                                       unit: summary.valueType, limit: 10)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "Top functions by self:")
        XCTAssertEqual(lines[1], " self%     self total%    total  function")
        XCTAssertTrue(lines[2].hasPrefix(" 90.0%       90  90.0%       90  very_long_function_name_"), lines[2])
        XCTAssertTrue(lines[2].hasSuffix("…"), lines[2])
        XCTAssertEqual(lines[3], " 10.0%       10 100.0%      100  main")
        for line in lines { XCTAssertLessThanOrEqual(line.count, 80, line) }
        XCTAssertFalse(text.contains("\u{1B}"), "no escape codes unless asked")
        XCTAssertTrue(SummaryText(color: true).heading("Top").contains("\u{1B}[1m"))
    }

    func testHostileNamesCannotDriveTheTerminal() throws {
        let summary = ProfileSummary(profile: folded("app;evil\u{1B}[2Jname\u{07} 1\n"), rootsAreProcesses: true)
        let text = SummaryText().table("t", summary.functions, total: summary.total, unit: summary.valueType, limit: 5)
        XCTAssertFalse(text.contains("\u{1B}"), text)
        XCTAssertFalse(text.contains("\u{07}"), text)
        XCTAssertTrue(text.contains("evil\\x1b[2Jname\\x07"), text)
    }

    func testTreeListsCallersAboveCalleesAndPrunesSmallFrames() {
        var builder = FrameTreeBuilder(tracksSelfSamples: true)
        builder.add(folded("app;main;a;spin 60\napp;main;b;spin 30\napp;main;c 9\napp;main;tiny 1\n"))
        let text = SummaryText().tree(builder.finishTree(), minPercent: 5)
        XCTAssertEqual(text, """
            Call tree (callers → callees), frames under 5.0% left out:
            total%  self%  frame
            100.0%   0.0%  app
            100.0%   0.0%    main
             60.0%   0.0%      a
             60.0%  60.0%        spin
             30.0%   0.0%      b
             30.0%  30.0%        spin
              9.0%   9.0%      c

            """)
    }

    func testValueFormats() {
        XCTAssertEqual(ValueFormat(.samples).text(2970), "2,970")
        XCTAssertEqual(ValueFormat(.cpuNanoseconds).text(1_234_000_000), "1.23s")
        XCTAssertEqual(ValueFormat(ValueType(type: "inuse_space", unit: "bytes")).text(3 * 1024 * 1024), "3.0MB")
        XCTAssertEqual(ValueFormat(.samples).text(2.5), "2.50")
    }
}
