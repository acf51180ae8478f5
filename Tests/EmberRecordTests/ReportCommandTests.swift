import EmberTestSupport
import Foundation
import XCTest

/// `ember report` as a user runs it: fixture files in, text out, 80 columns, no colour in a
/// pipe, a one-line error for bad input; and the hottest functions at the end of a recording.
final class ReportCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ember-report-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testFoldedFixtureTopFunctionsAndTree() throws {
        let path = try write("app.folded", """
            app;main;work;work;spin 60
            app;main;read;sys_read_[k] 30
            app;main 10
            """)
        let result = try ember(["report", path, "-n", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, """
            \(path): 100 samples in 3 stacks

            Top 3 functions by self:
             self%     self total%    total  function
             60.0%       60  60.0%       60  spin
             30.0%       30  30.0%       30  sys_read [k]
             10.0%       10 100.0%      100  main
            (2 more)

            Top 3 functions by total:
             self%     self total%    total  function
             10.0%       10 100.0%      100  main
             60.0%       60  60.0%       60  spin
              0.0%        0  60.0%       60  work
            (2 more)

            """)
        let tree = try ember(["report", path, "--tree", "--min-percent", "35", "--processes"])
        XCTAssertEqual(tree.status, 0, tree.stderr)
        XCTAssertEqual(tree.stdout, """
            \(path): 100 samples in 3 stacks

            Processes:
                 %  samples  process
            100.0%      100  app

            Call tree (callers → callees), frames under 35.0% left out:
            total%  self%  frame
            100.0%   0.0%  app
            100.0%  10.0%    main
             60.0%   0.0%      work
             60.0%   0.0%        work
             60.0%  60.0%          spin

            """)
    }

    func testPerfScriptInputByProcessAndThread() throws {
        let path = try write("perf.txt", """
            worker 12/12 1000.000001: 10101010 cpu-clock:
            \t400100 crunch (/usr/bin/worker)
            \t400000 main (/usr/bin/worker)

            worker 12/13 1000.000002: 10101010 cpu-clock:
            \t400100 crunch (/usr/bin/worker)
            \t400000 main (/usr/bin/worker)

            shell 40/40 1000.000003: 10101010 cpu-clock:
            \t500000 read_line (/usr/bin/shell)

            """)
        let result = try ember(["report", path, "--processes", "--functions"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("\(path): 0.03s of cpu-clock in 2 stacks\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains(" 66.7%    0.02s  66.7%    0.02s  crunch\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("""

            Processes:
                 % cpu-clock  process
             66.7%     0.02s  worker
             33.3%     0.01s  shell

            """), result.stdout)
    }

    func testPipedOutputFitsEightyColumnsWithoutEscapes() throws {
        let long = String(repeating: "a_very_long_templated_name<std::vector<int>>::", count: 6)
        let path = try write("long.folded", "app;main;\(long)run 5\napp;main 1\napp;evil\u{1B}]0;pwned\u{07} 1\n")
        for options in [[], ["--tree", "--min-percent", "0"], ["--processes", "--threads", "--libraries"]] {
            let result = try ember(["report", path] + options)
            XCTAssertEqual(result.status, 0, result.stderr)
            for line in result.stdout.split(separator: "\n") {
                XCTAssertLessThanOrEqual(line.count, 80, "\(options): \(line)")
            }
            XCTAssertFalse(result.stdout.contains("\u{1B}"), "\(options): escape codes in a pipe")
        }
    }

    func testBadInputIsAOneLineError() throws {
        for arguments in [["report", scratch.appendingPathComponent("missing.folded").path],
                          ["report", try write("empty.folded", "")],
                          ["report", "--min-percent", "150", try write("ok.folded", "a 1\n")]] {
            let result = try ember(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertFalse(result.stderr.isEmpty, "\(arguments)")
            XCTAssertLessThanOrEqual(result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") || $0.hasPrefix("ember") }.count,
                                     1, result.stderr)
        }
    }
}

/// `ember record` ends its report with the three hottest functions.
final class RecordHottestTests: RecordingTestCase {
    func testRecordNamesTheHottestFunctions() throws {
        let (result, folded) = try recordWorkload("split", options: ["-d", "1.5", "-F", "199", "--no-kernel"])
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("ember: hottest (self): ") },
                                 result.stderr)
        XCTAssertTrue(line.hasPrefix("ember: hottest (self): spin "), String(line))
        let percent = try XCTUnwrap(Double(line.dropFirst("ember: hottest (self): spin ".count).prefix { $0 != "%" }))
        XCTAssertEqual(percent, folded.share { $0.last == "spin" }, accuracy: 0.06)
    }
}
