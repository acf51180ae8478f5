import ArgumentParser
import EmberRecording
import EmberSampling

/// `ember record`'s options for off-CPU and wall-clock profiles.
struct OffCPUOptions: ParsableArguments {
    @Flag(name: .customLong("off-cpu"), help: ArgumentHelp(
        "Record where threads wait instead of where they run: the time each spends switched out, "
            + "by the stack it blocked in (counts in microseconds)."))
    var offCPU = false

    @Flag(name: .long, help: ArgumentHelp(
        "Record on-CPU samples and off-CPU time together, in microseconds: the widths add up to "
            + "each thread's wall-clock time."))
    var wall = false

    @Option(name: .customLong("min-block"), help: ArgumentHelp(
        "With --off-cpu or --wall: leave out blocks shorter than this (ns, us, ms or s; counted in "
            + "the report).", valueName: "duration"))
    var minBlock: String?

    @Option(name: .long, help: ArgumentHelp(
        "With --off-cpu or --wall: keep only blocks in these states, comma-separated: S (sleeping), "
            + "D (uninterruptible: disk, kernel locks), R (preempted), other.", valueName: "states"))
    var state: String?

    @Flag(name: .long, help: ArgumentHelp(
        "With --off-cpu or --wall: above each blocked stack, the stack of the task that woke it "
            + "(an off-wake graph: its frames marked _[w])."))
    var wakeups = false

    func validate() throws {
        if offCPU && wall { throw ValidationError("--off-cpu and --wall exclude each other (--wall includes off-CPU time)") }
        if !offCPU && !wall {
            if minBlock != nil { throw ValidationError("--min-block goes with --off-cpu or --wall") }
            if state != nil { throw ValidationError("--state goes with --off-cpu or --wall") }
            if wakeups { throw ValidationError("--wakeups goes with --off-cpu or --wall") }
        }
        if let minBlock, Self.nanoseconds(minBlock) == nil {
            throw ValidationError("--min-block must be a duration such as 500ns, 1us, 2ms or 1s (got '\(Self.quoted(minBlock))')")
        }
        if let state, Self.states(state) == nil {
            throw ValidationError("--state must list S, D, R or other, comma-separated (got '\(Self.quoted(state))')")
        }
    }

    /// A value as an error line quotes it: its first 40 characters, control characters left out.
    static func quoted(_ value: String) -> String {
        String(value.prefix(40).filter { !($0.asciiValue.map { $0 < 32 || $0 == 127 } ?? false) })
    }

    var mode: RecordingMode { offCPU ? .offCPU : wall ? .wall : .cpu }

    var configuration: OffCPUConfiguration {
        var configuration = OffCPUConfiguration()
        if let minBlock, let nanoseconds = Self.nanoseconds(minBlock) { configuration.minimumBlock = nanoseconds }
        if let state, let states = Self.states(state) { configuration.states = states }
        configuration.wakeups = wakeups
        return configuration
    }

    /// "500ns", "1us", "1µs", "2ms", "1.5s", "0" as nanoseconds; nil if malformed or over an hour.
    static func nanoseconds(_ text: String) -> UInt64? {
        if text == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
        guard let (suffix, scale) = units.first(where: { text.hasSuffix($0.0) }),
              let number = Double(text.dropLast(suffix.count)), number.isFinite, number >= 0,
              text.dropLast(suffix.count).allSatisfy({ $0.isNumber || $0 == "." })
        else { return nil }
        let nanoseconds = number * scale
        guard nanoseconds <= 3600e9 else { return nil }
        return UInt64(nanoseconds.rounded())
    }

    static func states(_ text: String) -> OffCPUStates? {
        var states: OffCPUStates = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch name {
            case "S", "s": states.insert(.interruptible)
            case "D", "d": states.insert(.uninterruptible)
            case "R", "r": states.insert(.runnable)
            case "other": states.insert(.other)
            default: return nil
            }
        }
        return states.isEmpty ? nil : states
    }
}
