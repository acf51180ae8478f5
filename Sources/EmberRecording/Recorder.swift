import CEmberShim
import EmberProfile
import EmberSampling
import EmberSymbolization
import EmberSystem
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// Runs one recording: sampling → unwinding → symbolization → profile.
/// The composition root of the pipeline; each stage lives in its own module.
public struct Recorder {
    public let settings: RecordingSettings

    private let pollMilliseconds: Int32 = 50

    public init(settings: RecordingSettings) {
        self.settings = settings
    }

    /// Records until the duration is reached, the target exits, or SIGINT or SIGTERM
    /// arrives; `progress` is called about once a second while it runs.
    public func record(progress: (RecordingProgress) -> Void = { _ in }) throws -> Recording {
        // From the start, Ctrl-C and SIGTERM end the recording instead of killing ember.
        ember_install_stop_signals()
        defer { ember_restore_default_signals() }
        var configuration = try settings.samplerConfiguration()
        configuration.samplesCPU = settings.mode != .offCPU

        // Load and attach before launching anything, so permission errors come first.
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        var offCPU: OffCPUSampler?
        if settings.mode != .cpu {
            var offCPUConfiguration = settings.offCPU
            offCPUConfiguration.countsMapSize = settings.countsMapSize
            offCPU = try OffCPUSampler(sharing: sampler, configuration: offCPUConfiguration)
        }
        defer { offCPU?.close() }
        let session = Session(settings: settings, sampler: sampler, offCPU: offCPU)
        defer { session.close() }

        var child: LaunchedCommand?
        if case .command(let arguments) = settings.target {
            session.prepare(command: arguments[0])
            let launched = try LaunchedCommand(arguments: arguments)
            child = launched
            try sampler.addTarget(launched.pid, fromItsExec: true)
        }
        if case .process(let pid) = settings.target {
            // Children running already are followed too (a build tool's compilers, a
            // server's workers): the BPF program only sees children forked from now on.
            for process in [pid] + descendants(of: pid) {
                if process != pid { try sampler.addTarget(process) }
                session.watch(process)
            }
        }
        // Read the kernel's symbols now rather than after sampling (a launched command
        // waits for it).
        if settings.kernelStacks { session.symbolizer.loadKernelSymbols() }

        try sampler.start()
        switch settings.target {
        case .process(let pid): try offCPU?.start(seeding: [pid] + descendants(of: pid))
        case .command: try offCPU?.start(seeding: [])  // launched below: every switch is seen
        case .system: try offCPU?.start(seeding: nil)
        }
        let started = Clock.monotonicSeconds()
        let stolenAtStart = StolenTime.machineSeconds()
        let startTime = Clock.realtimeNanoseconds()
        // The wall clock at the BPF program's clock's zero: its timestamps plus this are times of day.
        session.clockOffset = startTime - Clock.monotonicNanoseconds()
        if let child {
            do { try child.run() } catch {
                sampler.stop()
                throw error
            }
            session.watch(child.pid)  // after exec: its own binary decides --unwind auto
        }

        // System-wide, the processes running already are found among the sampled ones at a
        // refresh: the first comes early, since until then their stacks are walked by frame
        // pointers alone and their Python frames are not walked.
        var lastRefresh = started
        if case .system = settings.target { lastRefresh -= Session.refreshInterval - Session.firstSystemRefresh }
        var endReason = RecordingEnd.durationReached
        var targetExit: ProcessExit?
        if case .process(let pid) = settings.target { targetExit = ProcessExit(pid: pid) }
        while true {
            let now = Clock.monotonicSeconds()
            let elapsed = now - started
            if let duration = settings.duration, elapsed >= duration { break }
            let signal = ember_stop_signal()
            if signal != 0 {
                endReason = .signal(signal)
                break
            }
            if let child, child.hasExited() {
                endReason = .commandExited
                break
            }
            if let targetExit, targetExit.hasExited {
                endReason = .processExited(targetExit.pid)
                break
            }
            if now - lastRefresh >= Session.refreshInterval {
                session.refresh()
                lastRefresh = now
                progress(RecordingProgress(elapsed: elapsed, samples: sampler.counters().samples))
            }
            try session.wait(milliseconds: pollMilliseconds)
            session.rereadYoungProcesses()
        }
        let elapsed = Clock.monotonicSeconds() - started
        let stolen = StolenTime.machineSeconds().flatMap { end in stolenAtStart.map { max(end - $0, 0) } }
        // Disable the events first: nothing changes the maps while they are read.
        sampler.stop()
        offCPU?.stop()
        let collectStart = Clock.monotonicSeconds()
        try session.drain()
        session.refresh()
        let samples = sampler.collect()
        let offCPUSamples = offCPU?.collect()
        let blockedStacks = session.finishBlockedStacks(open: offCPUSamples?.openBlocksWithSentStacks ?? [])
        offCPU?.close()
        sampler.close()
        child?.finish()

        // What ended processes left was added as they went; now the rest.
        session.addTakenStacks()
        var stacks = FramePointerStacks.callStacks(from: samples, leafFix: session.leafFix, times: session.countedTimes,
                                                   statistics: &session.leafFixStatistics)
        stacks += session.ringBuffer.callStacks(leafFix: session.leafFix, statistics: &session.leafFixStatistics)
        let builder = session.builder
        builder.add(stacks, clockOffset: session.clockOffset)
        if let offCPUSamples { session.addOffCPU(offCPUSamples) }
        builder.add(blockedStacks, clockOffset: session.clockOffset, offCPU: true)
        let profile = builder.finish(startTime: startTime, duration: elapsed)
        var targetName: String?
        if case .process(let pid) = settings.target { targetName = session.symbolizer.processName(pid) }
        // Off-CPU and wall profiles draw microseconds, as offcputime's folded output counts.
        var transform = StackTransform()
        if settings.mode != .cpu {
            transform.factor = 1e-3
            transform.roundsCounts = true
        }
        var treeBuilder = FrameTreeBuilder(transform: transform, tracksSelfSamples: true)
        treeBuilder.add(profile, sampleType: settings.mode == .cpu ? 0 : profile.defaultSampleType,
                        lines: settings.symbolization.lines)
        let tree = treeBuilder.finishTree()
        let stored = settings.mode == .offCPU ? 0 : UInt64(profile.total(ofType: 0))
        var report = RecordingReport(
            counters: samples.counters, storedSamples: stored, uniqueStacks: tree.selfSamples().after.filter { $0 != 0 }.count,
            processCount: builder.processes.count, threadCount: builder.threads.count,
            threadsWithoutLabels: builder.threadsWithoutLabels, processesAddedAsTheyEnded: session.drainedProcesses,
            filesClosedUnmapped: session.symbolizer.releasedFiles,
            elapsed: elapsed, endReason: endReason, samplingEnded: collectStart, lostStacks: builder.lostStacks,
            symbolization: session.symbolizer.statistics,
            kernelSymbolsVisible: !settings.kernelStacks || session.symbolizer.kernelSymbolsVisible,
            targetName: targetName,
            unwinding: UnwindingReport(
                mode: settings.unwind, dwarfProcesses: session.dwarfProcesses,
                framePointerProcesses: session.framePointerProcesses,
                cfiProcesses: session.cfiProcesses, kernelTables: session.kernelTables?.statistics,
                ringBuffer: session.ringBuffer.statistics, leafFix: session.leafFixStatistics,
                uniqueKernelKeys: samples.counts.count + session.drainedKeys),
            offCPU: offCPUSamples.map {
                OffCPUReport(counters: $0.counters, storedNanoseconds: UInt64(profile.total(ofType: profile.sampleTypes
                    .firstIndex(of: .offCPUNanoseconds) ?? 0)), lostStacks: builder.lostOffCPUTime,
                    configuration: offCPU?.configuration ?? settings.offCPU, leafFix: session.offCPULeafFixStatistics,
                    ringBufferStacks: session.blockedStacks.statistics, pythonMerging: builder.offCPUPythonStatistics)
            },
            python: session.pythonFrames.map {
                PythonReport(processes: $0.pythonProcesses, unsupportedProcesses: $0.unsupportedProcesses,
                             debugOffsetMismatches: $0.debugOffsetMismatches, merging: builder.pythonStatistics,
                             naming: $0.statistics)
            })
        report.mergedAddresses = builder.mergedAddresses
        report.locationLimit = settings.maximumLocations
        report.stolenSeconds = stolen
        report.onlineCPUs = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return Recording(settings: settings, profile: profile, tree: tree, report: report)
    }
}

extension RecordingSettings {
    /// What the sampler is told: its scope (a process of the target must exist), rate,
    /// maps and unwinding (with `lbr`, the CPU must have LBR call stacks: one clear line
    /// where it has not, before anything is loaded).
    func samplerConfiguration() throws -> SamplerConfiguration {
        var configuration: SamplerConfiguration
        switch target {
        case .process(let pid):
            guard kill(pid, 0) == 0 || errno == EPERM else { throw SamplingError.noSuchProcess(pid) }
            configuration = SamplerConfiguration(scope: .processes([pid]))
        case .command:
            configuration = SamplerConfiguration(scope: .processes([]))
        case .system:
            configuration = SamplerConfiguration(scope: .system)
            if !includeSelf { configuration.ignoredProcess = getpid() }
        }
        configuration.frequency = frequency
        configuration.variesPeriod = !fixedPeriod
        configuration.kernelStacks = kernelStacks
        configuration.stackMapSize = stackMapSize
        configuration.walkedStacksMapSize = walkedStacksMapSize ?? stackMapSize
        configuration.countsMapSize = countsMapSize
        configuration.stackCopySize = stackSize
        configuration.ringBufferSize = ringBufferSize
        configuration.recordStackWords = leafFix
        configuration.interpreterFrames = interpreterFrames
        switch unwind {
        case .fp: configuration.unwinding = .framePointers
        case .lbr:
            if let reason = BranchRecordStacks.unavailabilityReason(probeResult: ember_probe_lbr_call_stack()) {
                throw RecordingError("--unwind lbr: \(reason)")
            }
            configuration.unwinding = .branchRecords
        case .dwarf: configuration.unwinding = .dwarf
        case .auto: configuration.unwinding = .perProcess
        }
        if unwindTableRows > 0 { configuration.unwindTableRows = unwindTableRows }
        configuration.sampleTimes = keepSampleTimes
        return configuration
    }
}

/// What one recording keeps while it runs: the symbolizer and the unwinders, fed with the
/// processes as they appear.
final class Session {
    /// How often memory maps are re-read (``refresh()``), so exited processes still symbolize.
    static let refreshInterval = 1.0
    /// System-wide, how soon the first refresh comes: it finds the processes running already.
    static let firstSystemRefresh = 0.2

    let settings: RecordingSettings
    let sampler: Sampler
    let offCPU: OffCPUSampler?
    /// Off-CPU leaf-fix figures, apart from the CPU samples' (they count nanoseconds).
    var offCPULeafFixStatistics = FramePointerStacks.Statistics()
    let symbolizer: Symbolizer
    let unwinders: UnwinderCache
    let ringBuffer: RingBufferStacks
    /// Off-CPU blocks whose stacks came through the ring buffer (--unwind dwarf, or a full
    /// map of walked stacks).
    let blockedStacks: BlockedStacks
    private var known: Set<pid_t> = []
    private(set) var dwarfProcesses = ProcessList()
    private(set) var framePointerProcesses = ProcessList()
    private(set) var cfiProcesses = ProcessList()
    /// --unwind auto: the files' unwind tables for the kernel's CFI walk, and the processes
    /// it walks.
    let kernelTables: KernelUnwindTables?
    private var walkedProcesses: Set<pid_t> = []
    /// The profile, which the samples of ended processes join as they go.
    let builder: ProfileBuilder
    /// The frameless-leaf fix's view of the files' CFI, and what it did.
    private(set) var leafFix: FramelessLeafFix?
    var leafFixStatistics = FramePointerStacks.Statistics()
    /// With ``RecordingSettings/keepSampleTimes``: the times of samples counted in the
    /// kernel, by their key, until the key's count is read.
    private(set) var countedTimes: [SampleKey: [UInt64]] = [:]
    /// Keys of the kernel's counts map taken out for ended processes.
    private(set) var drainedKeys = 0
    /// Ended processes whose samples joined the profile before the recording's end.
    private(set) var drainedProcesses = 0
    /// Added to the BPF program's timestamps, they are times of day.
    var clockOffset: Int64 = 0
    private var lastDrain = Clock.monotonicSeconds()
    private var draining: EndedProcesses?
    /// Python processes' frames (nil with --no-interpreter).
    let pythonFrames: PythonFrames?
    /// The kernel's names for kernel addresses (nil: /proc/kallsyms is read instead).
    private let kernelNames: KernelAddressNames?

    /// Whether ended processes' samples join ``builder`` (a recording) or are dropped (a live
    /// view, which shows the living and must not grow with every process that came and went).
    let keepsEndedProcesses: Bool

    init(settings: RecordingSettings, sampler: Sampler, offCPU: OffCPUSampler? = nil, keepsEndedProcesses: Bool = true) {
        self.settings = settings
        self.keepsEndedProcesses = keepsEndedProcesses
        self.sampler = sampler
        self.offCPU = offCPU
        self.symbolizer = Symbolizer(options: settings.symbolization)
        self.builder = ProfileBuilder(symbolizer: symbolizer, settings: settings)
        self.unwinders = UnwinderCache(debugDirectories: settings.symbolization.debugDirectories)
        self.ringBuffer = RingBufferStacks(
            unwinders: unwinders, branchRecordDepth: settings.unwind == .lbr ? lastBranchRecordDepth() : nil,
            keepsSampleTimes: settings.keepSampleTimes)
        self.blockedStacks = BlockedStacks(unwinders: unwinders, keepsSampleTimes: settings.keepSampleTimes)
        if settings.leafFix { leafFix = FramelessLeafFix(files: symbolizer) }
        kernelTables = settings.unwind == .auto && settings.unwindTableRows > 0
            ? KernelUnwindTables(sampler: sampler, debugDirectories: settings.symbolization.debugDirectories) : nil
        kernelTables?.prepareCommonLibraries()
        pythonFrames = settings.interpreterFrames ? PythonFrames(sampler: sampler, symbolizer: symbolizer) : nil
        builder.pythonFrames = pythonFrames
        kernelNames = settings.kernelStacks ? try? KernelAddressNames() : nil
        symbolizer.kernelNames = kernelNames.map { names in
            KernelNameSource { addresses in
                names.names(of: addresses).map { answer in
                    switch answer {
                    case .function(let name): return .function(name)
                    case .noFunction: return .noFunction
                    case .unanswered: return .unanswered
                    }
                }
            }
        }
    }

    /// Releases the CFI tables before the files they read, and the kernel-naming program.
    func close() {
        leafFix = nil
        kernelNames?.close()
    }

    /// Reads what a process's stacks and names will need while it is alive: its memory map,
    /// symbols and CFI, and (with --unwind auto) picks its unwinding method.
    /// - Parameter isNew: the BPF program saw it fork or exec (perhaps the same binary
    ///   again, or a pid reused).
    func watch(_ pid: pid_t, isNew: Bool = false) {
        guard pid > 0 else { return }
        // A new program (exec) needs a new unwinder and, with --unwind auto, a new choice;
        // the BPF program already fell back to frame pointers for it.
        let program = executableIdentity(pid)
        guard !known.contains(pid) || isNew || (program != nil && program != programs[pid]) else {
            symbolizer.refresh(process: pid)  // new libraries
            if walkedProcesses.contains(pid) { kernelTables?.watch(pid) }
            pythonFrames?.watch(pid, program: program)
            return
        }
        unwinders.forget(pid)
        walkedProcesses.remove(pid)
        gone[pid] = nil
        known.insert(pid)
        programs[pid] = program
        young[pid] = Clock.monotonicSeconds()
        // Decide first: until then the process's samples are frame-pointer stacks.
        var framePointers: Bool?
        var walked = false
        if settings.unwind == .auto, program != nil, let kernelTables {
            // The memory map first: a process of a few milliseconds must be read before it
            // is gone, and its samples until the kernel has its mappings are still whole
            // (frame-pointer stacks).
            symbolizer.refresh(process: pid)
            walked = kernelTables.watch(pid, anew: true)
            if walked { walkedProcesses.insert(pid) }
        }
        if !walked { kernelTables?.forget(pid) }
        if !walked, settings.unwind == .auto, let program {
            framePointers = usesFramePointers(pid, program: program)
            if framePointers == false { try? sampler.unwindWithDWARF(pid) }
        }
        if !walked { symbolizer.refresh(process: pid) }
        pythonFrames?.watch(pid, program: program)
        if walked || framePointers != nil {
            // Named by its comm, or by its program's file; one that ended before either
            // could be read is counted among the rest, never shown as `?`.
            let name = (symbolizer.processName(pid) ?? executableName(pid)).map { "\($0) (\(pid))" }
            if walked {
                cfiProcesses.add(name)
            } else if framePointers == true {
                framePointerProcesses.add(name)
            } else {
                dwarfProcesses.add(name)
            }
        }
        // A DWARF target's unwinder is made now, so that a short-lived process's samples
        // still unwind after it exits; system-wide, only processes that get DWARF samples
        // pay for one: the DWARF ones, and those whose unwind tables are still compiling.
        let system: Bool
        if case .system = settings.target { system = true } else { system = false }
        if !system && (settings.unwind == .dwarf || framePointers == false || walked)
            || system && walked && kernelTables?.isWaitingForTables(pid) == true {
            _ = unwinders.unwinder(for: pid)
        }
    }

    /// Judges a command's binary before it runs, so that the choice is ready at exec.
    func prepare(command: String) {
        guard settings.unwind == .auto else { return }
        let path: String? = command.contains("/") ? command
            : (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":")
                .map { "\($0)/\(command)" }.first { access($0, X_OK) == 0 }
        var info = stat()
        guard let path, stat(path, &info) == 0 else { return }
        let program = "\(info.st_dev):\(info.st_ino)"
        if framePointerBinaries[program] == nil {
            framePointerBinaries[program] = FramePointerDetector.usesFramePointers(path: path) ?? false
        }
    }

    private var programs: [pid_t: String] = [:]
    private var framePointerBinaries: [String: Bool] = [:]

    /// The device and inode of the process's executable; nil for kernel threads.
    private func executableIdentity(_ pid: pid_t) -> String? {
        var info = stat()
        guard stat("/proc/\(pid)/exe", &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino)"
    }

    /// The file name of the process's executable, nil if it cannot be read.
    private func executableName(_ pid: pid_t) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.hasSuffix(" (deleted)") ? String(name.dropLast(" (deleted)".count)) : name
    }

    /// Whether the process's executable keeps frame pointers, judged once per binary.
    private func usesFramePointers(_ pid: pid_t, program: String) -> Bool {
        if let known = framePointerBinaries[program] { return known }
        let uses = FramePointerDetector.usesFramePointers(path: "/proc/\(pid)/exe") ?? false
        framePointerBinaries[program] = uses
        return uses
    }

    /// Re-reads, at every poll, the maps of processes that started or exec'd moments ago:
    /// the loader maps libraries in a new program's first milliseconds, and a process that
    /// lives less than the refresh interval must still be read with them. Later libraries
    /// (dlopen) are found by ``refresh()``.
    func rereadYoungProcesses() {
        let now = Clock.monotonicSeconds()
        for (pid, since) in young {
            if now - since > youngProcessSeconds {
                young[pid] = nil
            } else {
                symbolizer.refresh(process: pid)
                if walkedProcesses.contains(pid) { kernelTables?.watch(pid) }
                pythonFrames?.watch(pid, program: programs[pid])
            }
        }
    }

    private let youngProcessSeconds = 0.3
    private var young: [pid_t: Double] = [:]
    /// Processes found gone that have samples, and when (their maps are kept until their
    /// samples join the profile).
    private var gone: [pid_t: Double] = [:]

    /// Every second: lets go of the processes that ended, re-reads the maps of live ones
    /// (new libraries), and finds those whose fork or exec event was lost. System-wide, the
    /// live processes re-read are the ones sampled so far.
    func refresh() {
        let system: Bool
        if case .system = settings.target { system = true } else { system = false }
        let watched = (system ? known : Set(sampler.targetProcesses())).filter { gone[$0] == nil }
        let ended = watched.filter { !ProcessExit.isRunning($0) }
        // Read after finding the ended ones (and after counting what the ring buffer still
        // holds): a process that is gone takes no more samples, so one missing from the set
        // never had any, and nothing of it needs keeping.
        if !ended.isEmpty { _ = try? wait(milliseconds: 0) }
        let sampled = system || !ended.isEmpty
            ? sampler.sampledProcesses().union(ringBuffer.sampledProcesses).union(offCPU?.sampledProcesses() ?? [])
                .union(blockedStacks.sampledProcesses)
            : []
        for pid in ended {
            young[pid] = nil
            unwinders.processExited(pid)
            kernelTables?.forget(pid)
            walkedProcesses.remove(pid)
            pythonFrames?.forget(pid)
            if !system { sampler.removeTarget(pid) }
            if sampled.contains(pid) {
                gone[pid] = Clock.monotonicSeconds()
            } else {
                symbolizer.forget(process: pid)
                known.remove(pid)
                programs[pid] = nil
                unwinders.forget(exited: pid)
            }
        }
        for pid in system ? sampled : watched where gone[pid] == nil && !ended.contains(pid) {
            watch(pid)
        }
        unwinders.refresh()
        drainEndedProcesses()
        releaseIdleFiles()
    }

    /// Closes, every few seconds, the files no process has mapped for a minute (with the
    /// leaf fix's tables read from them, and their unwind tables in the kernel), and lets go
    /// of the DWARF of those that named no new address for a minute: hours of builds and
    /// reruns make new files all the time, and each kept one holds its descriptors, symbol
    /// table, DWARF caches and unwind rows.
    private func releaseIdleFiles() {
        let now = Clock.monotonicSeconds()
        guard now - lastFileRelease >= 15 else { return }
        lastFileRelease = now
        let released = (symbolizer.releasedFiles, symbolizer.releasedDWARF)
        symbolizer.releaseIdleFiles(unusedFor: 60, now: now) { leafFix?.forget(file: $0) }
        kernelTables?.releaseUnmappedFiles(unusedFor: 60, now: now)
        if released != (symbolizer.releasedFiles, symbolizer.releasedDWARF) { ember_return_free_memory() }
    }

    private var lastFileRelease = Clock.monotonicSeconds()

    /// Adds the samples of processes that ended a while ago to the profile (or, without
    /// ``keepsEndedProcesses``, drops them), and forgets them: a recording of many
    /// short-lived processes keeps only what the live ones need.
    /// A process waits a second after it was found gone, so that its last ring-buffer
    /// samples have been read; ended ones are taken in batches.
    ///
    /// Nothing here may keep the ring buffer unread for long: a process that lives a few
    /// milliseconds must have its maps read before it is gone. So the batch's files are read
    /// on another thread first (libc's DWARF index alone takes tens of milliseconds), and
    /// the ring buffer is read between one process and the next.
    private func drainEndedProcesses() {
        if draining == nil {
            let now = Clock.monotonicSeconds()
            let ready = Set(gone.filter { now - $0.value >= 1 }.keys)
            guard ready.count >= 1024 || (!ready.isEmpty && now - lastDrain >= 60) else { return }
            lastDrain = now
            let counted = sampler.takeCounts(of: ready) { _ = try? self.wait(milliseconds: 0) }
            drainedKeys += counted.counts.count
            guard keepsEndedProcesses else {
                var discarded = FramePointerStacks.Statistics()
                _ = ringBuffer.takeStacks(of: ready, leafFix: nil, statistics: &discarded)
                for pid in ready { forgetEnded(pid) }
                return
            }
            var addresses = ringBuffer.userAddresses(of: ready)
            addresses.merge(blockedStacks.userAddresses(of: ready)) { $0 + $1 }
            for key in counted.counts.keys {
                if let stack = counted.stacks[key.userStackID] { addresses[key.pid, default: []] += stack }
                if let walked = counted.walkedStacks[key.userStackHash] {
                    addresses[key.pid, default: []] += walked.frames.map(UserFrameAddress.address)
                }
            }
            let blocked = offCPU?.takeTimes(of: ready)
            let references = blockedStacks.stackReferences(of: ready)
            let tables = offCPU?.stacks(references.ids, walked: references.hashes)
            let blockedCopies = blockedStacks.takeStacks(of: ready, stacks: tables?.stacks ?? [:],
                                                         walkedStacks: tables?.walked ?? [:])
            for key in blocked?.times.keys ?? [:].keys {
                if let stack = blocked?.stacks[key.blocked.userStackID] { addresses[key.blocked.pid, default: []] += stack }
                if let walked = blocked?.walkedStacks[key.blocked.userStackHash] {
                    addresses[key.blocked.pid, default: []] += walked.frames.map(UserFrameAddress.address)
                }
            }
            draining = EndedProcesses(processes: ready, counted: counted, blocked: blocked, blockedStacks: blockedCopies,
                                      addresses: addresses)
        }
        guard var batch = draining else { return }
        for (index, (pid, addresses)) in batch.addresses.enumerated() {
            if symbolizer.filesAreRead(pid: pid, addresses: addresses) { batch.addresses[pid] = nil }
            if index % 16 == 15 { _ = try? wait(milliseconds: 0) }
        }
        draining = batch
        guard batch.addresses.isEmpty else { return }
        draining = nil
        var stacks = FramePointerStacks.callStacks(from: batch.counted, leafFix: leafFix, times: takeTimes(of: batch.counted),
                                                   statistics: &leafFixStatistics)
        stacks += ringBuffer.takeStacks(of: batch.processes, leafFix: leafFix, statistics: &leafFixStatistics)
        let byProcess = Dictionary(grouping: stacks, by: \.pid)
        let blockedByProcess = Dictionary(grouping: (batch.blocked.map(offCPUStacks) ?? []) + batch.blockedStacks, by: \.pid)
        for pid in batch.processes {
            builder.add(byProcess[pid] ?? [], clockOffset: clockOffset)
            builder.add(blockedByProcess[pid] ?? [], clockOffset: clockOffset, offCPU: true)
            drainedProcesses += 1
            forgetEnded(pid)
            _ = try? wait(milliseconds: 0)
        }
    }

    /// Lets go of what an ended process's samples needed, once they are taken; a pid reused
    /// since (watched anew) keeps what its new program needs.
    private func forgetEnded(_ pid: pid_t) {
        guard gone[pid] != nil else { return }
        gone[pid] = nil
        known.remove(pid)
        programs[pid] = nil
        symbolizer.forget(process: pid)
        builder.forget(process: pid)
        pythonFrames?.dropStacks(of: pid)
        unwinders.forget(exited: pid)
    }

    /// Ended processes whose counts were taken from the kernel's maps, waiting for the
    /// files their stacks lie in to be read.
    private struct EndedProcesses {
        var processes: Set<pid_t>
        var counted: RawSamples
        var blocked: OffCPUSamples?
        /// Off-CPU blocks joined in user space (see ``BlockedStacks``).
        var blockedStacks: [CallStack]
        /// User addresses of each process whose files may not be read yet.
        var addresses: [pid_t: [UInt64]]
    }

    /// The times of the samples counted under the keys of `counted`, which no longer need keeping.
    private func takeTimes(of counted: RawSamples) -> [SampleKey: [UInt64]] {
        guard !countedTimes.isEmpty else { return [:] }
        var taken: [SampleKey: [UInt64]] = [:]
        for key in counted.counts.keys { taken[key] = countedTimes.removeValue(forKey: key) }
        return taken
    }

    /// Adds the stacks taken for ended processes whose files are still being read (the
    /// recording is over: nothing is left to wait for).
    func addTakenStacks() {
        guard let batch = draining else { return }
        draining = nil
        builder.add(FramePointerStacks.callStacks(from: batch.counted, leafFix: leafFix, times: takeTimes(of: batch.counted),
                                                  statistics: &leafFixStatistics),
                    clockOffset: clockOffset)
        if let blocked = batch.blocked { addOffCPU(blocked) }
        builder.add(batch.blockedStacks, clockOffset: clockOffset, offCPU: true)
    }

    /// The off-CPU blocks joined in user space, the ones still open at the stop (`open`)
    /// included, with their kernel and waker stacks read from the maps (before they close).
    func finishBlockedStacks(open: [BlockEnd]) -> [CallStack] {
        for block in open { blockedStacks.add(block) }
        let references = blockedStacks.stackReferences()
        let tables = offCPU?.stacks(references.ids, walked: references.hashes)
        return blockedStacks.finish(stacks: tables?.stacks ?? [:], walkedStacks: tables?.walked ?? [:])
    }

    /// Off-CPU time as call stacks, each stack's count its nanoseconds (with its waker's stacks).
    func offCPUStacks(_ samples: OffCPUSamples) -> [CallStack] {
        var stacks: [CallStack] = []
        for (waker, keys) in Dictionary(grouping: samples.times, by: \.key.waker) {
            let raw = RawSamples(counts: Dictionary(keys.map { ($0.key.blocked, $0.value) }, uniquingKeysWith: +),
                                 stacks: samples.stacks, counters: SamplingCounters(), walkedStacks: samples.walkedStacks)
            // With times kept: each block's end and length, by the blocked thread's key.
            var ends: [SampleKey: [UInt64]] = [:]
            var lengths: [SampleKey: [UInt64]] = [:]
            for (key, _) in keys {
                for interval in samples.intervals[key] ?? [] {
                    ends[key.blocked, default: []].append(interval.end)
                    lengths[key.blocked, default: []].append(interval.nanoseconds)
                }
            }
            let wakerStack = waker.map { WakerStack($0, stacks: samples.stacks, walkedStacks: samples.walkedStacks) }
            for var stack in FramePointerStacks.callStacks(from: raw, leafFix: leafFix, times: ends, durations: lengths,
                                                           statistics: &offCPULeafFixStatistics) {
                stack.waker = wakerStack
                stacks.append(stack)
            }
        }
        return stacks
    }

    /// Adds off-CPU time to the profile.
    func addOffCPU(_ samples: OffCPUSamples) {
        builder.add(offCPUStacks(samples), clockOffset: clockOffset, offCPU: true)
    }

    /// Waits for the next poll, counting (and unwinding) ring-buffer samples as they arrive,
    /// and watches the processes that forked or exec'd meanwhile. Returns the records read.
    @discardableResult
    func wait(milliseconds: Int32) throws -> Int {
        let ringBuffer = self.ringBuffer
        let offCPU = self.offCPU
        let pythonFrames = self.pythonFrames
        let blockedStacks = self.blockedStacks
        var started: [pid_t] = []
        var unmappedCode: [pid_t] = []
        let handled = try sampler.pollStackSamples(timeout: milliseconds) { record in
            switch record.kind {
            case .processForked, .processExecuted: started.append(record.pid)
            case .processUnmappedCode: unmappedCode.append(record.pid)
            case .offCPUTime, .blockTime: offCPU?.add(record)
            case .blockCopy, .blockAddresses, .blockEnd: blockedStacks.add(record)
            case .countedTime: if let key = record.countedKey { self.countedTimes[key, default: []].append(record.time) }
            case .pythonStackNew: pythonFrames?.noteNewStack(pid: record.pid, hash: record.pythonStackHash)
            default: ringBuffer.add(record)
            }
        }
        var seen = Set<pid_t>()  // forked and exec'd since the last poll: one reading
        for pid in started where seen.insert(pid).inserted { watch(pid, isNew: true) }
        // A library mapped since: read now, while a short-lived process lives.
        for pid in unmappedCode where seen.insert(pid).inserted { watch(pid) }
        kernelTables?.poll()
        sampler.varySamplingPeriod()
        return handled
    }

    /// Counts what is left in the ring buffer after the events were disabled.
    func drain() throws {
        while try wait(milliseconds: 0) > 0 {}
    }
}

/// The processes descended from `pid` now, from /proc/PID/task/TID/children.
func descendants(of pid: pid_t) -> [pid_t] {
    var found: [pid_t] = []
    var queue = [pid]
    while let parent = queue.popLast() {
        for task in FileContents.directoryEntries("/proc/\(parent)/task") {
            guard let text = try? FileContents.text("/proc/\(parent)/task/\(task)/children") else { continue }
            for child in text.split(separator: " ").compactMap({ pid_t($0) })
            where !found.contains(child) && child != pid {
                found.append(child)
                queue.append(child)
            }
        }
    }
    return found
}

/// The frameless-leaf fix reads CFI from the files the symbolizer opened for each process.
extension Symbolizer: CodeFiles {
    public func codeFile(pid: pid_t, address: UInt64) -> CodeFile? {
        guard let found = elfFile(pid: pid, address: address) else { return nil }
        return CodeFile(elf: found.elf, identity: ObjectIdentifier(found.file), address: found.address)
    }
}
