import CEmberShim
import EmberTestSupport
import Foundation
import XCTest

/// `ember top` in a real terminal: tmux runs it in a pane of a known size, keys are sent
/// with send-keys and the screen read with capture-pane.
final class TopTests: RecordingTestCase {
    private var session = ""
    private var workload: Workload?

    private func tmux(_ arguments: [String]) throws -> CommandResult {
        try runProgram("/usr/bin/tmux", arguments)
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw XCTSkip("tmux is not installed (scripts/bootstrap installs it)")
        }
        session = "ember-top-\(getpid())-\(UUID().uuidString.prefix(6))"
    }

    override func tearDownWithError() throws {
        _ = try? tmux(["kill-session", "-t", session])
        workload?.stop()
        try super.tearDownWithError()
    }

    /// Starts `workload` (samples/split by default) and `ember top -p` on it in a 100×`rows`
    /// pane, inside a shell that notes the terminal's settings before and after, and ember's
    /// exit status.
    private func startTop(_ workload: Workload? = nil, options: String = "", rows: Int = 30) throws {
        let target = try workload ?? Workload(sample: "split", arguments: ["60"])
        self.workload = target
        let script = "trap true INT; stty -g > \(path("before")); \(emberBinary) top -F 499 \(options) -p \(target.pid); "
            + "echo $? > \(path("status")); stty -g > \(path("after")); sleep 60"
        // The tmux server would inherit a descriptor Foundation's Process watches to tell the
        // child's exit, so that starting it would wait for the server's end: Python's
        // subprocess starts it with every other descriptor closed.
        let started = try runProgram("/usr/bin/python3", [
            "-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)",
            "/usr/bin/tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "\(rows)", "sh", "-c", script,
        ])
        XCTAssertEqual(started.status, 0, started.stderr)
    }

    private func screen() throws -> [String] {
        let result = try tmux(["capture-pane", "-p", "-t", session])
        XCTAssertEqual(result.status, 0, result.stderr)
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }  // the text ends with a line break
        return lines
    }

    /// Waits until a screen satisfies `condition` (at most `seconds`), and returns it.
    private func waitFor(_ seconds: Double, _ what: String, _ condition: ([String]) -> Bool) throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [String] = []
        while Date() < deadline {
            guard try tmux(["has-session", "-t", session]).status == 0 else {
                XCTFail("\(what): the tmux session ended")
                return last
            }
            last = try screen()
            if condition(last) { return last }
            usleep(200_000)
        }
        XCTFail("\(what): the screen was\n\(last.joined(separator: "\n"))")
        return last
    }

    /// The rows of the function table: name → (self%, total%).
    private func rows(_ screen: [String]) -> [(name: String, selfPercent: Double, totalPercent: Double)] {
        screen.compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[0].hasSuffix("%"), fields[1].hasSuffix("%"),
                  let selfPercent = Double(fields[0].dropLast()), let totalPercent = Double(fields[1].dropLast())
            else { return nil }
            return (String(fields.last!), selfPercent, totalPercent)
        }
    }

    private func samples(_ screen: [String]) -> Int {
        guard let header = screen.first, let range = header.range(of: #"[\d,]+ samples"#, options: .regularExpression)
        else { return 0 }
        return Int(header[range].split(separator: " ")[0].filter(\.isNumber)) ?? 0
    }

    private func send(_ keys: String...) throws {
        XCTAssertEqual(try tmux(["send-keys", "-t", session] + keys).status, 0)
        usleep(300_000)
    }

    private func assertTerminalRestored() throws {
        let status = try waitForFile(path("status"))
        XCTAssertEqual(status.trimmingCharacters(in: .whitespacesAndNewlines), "0", "ember top's exit status")
        XCTAssertEqual(try String(contentsOfFile: path("after"), encoding: .utf8),
                       try String(contentsOfFile: path("before"), encoding: .utf8), "terminal settings after ember top")
        XCTAssertFalse(try screen().contains { $0.contains("ember top:") }, "the alternate screen was left")
    }

    private func waitForFile(_ file: String) throws -> String {
        for _ in 0..<50 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), !text.isEmpty { return text }
            usleep(100_000)
        }
        XCTFail("\(file) was not written: ember top did not end")
        return ""
    }

    func testHotFunctionTopsTheListCallersShowAndResizeRedraws() throws {
        try startTop()
        // split spends all its time in spin: 60% under path_a, 30% path_b, 10% path_c.
        // Enough samples that a 30% share is known within about 2 points on a busy machine.
        var lines = try waitFor(40, "spin at the top after 800 samples") { screen in
            samples(screen) >= 800 && rows(screen).first?.name == "spin"
        }
        XCTAssertTrue(lines[0].contains("ember top: split (pid \(workload!.pid))"), lines[0])
        XCTAssertGreaterThan(try XCTUnwrap(rows(lines).first).selfPercent, 90)

        try send("s")
        lines = try waitFor(3, "sorted by total") { $0.count > 1 && $0[1].contains("sort: total") }
        let byName = Dictionary(rows(lines).map { ($0.name, $0.totalPercent) }, uniquingKeysWith: max)
        XCTAssertEqual(try XCTUnwrap(byName["path_a"]), 60, accuracy: 6, lines.joined(separator: "\n"))
        XCTAssertEqual(try XCTUnwrap(byName["path_b"]), 30, accuracy: 5, lines.joined(separator: "\n"))
        XCTAssertEqual(try XCTUnwrap(byName["path_c"]), 10, accuracy: 4, lines.joined(separator: "\n"))

        // Back to self: spin is selected; Enter shows who calls it.
        try send("s")
        try send("Enter")
        lines = try waitFor(3, "callers of spin") { $0.contains { $0.hasPrefix("callers of spin") } }
        let callerShare = lines.compactMap { line -> (String, Double)? in
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0].hasSuffix("%"), let value = Double(fields[0].dropLast()) else { return nil }
            return (String(fields[2]), value)
        }
        XCTAssertEqual(callerShare.first?.0, "path_a", lines.joined(separator: "\n"))
        XCTAssertEqual(try XCTUnwrap(callerShare.first?.1), 60, accuracy: 6)
        try send("Escape")
        _ = try waitFor(3, "back to the table") { $0.contains { $0.contains("function") && $0.contains("self%") } }

        // A narrower window: redrawn to fit. tmux itself clips the old 80-column screen to 60
        // columns at once, so only ember's own cut (ending in …) shows the redraw happened.
        XCTAssertEqual(try tmux(["resize-window", "-t", session, "-x", "60", "-y", "20"]).status, 0)
        lines = try waitFor(3, "redrawn in 60 columns, long lines cut") { screen in
            screen.count <= 20 && screen.first?.hasPrefix("ember top: split") == true
                && screen.allSatisfy { $0.count <= 60 } && rows(screen).first?.name == "spin"
                && screen.contains { $0.hasSuffix("…") }
        }
        XCTAssertTrue(lines.allSatisfy { $0.count <= 60 }, "\(lines)")

        try send("q")
        try assertTerminalRestored()
    }

    /// The totals of the function table once `samples` are in and `condition` holds.
    private func totals(after samples: Int, seconds: Double, _ what: String,
                        _ condition: ([String: Double]) -> Bool = { _ in true }) throws -> [String: Double] {
        var totals: [String: Double] = [:]
        _ = try waitFor(seconds, what) { screen in
            totals = Dictionary(rows(screen).map { ($0.name, $0.totalPercent) }, uniquingKeysWith: max)
            return self.samples(screen) >= samples && condition(totals)
        }
        return totals
    }

    func testStacksThroughCodeWithoutFramePointersReachMain() throws {
        // samples/split-nofp keeps no frame pointers: only a CFI walk finds main under spin.
        try startTop(try Workload(sample: "split-nofp", arguments: ["60"]), options: "--sort total")
        let totals = try self.totals(after: 800, seconds: 40, "main under every sample") { ($0["main"] ?? 0) >= 99 }
        XCTAssertEqual(try XCTUnwrap(totals["path_a"]), 60, accuracy: 6, "\(totals)")
        XCTAssertEqual(try XCTUnwrap(totals["path_b"]), 30, accuracy: 5, "\(totals)")
        try send("q")
        try assertTerminalRestored()
    }

    func testPythonFunctionsAreNamed() throws {
        // Debian's python3 (stripped, no frame pointers): hot 60%, warm 30%, cool 10% of its
        // CPU time, named from its code objects, under the native frames that run them.
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("no \(python)") }
        try startTop(try Workload(executable: python, arguments: [Pythons.sample("split.py"), "--seconds", "60"]),
                     options: "--sort total", rows: 60)
        let totals = try self.totals(after: 1500, seconds: 40, "hot, warm and cool under main") { totals in
            ["hot", "warm", "cool", "main"].allSatisfy { totals[$0] != nil }
        }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(totals["main"]), 99, "\(totals)")
        XCTAssertEqual(try XCTUnwrap(totals["hot"]), 60, accuracy: 6, "\(totals)")
        XCTAssertEqual(try XCTUnwrap(totals["warm"]), 30, accuracy: 5, "\(totals)")
        XCTAssertEqual(try XCTUnwrap(totals["cool"]), 10, accuracy: 4, "\(totals)")
        try send("q")
        try assertTerminalRestored()
    }

    func testLBRWhereTheCPUHasNoneIsOneClearLine() throws {
        guard ember_probe_lbr_call_stack() != 0 else { throw XCTSkip("this CPU has LBR call stacks") }
        try startTop(options: "--unwind lbr 2> \(path("stderr"))")
        let status = try waitForFile(path("status"))
        XCTAssertNotEqual(status.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let stderr = try String(contentsOfFile: path("stderr"), encoding: .utf8)
        XCTAssertEqual(stderr.split(separator: "\n").count, 1, stderr)
        XCTAssertTrue(stderr.contains("--unwind lbr: this CPU exposes no Last Branch Record"), stderr)
    }

    func testCtrlCLeavesTheTerminalAsItWas() throws {
        try startTop()
        _ = try waitFor(15, "the view") { rows($0).count > 0 }
        try send("C-c")
        try assertTerminalRestored()
    }
}

/// Without a terminal, `ember top` prints one line and loads nothing.
final class TopWithoutTerminalTests: XCTestCase {
    func testNotATerminalIsAOneLineError() throws {
        let result = try ember(["top", "-p", "\(getpid())"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("top needs a terminal"), result.stderr)
    }
}
