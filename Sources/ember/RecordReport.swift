import EmberProfile
import EmberRecording
import EmberSystem
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// The end-of-run summary `ember record` prints on stderr: samples, stacks, every loss,
/// the files written.
struct RecordReportText {
    let recording: Recording
    private var report: RecordingReport { recording.report }
    private var settings: RecordingSettings { recording.settings }

    /// What the flame graph's title names.
    static func targetDescription(_ recording: Recording) -> String {
        switch recording.settings.target {
        case .process(let pid): return recording.report.targetName.map { "\($0) (pid \(pid))" } ?? "process \(pid)"
        case .command(let arguments): return arguments.joined(separator: " ")
        case .system: return "all tasks"
        }
    }

    func lines(written: [String]) -> [String] {
        let counters = report.counters
        let stored = report.storedSamples
        let seen = report.samplesSeen
        var lines: [String] = []
        let processes = report.processCount
        let threads = report.threadCount
        if let offCPU = report.offCPU, settings.mode == .offCPU {
            lines.append(
                "\(formatMilliseconds(offCPU.storedNanoseconds)) off-CPU of \(processes) process\(processes == 1 ? "" : "es") "
                    + "(\(threads) thread\(threads == 1 ? "" : "s")) in \(formatSeconds(report.elapsed)), "
                    + "\(formatCount(report.uniqueStacks)) unique stacks (\(endReason))")
            lines += offCPULines(offCPU)
            if let stolen = stolenLine() { lines.append(stolen) }
            lines.append("wrote " + written.joined(separator: ", ")
                + " \(format3(Clock.monotonicSeconds() - report.samplingEnded)) s after recording ended")
            return lines
        }
        lines.append(
            "\(formatCount(seen)) samples of \(processes) process\(processes == 1 ? "" : "es") "
                + "(\(threads) thread\(threads == 1 ? "" : "s")) in \(formatSeconds(report.elapsed)) at "
                + "\(settings.frequency) Hz, \(formatCount(report.uniqueStacks)) unique stacks (\(endReason))")
        lines += unwindingLines(seen: seen)
        if let python = report.python { lines += pythonLines(python, seen: seen) }
        if report.processesAddedAsTheyEnded > 0 {
            lines.append("symbolized \(formatCount(report.processesAddedAsTheyEnded)) processes as they ended, "
                + "and let go of their maps")
        }
        if report.filesClosedUnmapped > 0 {
            lines.append("closed \(formatCount(report.filesClosedUnmapped)) files no process mapped any more")
        }
        for (reason, count) in report.lostStacks.sorted(by: { $0.key < $1.key }) {
            lines.append("\(formatCount(count)) of \(formatCount(seen)) samples lost their \(reason)")
        }
        // Whatever the reason, every sample the BPF program saw is either in the profile or
        // counted as lost here.
        if counters.samples > stored {
            lines.append("\(formatCount(counters.samples - stored)) of \(formatCount(seen)) samples "
                + "did not reach the profile")
        }
        if report.threadsWithoutLabels > 0 {
            lines.append("\(formatCount(report.threadsWithoutLabels)) threads past the first "
                + "\(formatCount(RecordingReport.labelledThreadLimit)) keep their samples without pid and tid labels")
        }
        if report.mergedAddresses > 0 {
            lines.append("\(formatCount(report.mergedAddresses)) frames at addresses past the first "
                + "\(formatCount(report.locationLimit)) joined the location of their function and line (unnamed "
                + "code: of its file, as [file]); raise --max-locations to keep each address")
        }
        if counters.targetsMapFull > 0 {
            lines.append("\(formatCount(counters.targetsMapFull)) child processes not followed: targets map full")
        }
        let statistics = report.symbolization
        let unresolved = statistics.unresolvedUserAddresses + statistics.unresolvedKernelAddresses
        let addresses = statistics.userAddresses + statistics.kernelAddresses
        if unresolved > 0 {
            lines.append("\(formatCount(unresolved)) of \(formatCount(addresses)) addresses unresolved "
                + "(shown as module+0xOFFSET or [unknown])")
        }
        if !statistics.unreadableFiles.isEmpty {
            lines.append("could not read symbols of: "
                + statistics.unreadableFiles.sorted().prefix(5).joined(separator: ", "))
        }
        if !report.kernelSymbolsVisible {
            lines.append("kernel symbols hidden (kernel.kptr_restrict): kernel frames are unnamed")
        }
        if let offCPU = report.offCPU {
            lines.append("and \(formatMilliseconds(offCPU.storedNanoseconds)) off-CPU")
            lines += offCPULines(offCPU)
        }
        if seen == 0 && report.offCPU == nil {
            lines.append("no samples: the target ran no code on a CPU while recording")
        }
        if let stolen = stolenLine() { lines.append(stolen) }
        if let hottest = hottestLine() { lines.append(hottest) }
        lines.append("wrote " + written.joined(separator: ", ")
            + " \(format3(Clock.monotonicSeconds() - report.samplingEnded)) s after sampling ended")
        return lines
    }

    /// Time the hypervisor took from the machine, which no stack can hold.
    private func stolenLine() -> String? {
        guard let stolen = report.notableStolenSeconds else { return nil }
        let cpus = report.onlineCPUs
        return "steal: the hypervisor took \(format3(stolen)) s of the \(cpus) CPU\(cpus == 1 ? "" : "s")' "
            + "\(format3(report.elapsed * Double(cpus))) s; a CPU taken away takes no sample and switches no thread out, "
            + "so that time is in no stack"
    }

    /// The three functions with the most self time: the first answer, before a file is opened.
    private func hottestLine() -> String? {
        let (functions, total) = ProfileSummary.hottestFunctions(in: recording.profile, count: 3)
        let hottest = functions.filter { $0.selfValue > 0 }
        guard !hottest.isEmpty else { return nil }
        return "hottest (self): " + hottest.map { "\($0.name) \(SummaryText.percent($0.selfValue, of: total))" }
            .joined(separator: ", ")
    }

    /// Off-CPU blocks: how many, what each filter dropped, every loss.
    func offCPULines(_ offCPU: OffCPUReport) -> [String] {
        let counters = offCPU.counters
        var lines: [String] = []
        var method = "stacks by frame pointers"
        let fallbacks = counters.cfiPending + counters.cfiNeedsCopy + counters.cfiStacksFull
        let walked = counters.cfiStacks + counters.walkedStacksSent
        if walked > 0 || fallbacks > 0 {
            let whose = offCPU.configuration.wakeups ? " (blocked threads' and their wakers')" : ""
            method = "\(formatCount(walked)) stacks\(whose) walked in the kernel by CFI, the others by frame pointers"
        }
        if report.unwinding.mode == .dwarf {
            let unwinding = offCPU.ringBufferStacks.unwinding
            method = "\(formatCount(counters.stackCopies)) stacks copied at switch-out and unwound with DWARF CFI "
                + "(\(formatCount(unwinding.complete)) to their root, \(format3(unwinding.unwindSeconds)) s of CPU unwinding)"
            if offCPU.configuration.wakeups { method += ", their wakers' by frame pointers" }
        } else if !report.unwinding.dwarfProcesses.isEmpty {
            method += " (processes auto unwinds by DWARF get frame-pointer off-CPU stacks, which end early without "
                + "frame pointers: --unwind dwarf copies them)"
        }
        lines.append("off-CPU: \(formatCount(counters.blocks)) blocks kept of "
            + "\(formatCount(counters.switches + counters.blockedAtStart)) switch-outs, " + method)
        for (count, reason) in [
            (counters.cfiPending, "a pc in a file whose unwind table was not loaded yet, or in no known mapping"),
            (counters.cfiNeedsCopy, "CFI the kernel's walk does not follow (a DWARF expression)"),
            (counters.cfiStacksFull, "the map of walked stacks was full or their hash taken (raise --stack-map-size)"),
        ] where count > 0 {
            lines.append("\(formatCount(count)) off-CPU stacks by frame pointers instead of CFI: \(reason)")
        }
        lines += ringBufferStackLines(offCPU)
        lines += offCPUPythonLines(offCPU)
        if offCPU.leafFix.unrecoverable > 0 {
            lines.append("\(formatMilliseconds(offCPU.leafFix.unrecoverable)) off-CPU may miss the caller of a frameless "
                + "function (a libc system call wrapper, most often: its return address is not at the stack pointer)")
        }
        if counters.shortBlocks > 0 {
            lines.append("--min-block \(formatNanoseconds(offCPU.configuration.minimumBlock)) dropped "
                + "\(formatCount(counters.shortBlocks)) shorter blocks (\(formatMilliseconds(counters.shortNanoseconds)))")
        }
        if counters.stateBlocks > 0 {
            lines.append("--state dropped \(formatCount(counters.stateBlocks)) blocks in other states "
                + "(\(formatMilliseconds(counters.stateNanoseconds)))")
        }
        if counters.blockedAtStart > 0 {
            lines.append("\(formatCount(counters.blockedAtStart)) threads were blocked when recording began: "
                + "their time until they ran is under [blocked when recording began]")
        }
        if counters.openAtStop > 0 {
            lines.append("\(formatCount(counters.openAtStop)) threads still blocked at the end: counted to the end")
        }
        for (reason, nanoseconds) in offCPU.lostStacks.sorted(by: { $0.key < $1.key }) {
            lines.append("\(formatMilliseconds(nanoseconds)) off-CPU lost their \(reason)")
        }
        if counters.switchInsMissed > 0 {
            lines.append("\(formatCount(counters.switchInsMissed)) blocks lost: their thread switched out again before "
                + "its switch-in was seen")
        }
        if counters.blockedMapFull > 0 {
            lines.append("\(formatCount(counters.blockedMapFull)) switch-outs lost: the blocked-threads map was full")
        }
        if counters.countsMapFull > 0 {
            lines.append("\(formatCount(counters.countsMapFull)) blocks sent through the ring buffer: the counts map was full "
                + "(raise --counts-map-size)")
        }
        if counters.ringBufferFull > 0 {
            lines.append("\(formatCount(counters.ringBufferFull)) blocks (\(formatMilliseconds(counters.ringBufferFullNanoseconds))) "
                + "lost: the ring buffer was full")
        }
        if counters.timesLost > 0 {
            lines.append("\(formatCount(counters.timesLost)) blocks have no interval (ring buffer full): their time is "
                + "counted in the whole profile, in no time range")
        }
        if counters.switches + counters.blockedAtStart == 0 {
            lines.append("no off-CPU time: the target never blocked while recording")
        }
        return lines
    }

    /// Python frames in blocked threads' stacks: how many switch-outs ran Python, how much
    /// blocked time has them, and what kept native frames only or was cut.
    func offCPUPythonLines(_ offCPU: OffCPUReport) -> [String] {
        let counters = offCPU.counters
        let merging = offCPU.pythonMerging
        var lines: [String] = []
        if counters.pythonBlocks > 0 {
            lines.append("off-CPU Python frames: \(formatCount(counters.pythonBlocks)) switch-outs in Python code "
                + "(\(formatCount(counters.pythonNoThread)) in threads running no Python), "
                + "\(formatMilliseconds(merging.mergedSamples)) of blocked time under Python frames")
        }
        lines += pythonStackLines(readErrors: counters.pythonReadErrors, truncated: counters.pythonTruncated,
                                  newsLost: counters.pythonNewsLost, stacksFull: counters.pythonStacksFull,
                                  merging: merging, offCPU: true)
        return lines
    }

    /// Python stacks the kernel cut or could not keep, and stacks that kept native frames
    /// only: of CPU samples (counted in samples) or of off-CPU blocks (their time).
    func pythonStackLines(readErrors: UInt64, truncated: UInt64, newsLost: UInt64, stacksFull: UInt64,
                          merging: PythonMergeStatistics, offCPU: Bool) -> [String] {
        let stacks = offCPU ? "off-CPU Python stacks" : "Python stacks"
        func amount(_ value: UInt64) -> String { offCPU ? "\(formatMilliseconds(value)) off-CPU" : "\(formatCount(value)) samples" }
        return nonzero([
            readErrors + truncated: "\(formatCount(readErrors + truncated)) \(stacks) were cut: \(formatCount(readErrors)) "
                + "at a frame that could not be read, \(formatCount(truncated)) deeper than \(PythonReport.maximumDepth) frames",
            newsLost: "\(formatCount(newsLost)) new \(stacks) were not announced (ring buffer full): named at the end",
            stacksFull: "\(formatCount(stacksFull)) \(offCPU ? "off-CPU blocks" : "samples") kept native frames only: the "
                + "Python stacks map was full",
            merging.samplesWithoutInterpreterFrame: "\(amount(merging.samplesWithoutInterpreterFrame)) with Python frames "
                + "kept native frames only: no _PyEval_EvalFrameDefault in their native stack",
            merging.unnamedSamples: "\(amount(merging.unnamedSamples)) kept native frames only: their Python stack was not "
                + "named before the process ended",
            merging.samplesWithUnpairedActivations: "\(amount(merging.samplesWithUnpairedActivations)) had more or fewer "
                + "interpreter activations than Python stack segments (paired from the innermost)",
        ])
    }

    /// The texts whose count is not zero, in order: each a report line only when it has
    /// something to say.
    private func nonzero(_ entries: KeyValuePairs<UInt64, String>) -> [String] {
        entries.filter { $0.key > 0 }.map(\.value)
    }

    /// Off-CPU stacks that went through the ring buffer, and each half of a block (its stack at
    /// switch-out, its end at switch-in) that found no room there or came without the other.
    func ringBufferStackLines(_ offCPU: OffCPUReport) -> [String] {
        let counters = offCPU.counters
        let joined = offCPU.ringBufferStacks
        let unwinding = joined.unwinding
        return nonzero([
            counters.walkedStacksSent: "\(formatCount(counters.walkedStacksSent)) off-CPU stacks walked by CFI went whole "
                + "through the ring buffer: the map of walked stacks was full or their hash taken (raise --stack-map-size)",
            unwinding.truncated: "\(formatCount(unwinding.truncated)) of \(formatCount(unwinding.samples)) off-CPU stack "
                + "copies were deeper than the copy: shown under [truncated] (raise --stack-size)",
            unwinding.unknownEnd: "\(formatCount(unwinding.unknownEnd)) of \(formatCount(unwinding.samples)) off-CPU stack "
                + "copies could not be unwound to their root: shown under [unknown]",
            counters.stacksLost: "\(formatCount(counters.stacksLost)) off-CPU stacks found the ring buffer full at their "
                + "switch-out: their time is under [lost user stack: ring buffer full]",
            counters.endsLost: "\(formatCount(counters.endsLost)) ends of blocks found the ring buffer full at their "
                + "switch-in: their time (\(formatMilliseconds(counters.endsLostNanoseconds))) is under [lost user stack: "
                + "ring buffer full]",
            joined.stacksWithoutEnd: "\(formatCount(joined.stacksWithoutEnd)) off-CPU stacks came without their block's "
                + "end, and were dropped (the end found the ring buffer full or its switch-in was not seen)",
            joined.endsWithoutStack: "\(formatCount(joined.endsWithoutStack)) ends of blocks came without their stack: "
                + "their time (\(formatMilliseconds(joined.endsWithoutStackNanoseconds))) is under [lost user stack: its "
                + "stack copy never came]",
        ])
    }

    private var endReason: String {
        switch report.endReason {
        case .durationReached: return "duration reached"
        case .signal(let signal): return "stopped by \(signal == SIGINT ? "Ctrl-C" : "signal \(signal)")"
        case .commandExited: return "command exited"
        case .processExited(let pid): return "process \(pid) exited"
        }
    }

    /// Which method unwound which process, and everything the unwinders could not finish.
    func unwindingLines(seen: UInt64) -> [String] {
        var lines: [String] = []
        let dwarf = report.unwinding.ringBuffer
        switch report.unwinding.mode {
        case .lbr:
            var caveat = ""
            if case .command = settings.target {} else {
                caveat = "; calls made before recording began are not in it"
            }
            lines.append("unwound with the CPU's Last Branch Record (\(formatCount(dwarf.branchSamples)) stacks\(caveat))")
        case .fp:
            lines.append("unwound with frame pointers (\(formatCount(report.unwinding.uniqueKernelKeys)) distinct keys in the kernel)")
        case .dwarf:
            lines.append("unwound with DWARF CFI (\(formatCount(dwarf.samples)) stacks, "
                + "\(format3(dwarf.unwindSeconds)) s of CPU unwinding)")
        case .auto:
            var parts: [String] = []
            if !report.unwinding.cfiProcesses.isEmpty {
                parts.append("CFI in the kernel for " + summarize(report.unwinding.cfiProcesses))
            }
            if !report.unwinding.framePointerProcesses.isEmpty {
                parts.append("frame pointers for " + summarize(report.unwinding.framePointerProcesses))
            }
            if !report.unwinding.dwarfProcesses.isEmpty {
                parts.append("DWARF CFI for " + summarize(report.unwinding.dwarfProcesses))
            }
            lines.append("unwound with " + (parts.isEmpty ? "frame pointers" : parts.joined(separator: "; "))
                + (dwarf.samples > 0 ? " (\(format3(dwarf.unwindSeconds)) s of CPU unwinding)" : ""))
        }
        lines += kernelWalkLines(seen: seen)
        if report.unwinding.leafFix.restored > 0 {
            lines.append("restored the caller of a frameless function in \(formatCount(report.unwinding.leafFix.restored)) samples")
        }
        if report.unwinding.leafFix.unrecoverable > 0 {
            lines.append("\(formatCount(report.unwinding.leafFix.unrecoverable)) of \(formatCount(seen)) samples may miss "
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
        if report.unwinding.leafFix.wentRound > 0 {
            lines.append("\(formatCount(report.unwinding.leafFix.wentRound)) of \(formatCount(seen)) samples had a "
                + "frame-pointer stack that reached the depth limit repeating itself (a frame pointer pointing at its "
                + "own frame, or recursion past the limit): cut after the first repeat, shown under [unknown]")
        }
        if dwarf.wentRound > 0 {
            lines.append("\(formatCount(dwarf.wentRound)) of \(formatCount(dwarf.samples)) DWARF stacks went round in "
                + "place (a caller's stack pointer not above its callee's): cut there, shown under [unknown]")
        }
        if dwarf.endedPastSignalStack > 0 {
            lines.append("\(formatCount(dwarf.endedPastSignalStack)) of \(formatCount(dwarf.samples)) DWARF stacks are in a "
                + "signal handler on an alternate stack (sigaltstack): the stack it interrupted is not in the copy, "
                + "so they end there (--unwind auto walks it)")
        }
        if dwarf.unknownEnd > 0 {
            lines.append("\(formatCount(dwarf.unknownEnd)) of \(formatCount(dwarf.samples)) DWARF stacks could not "
                + "be unwound to their root: shown under [unknown]")
        }
        // (CFI stacks sent whole have a line of their own.)
        if report.counters.overflowSamples > report.counters.cfiStacksFull {
            let overflow = report.counters.overflowSamples - report.counters.cfiStacksFull
            lines.append("\(formatCount(overflow)) \(overflow == 1 ? "sample was" : "samples were") sent whole to user space "
                + "(stack map bucket taken or counts map full), none lost")
        }
        if report.counters.processEventsLost > 0 {
            lines.append("\(formatCount(report.counters.processEventsLost)) fork and exec events found the ring "
                + "buffer full: those processes were read up to a second late (their frames may be [unknown])")
        }
        if report.counters.ringBufferFull > 0 {
            lines.append("\(formatCount(report.counters.ringBufferFull)) of \(formatCount(seen)) samples lost: "
                + "ring buffer full (lower -F or --stack-size)")
        }
        if report.counters.sampleTimesLost > 0 {
            lines.append("\(formatCount(report.counters.sampleTimesLost)) of \(formatCount(seen)) samples have no time "
                + "(ring buffer full): counted in the whole profile, in no time range (lower -F)")
        }
        return lines
    }

    /// What the kernel's CFI walk did, and what it left to user space.
    func kernelWalkLines(seen: UInt64) -> [String] {
        var lines: [String] = []
        let counters = report.counters
        if let tables = report.unwinding.kernelTables, tables.tablesLoaded > 0 || counters.cfiSamples > 0 {
            lines.append("\(formatCount(counters.cfiSamples)) of \(formatCount(seen)) samples walked in the kernel by CFI "
                + "(\(formatCount(tables.tablesLoaded)) unwind tables, \(formatCount(tables.rowsLoaded)) rows, "
                + "\(format3(tables.compileSeconds)) s to compile)")
        }
        if let tables = report.unwinding.kernelTables, tables.tablesReleased > 0 {
            lines.append("let go of \(formatCount(tables.tablesReleased)) unwind tables (\(formatCount(tables.rowsReleased)) rows) "
                + "of files no process mapped any more")
        }
        if counters.cfiPending > 0 {
            lines.append("\(formatCount(counters.cfiPending)) \(counters.cfiPending == 1 ? "sample was" : "samples were") unwound in user space instead: a pc in a file "
                + "whose unwind table was not loaded yet, or in no known mapping")
        }
        if counters.cfiNeedsCopy > 0 {
            lines.append("\(formatCount(counters.cfiNeedsCopy)) \(counters.cfiNeedsCopy == 1 ? "sample was" : "samples were") unwound in user space instead: CFI the "
                + "kernel's walk does not follow (a DWARF expression)")
        }
        if counters.cfiStacksFull > 0 {
            lines.append("\(formatCount(counters.cfiStacksFull)) CFI stacks were sent whole to user space (their map "
                + "full or their hash taken), none lost")
        }
        if let tables = report.unwinding.kernelTables, tables.tablesOverBudget > 0 {
            let more = tables.tablesOverBudget - tables.overBudgetNames.count
            lines.append("\(formatCount(tables.tablesOverBudget)) unwind tables did not fit the kernel's budget ("
                + tables.overBudgetNames.joined(separator: ", ") + (more > 0 ? " and \(more) more" : "")
                + "): unwound in user space (raise --unwind-table-rows)")
        }
        if let tables = report.unwinding.kernelTables, tables.processesWithTooManyMappings > 0 {
            lines.append("\(formatCount(tables.processesWithTooManyMappings)) processes had more than "
                + "\(KernelUnwindTables.mappingLimit) executable mappings: unwound without the kernel's CFI walk")
        }
        return lines
    }

    /// Which processes got Python frames, which did not and why, and every sample of theirs
    /// that kept native frames only.
    func pythonLines(_ python: PythonReport, seen: UInt64) -> [String] {
        let counters = report.counters
        var lines: [String] = []
        if !python.processes.isEmpty {
            let shown = python.processes.prefix(3).joined(separator: ", ")
            let more = python.processes.count > 3 ? " and \(formatCount(python.processes.count - 3)) more" : ""
            lines.append("Python frames for \(shown)\(more): \(formatCount(python.merging.mergedSamples)) of "
                + "\(formatCount(seen)) samples; \(formatCount(counters.pythonNoThread)) in threads running no Python")
        }
        for process in python.unsupportedProcesses.prefix(5) {
            lines.append("native frames only for \(process)")
        }
        if python.unsupportedProcesses.count > 5 {
            lines.append("native frames only for \(formatCount(python.unsupportedProcesses.count - 5)) more Python processes")
        }
        for mismatch in python.debugOffsetMismatches.prefix(3) {
            lines.append("Python debug offsets differ from ember's table (used the interpreter's): \(mismatch)")
        }
        lines += pythonStackLines(readErrors: counters.pythonReadErrors, truncated: counters.pythonTruncated,
                                  newsLost: counters.pythonNewsLost, stacksFull: counters.pythonStacksFull,
                                  merging: python.merging, offCPU: false)
        let naming = python.naming
        if naming.unreadable > 0 || naming.evicted > 0 {
            lines.append("named \(formatCount(naming.codeObjectsRead)) Python code objects; \(formatCount(naming.unreadable)) "
                + "frames' were not readable (freed), \(formatCount(naming.evicted)) evicted, "
                + "\(formatCount(naming.rereadAfterEviction)) read again, \(formatCount(naming.replaced)) replaced at their address")
        }
        if naming.namedAfterFree > 0 {
            lines.append("\(formatCount(naming.namedAfterFree)) Python frames were named after their code object was freed "
                + "(the interpreter ending): named as last read at its address")
        }
        return lines
    }

    /// The first processes by name, and how many more (those gone before their name was
    /// read are among the more).
    private func summarize(_ processes: ProcessList) -> String {
        let named = processes.first.joined(separator: ", ")
        let more = processes.count - processes.first.count
        if more == 0 { return named }
        if named.isEmpty { return "\(formatCount(more)) process\(more == 1 ? "" : "es") gone before their name was read" }
        return named + " and \(formatCount(more)) more"
    }
}
