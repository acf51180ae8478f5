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
    /// The target process's name, for the title (with --pid).
    let targetName: String?
    let unwinding: UnwindingReport
    /// Distinct processes and threads over all stacks (kernel-counted and DWARF).
    let processCount: Int
    let threadCount: Int

    func foldedText() -> String { FoldedWriter.text(of: profile) }

    func svg() -> [UInt8] {
        var options = FlameGraphOptions()
        options.title = settings.title ?? "ember: \(targetDescription)"
        options.subtitle = "\(formatCount(UInt64(profile.totalSamples))) samples at "
            + "\(settings.frequency) Hz over \(formatSeconds(elapsed))"
        return FlameGraph.svgBytes(of: profile, options: options)
    }

    private var targetDescription: String {
        switch settings.target {
        case .process(let pid): return targetName.map { "\($0) (pid \(pid))" } ?? "process \(pid)"
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
        let processes = processCount
        let threads = threadCount
        lines.append(
            "\(formatCount(seen)) samples of \(processes) process\(processes == 1 ? "" : "es") "
                + "(\(threads) thread\(threads == 1 ? "" : "s")) in \(formatSeconds(elapsed)) at "
                + "\(settings.frequency) Hz, \(formatCount(profile.uniqueStacks)) unique stacks (\(endReason))")
        lines += unwindingLines(seen: seen)
        for (reason, count) in lostStacks.sorted(by: { $0.key < $1.key }) {
            lines.append("\(formatCount(count)) of \(formatCount(seen)) samples lost their \(reason)")
        }
        // Whatever the reason, every sample the BPF program saw is either in the profile or
        // counted as lost here.
        if counters.samples > stored {
            lines.append("\(formatCount(counters.samples - stored)) of \(formatCount(seen)) samples "
                + "did not reach the profile")
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

extension Recording {
    /// Which method unwound which process, and everything the unwinders could not finish.
    func unwindingLines(seen: UInt64) -> [String] {
        var lines: [String] = []
        let dwarf = unwinding.ringBuffer
        switch unwinding.mode {
        case .lbr:
            var caveat = ""
            if case .command = settings.target {} else {
                caveat = "; calls made before recording began are not in it"
            }
            lines.append("unwound with the CPU's Last Branch Record (\(formatCount(dwarf.branchSamples)) stacks\(caveat))")
        case .fp:
            lines.append("unwound with frame pointers (\(formatCount(unwinding.uniqueKernelKeys)) distinct keys in the kernel)")
        case .dwarf:
            lines.append("unwound with DWARF CFI (\(formatCount(dwarf.samples)) stacks, "
                + "\(format3(dwarf.unwindSeconds)) s of CPU unwinding)")
        case .auto:
            var parts: [String] = []
            if !unwinding.framePointerProcesses.isEmpty {
                parts.append("frame pointers for " + summarize(unwinding.framePointerProcesses))
            }
            if !unwinding.dwarfProcesses.isEmpty {
                parts.append("DWARF CFI for " + summarize(unwinding.dwarfProcesses))
            }
            lines.append("unwound with " + (parts.isEmpty ? "frame pointers" : parts.joined(separator: "; "))
                + (dwarf.samples > 0 ? " (\(format3(dwarf.unwindSeconds)) s of CPU unwinding)" : ""))
        }
        if unwinding.leafFix.restored > 0 {
            lines.append("restored the caller of a frameless function in \(formatCount(unwinding.leafFix.restored)) samples")
        }
        if unwinding.leafFix.unrecoverable > 0 {
            lines.append("\(formatCount(unwinding.leafFix.unrecoverable)) of \(formatCount(seen)) samples may miss "
                + "the caller of a frameless function (return address not recorded)")
        }
        if dwarf.truncated > 0 {
            lines.append("\(formatCount(dwarf.truncated)) of \(formatCount(dwarf.samples)) DWARF stacks were deeper "
                + "than the copy: shown under [truncated] (raise --stack-size)")
        }
        if dwarf.branchTruncated > 0 {
            lines.append("\(formatCount(dwarf.branchTruncated)) of \(formatCount(dwarf.branchSamples)) LBR stacks "
                + "filled the Last Branch Record (older calls lost): shown under [truncated]")
        }
        if dwarf.unknownEnd > 0 {
            lines.append("\(formatCount(dwarf.unknownEnd)) of \(formatCount(dwarf.samples)) DWARF stacks could not "
                + "be unwound to their root: shown under [unknown]")
        }
        if samples.counters.overflowSamples > 0 {
            let overflow = samples.counters.overflowSamples
            lines.append("\(formatCount(overflow)) \(overflow == 1 ? "sample was" : "samples were") sent whole to user space "
                + "(stack map bucket taken or counts map full), none lost")
        }
        if samples.counters.processEventsLost > 0 {
            lines.append("\(formatCount(samples.counters.processEventsLost)) fork and exec events found the ring "
                + "buffer full: those processes were read up to a second late (their frames may be [unknown])")
        }
        if samples.counters.ringBufferFull > 0 {
            lines.append("\(formatCount(samples.counters.ringBufferFull)) of \(formatCount(seen)) samples lost: "
                + "ring buffer full (lower -F or --stack-size)")
        }
        return lines
    }

    private func summarize(_ processes: [String]) -> String {
        processes.count <= 3 ? processes.joined(separator: ", ")
            : processes.prefix(3).joined(separator: ", ") + " and \(processes.count - 3) more"
    }
}

func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
