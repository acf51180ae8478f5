import EmberProfile
import EmberRendering
import EmberSampling
import EmberSymbolization

/// The result of `ember record`: the profile and everything the report says about it.
struct Recording {
    let settings: RecordingSettings
    let samples: RawSamples
    let profile: Profile
    let lostStacks: [String: UInt64]
    let statistics: SymbolizationStatistics
    let elapsed: Double
    let endReason: String
    /// When the events were disabled: the report says how long writing the outputs took.
    let samplingEnded: Double
    let kernelSymbolsVisible: Bool

    func foldedText() -> String { FoldedWriter.text(of: profile) }

    func svg() -> String {
        var options = FlameGraphOptions()
        options.title = settings.title ?? "ember: \(targetDescription)"
        options.subtitle = "\(formatCount(UInt64(profile.totalSamples))) samples at "
            + "\(settings.frequency) Hz over \(formatSeconds(elapsed))"
        return FlameGraph.svg(of: profile, options: options)
    }

    private var targetDescription: String {
        switch settings.target {
        case .process(let pid): return "process \(pid)"
        case .command(let arguments): return arguments.joined(separator: " ")
        case .system: return "all tasks"
        }
    }

    /// The end-of-run summary on stderr: samples, stacks, every loss, files written.
    func report(written: [String]) {
        let counters = samples.counters
        let stored = UInt64(profile.totalSamples)
        let seen = max(counters.samples, stored)
        var lines: [String] = []
        let processes = Set(samples.counts.keys.map(\.pid)).count
        let threads = Set(samples.counts.keys.map(\.tid)).count
        lines.append(
            "\(formatCount(seen)) samples of \(processes) process\(processes == 1 ? "" : "es") "
                + "(\(threads) thread\(threads == 1 ? "" : "s")) in \(formatSeconds(elapsed)) at "
                + "\(settings.frequency) Hz, \(formatCount(profile.uniqueStacks)) unique stacks (\(endReason))")
        if counters.countsMapFull > 0 {
            lines.append("\(formatCount(counters.countsMapFull)) of \(formatCount(seen)) samples lost: "
                + "counts map full (raise --counts-map-size)")
        }
        for (reason, count) in lostStacks.sorted(by: { $0.key < $1.key }) {
            lines.append("\(formatCount(count)) of \(formatCount(seen)) samples lost their \(reason)")
        }
        if counters.targetsMapFull > 0 {
            lines.append("\(formatCount(counters.targetsMapFull)) child processes not followed: targets map full")
        }
        let unresolved = statistics.unresolvedUserAddresses + statistics.unresolvedKernelAddresses
        let addresses = statistics.userAddresses + statistics.kernelAddresses
        if unresolved > 0 {
            lines.append("\(formatCount(unresolved)) of \(formatCount(addresses)) addresses unresolved "
                + "(shown as module+0xOFFSET or [unknown])")
        }
        if !statistics.unreadableFiles.isEmpty {
            lines.append("could not read symbols of: "
                + Array(Set(statistics.unreadableFiles)).sorted().prefix(5).joined(separator: ", "))
        }
        if !kernelSymbolsVisible {
            lines.append("kernel symbols hidden (kernel.kptr_restrict): kernel frames are unnamed")
        }
        if seen == 0 {
            lines.append("no samples: the target ran no code on a CPU while recording")
        }
        lines.append("wrote " + written.joined(separator: ", ")
            + " \(format3(monotonicSeconds() - samplingEnded)) s after sampling ended")
        for line in lines { writeStderr("ember: \(line)\n") }
    }
}

func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
