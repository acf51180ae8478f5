import ArgumentParser
import EmberProfile
import EmberRecording
import EmberSystem

#if canImport(Glibc)
import Glibc
#endif

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the hottest functions of a process or of the whole system.",
        discussion: """
            Samples with BPF as ember record does (by default stacks walked by CFI in the \
            kernel, Python frames named); every second the view shows what was counted so \
            far: self and total percentages and samples of each function, \
            and its process. Keys: s sorts by self or total; f, l and p show functions, \
            libraries or processes; the arrows (or j, k) select a function and Enter shows \
            its callers and callees (Esc goes back); q quits. Ctrl-C leaves the terminal as \
            it was. Needs a terminal.

            Examples:
              ember top -p 4242
              ember top --all --no-kernel
            """)

    @Option(name: [.short, .long], help: "Watch this process: all of its threads, and its child processes.")
    var pid: Int32?

    @Flag(name: .long, help: "Watch every task on the system (but ember itself).")
    var all = false

    @Option(name: [.customShort("F"), .long], help: ArgumentHelp("Samples per second on each CPU.", valueName: "hz"))
    var frequency: Int = 99

    @Flag(name: .long, help: "Leave kernel frames out.")
    var noKernel = false

    @Option(name: .long, help: ArgumentHelp(
        "How user stacks are unwound, as for ember record: auto (CFI in the kernel), fp, dwarf or lbr.",
        valueName: "method"))
    var unwind: UnwindMode = .auto

    @Flag(name: .long, help: "Leave Python frames out: the interpreter's own frames only.")
    var noInterpreter = false

    @Option(help: "Sort functions by self or total samples.")
    var sort: TopSort = .self

    @Option(help: "Show functions, libraries or processes.")
    var view: TopView = .functions

    @Option(help: ArgumentHelp("Seconds between refreshes.", valueName: "seconds"))
    var interval = 1.0

    func validate() throws {
        guard (pid != nil) != all else { throw ValidationError("name exactly one target: --pid PID or --all") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        guard (1...100_000).contains(frequency) else { throw ValidationError("--frequency must be between 1 and 100000 Hz") }
        guard interval.isFinite, interval >= 0.1, interval <= 60 else {
            throw ValidationError("--interval must be between 0.1 and 60 seconds")
        }
    }

    func run() throws {
        // Before any BPF is loaded: a pipe gets one line and nothing else.
        let terminal = try Terminal()
        var settings = RecordingSettings(target: pid.map { .process($0) } ?? .system)
        settings.frequency = frequency
        settings.kernelStacks = !noKernel
        settings.unwind = unwind
        settings.interpreterFrames = !noInterpreter
        let live: LiveSession
        do { live = try LiveSession(settings: settings) } catch {
            terminal.restore()
            if let error = error as? RecordingError { throw EmberError(error.description) }
            throw error
        }
        var screen = TopScreen(sort: sort, view: view, frequency: frequency)
        let ending: String?
        do {
            ending = try screen.run(live: live, terminal: terminal, interval: interval)
        } catch {
            terminal.restore()
            live.close()
            throw error
        }
        terminal.restore()
        live.close()
        if let ending { writeStandardError("ember: \(ending)\n") }
    }
}

enum TopSort: String, ExpressibleByArgument, CaseIterable {
    case `self`, total
}

enum TopView: String, ExpressibleByArgument, CaseIterable {
    case functions, libraries, processes
}

/// What `ember top` shows and the keys that change it.
struct TopScreen {
    var sort: TopSort
    var view: TopView
    let frequency: Int
    /// The row selected, and the function whose callers and callees are shown.
    var selected = 0
    var expanded: String?

    /// Draws every `interval` seconds and on every key or resize until q, a signal or the
    /// target's end; returns what to say after the terminal is restored.
    mutating func run(live: LiveSession, terminal: Terminal, interval: Double) throws -> String? {
        var profile = live.profile()
        var summary = ProfileSummary(profile: profile, sampleType: 0)
        var lastRead = Clock.monotonicSeconds()
        var lastSize = (rows: 0, columns: 0)
        var dirty = true
        while true {
            if live.stopSignal != 0 { return nil }
            if live.targetExited { return "process \(live.targetPID ?? 0) exited" }
            try live.poll(milliseconds: 50)
            for key in terminal.keys() {
                if key == .character("q") || key == .character("Q") { return nil }
                handle(key, summary: summary)
                dirty = true
            }
            let size = terminal.size()
            if size != lastSize { lastSize = size; dirty = true }
            let now = Clock.monotonicSeconds()
            if now - lastRead >= interval {
                profile = live.profile()
                summary = ProfileSummary(profile: profile, sampleType: 0)
                lastRead = now
                dirty = true
            }
            if dirty {
                terminal.draw(lines(summary: summary, profile: profile, live: live, size: size))
                dirty = false
            }
        }
    }

    /// The rows of the current view, in order.
    func rows(_ summary: ProfileSummary) -> [ProfileSummary.Entry] {
        switch view {
        case .functions: return sort == .self ? summary.functions : summary.functionsByTotal
        case .libraries:
            return sort == .self ? summary.libraries
                : summary.libraries.sorted { $0.totalValue != $1.totalValue ? $0.totalValue > $1.totalValue : $0.name < $1.name }
        case .processes: return summary.processes
        }
    }

    mutating func handle(_ key: Terminal.Key, summary: ProfileSummary) {
        let count = rows(summary).count
        switch key {
        case .character("s"): sort = sort == .self ? .total : .self
        case .character("f"): view = .functions; expanded = nil; selected = 0
        case .character("l"): view = .libraries; expanded = nil; selected = 0
        case .character("p"): view = .processes; expanded = nil; selected = 0
        case .down, .character("j"): selected = min(selected + 1, max(count - 1, 0))
        case .up, .character("k"): selected = max(selected - 1, 0)
        case .enter:
            if expanded != nil {
                expanded = nil
            } else if view == .functions, selected < count {
                expanded = rows(summary)[selected].name
            }
        case .escape, .backspace, .character("h"): expanded = nil
        default: break
        }
    }

    /// The screen's lines for a terminal of `size`, each cut to its width.
    func lines(summary: ProfileSummary, profile: Profile, live: LiveSession, size: (rows: Int, columns: Int))
        -> [String] {
        let text = SummaryText(width: size.columns)
        let width = size.columns
        let target = live.targetPID.map { pid in live.targetName.map { "\($0) (pid \(pid))" } ?? "pid \(pid)" }
            ?? "all tasks"
        let elapsed = Clock.monotonicSeconds() - live.started
        var lines: [String] = []
        lines.append(text.cut("ember top: \(target) · \(formatSeconds(elapsed)) · \(formatCount(UInt64(summary.total))) "
            + "samples at \(frequency) Hz", width))
        lines.append(text.cut("\(view.rawValue) (f l p) · sort: \(sort.rawValue) (s) · ↑↓ select · Enter callers/callees · q quit",
                              width))
        let notShown = live.samplesNotShown
        lines.append(notShown > 0 ? text.cut("\(formatCount(notShown)) samples lost (the ring buffer was full): "
            + "not in this view", width) : "")
        let available = max(size.rows - lines.count - 1, 1)
        if let function = expanded {
            lines += neighborLines(function, profile: profile, total: summary.total, text: text, rows: available)
            return Array(lines.prefix(size.rows))
        }
        let rows = rows(summary)
        let selected = min(self.selected, max(rows.count - 1, 0))
        let processWidth = view == .processes ? 0 : min(16, max(8, width / 6))
        let numbers = view == .processes ? "     %  samples" : " self%  total%     self    total"
        let heading = numbers + "  " + (processWidth > 0 ? text.pad("process", processWidth) + "  " : "")
        let nameHeading = view == .functions ? "function" : view == .libraries ? "library" : "process"
        lines.append(text.cut(heading + nameHeading, width))
        // Keep the selected row on the screen.
        let first = max(0, selected - available + 1)
        for (index, entry) in rows.enumerated().dropFirst(first).prefix(available) {
            var line: String
            if view == .processes {
                line = text.pad(SummaryText.percent(entry.totalValue, of: summary.total), 6, right: true) + " "
                    + text.pad(formatCount(UInt64(entry.totalValue)), 8, right: true) + "  "
            } else {
                line = text.pad(SummaryText.percent(entry.selfValue, of: summary.total), 6, right: true) + " "
                    + text.pad(SummaryText.percent(entry.totalValue, of: summary.total), 7, right: true) + " "
                    + text.pad(formatCount(UInt64(entry.selfValue)), 8, right: true) + " "
                    + text.pad(formatCount(UInt64(entry.totalValue)), 8, right: true) + "  "
                let process = (entry.process ?? "") + (entry.processCount > 1 ? " +\(entry.processCount - 1)" : "")
                line += text.pad(text.cut(process, processWidth), processWidth) + "  "
            }
            line = text.cut(line + entry.name, width)
            lines.append(index == selected && view == .functions ? "\u{1B}[7m" + text.pad(line, width) + "\u{1B}[0m" : line)
        }
        return lines
    }

    private func neighborLines(_ function: String, profile: Profile, total: Double, text: SummaryText, rows: Int) -> [String] {
        let (callers, callees) = ProfileSummary.neighbors(of: function, in: profile, sampleType: 0)
        let half = max((rows - 4) / 2, 1)
        var lines = [text.cut("callers of \(function) (Esc: back):", text.width)]
        func row(_ entry: ProfileSummary.Entry) -> String {
            text.cut(text.pad(SummaryText.percent(entry.totalValue, of: total), 7, right: true) + " "
                + text.pad(formatCount(UInt64(entry.totalValue)), 8, right: true) + "  " + entry.name, text.width)
        }
        lines += callers.prefix(half).map(row)
        lines.append("")
        lines.append(text.cut("\(function) calls:", text.width))
        lines += callees.prefix(half).map(row)
        return lines
    }
}
