import EmberELF
import EmberSampling
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// Counts the samples that come through the ring buffer as they arrive: DWARF stack
/// copies, unwound here, LBR call stacks, and frame-pointer samples the kernel's maps
/// could not count.
/// Only distinct stacks are kept (the stack copies are not).
public final class RingBufferStacks {
    struct Key: Hashable {
        var pid: Int32
        var tid: Int32
        var comm: String
        var user: StackHalf
        var end: StackEnd?
        var kernel: StackHalf
        var stackWords: [UInt64]
        var pythonStackHash: UInt64 = 0
    }

    /// What the unwinder did, for the report.
    public struct Statistics: Sendable, Equatable {
        /// DWARF stack copies received, and how their unwinding ended.
        public var samples: UInt64 = 0
        public var complete: UInt64 = 0
        public var truncated: UInt64 = 0
        public var unknownEnd: UInt64 = 0
        /// Of those, stacks cut where they went round in place (see ``UnwoundStack/wentRound``).
        public var wentRound: UInt64 = 0
        /// Of those, stacks of a handler on an alternate signal stack whose interrupted code's
        /// stack was not in the copy (see ``UnwoundStack/endedPastSignalStack``).
        public var endedPastSignalStack: UInt64 = 0
        public var processGone: UInt64 = 0
        public var copyFailed: UInt64 = 0
        /// Frame-pointer samples received whole (their maps were full).
        public var addressSamples: UInt64 = 0
        /// LBR samples received, and those whose records filled the LBR (older calls lost).
        public var branchSamples: UInt64 = 0
        public var branchTruncated: UInt64 = 0
        /// CPU seconds spent unwinding.
        public var unwindSeconds: Double = 0
        public init() {}
    }

    private var counts: [Key: UInt64] = [:]
    /// The times of each key's samples, when kept.
    private var times: [Key: [UInt64]] = [:]
    /// Whether each sample's time is kept (for outputs that show time), not only its count.
    public let keepsSampleTimes: Bool
    /// The processes with samples counted here.
    public private(set) var sampledProcesses: Set<pid_t> = []
    private let unwinders: UnwinderCache
    public private(set) var statistics = Statistics()
    public let maxFrames: Int
    /// The records this CPU's LBR holds (see ``lastBranchRecordDepth(capsFile:)``).
    public let branchRecordDepth: Int?

    public init(unwinders: UnwinderCache, maxFrames: Int = 127, branchRecordDepth: Int? = nil,
                keepsSampleTimes: Bool = false) {
        self.unwinders = unwinders
        self.keepsSampleTimes = keepsSampleTimes
        self.maxFrames = maxFrames
        self.branchRecordDepth = branchRecordDepth
    }

    /// Counts one sample (called from the ring-buffer handler).
    public func add(_ sample: StackSample) {
        let kernel: StackHalf = sample.kernelAddresses.isEmpty ? .absent : .frames(sample.kernelAddresses)
        var key = Key(pid: sample.pid, tid: sample.tid, comm: sample.comm, user: .absent, end: nil,
                      kernel: kernel, stackWords: [])
        key.pythonStackHash = sample.pythonStackHash
        switch sample.kind {
        case .addresses:
            statistics.addressSamples += 1
            let addresses = sample.userAddresses
            key.user = addresses.isEmpty ? .absent : .frames(addresses)
            key.stackWords = sample.stackWords
            // Walked by CFI (its stack's hash taken in the kernel's map): it has an end.
            if let end = sample.walkEnd {
                key.end = StackEnd(end)
                if addresses.isEmpty { key.user = .lost(.copyFailed) }
            }
        case .stackCopy:
            unwind(sample, into: &key)
        case .branchRecords:
            addBranchRecords(sample, into: &key)
        case .processForked, .processExecuted, .processUnmappedCode, .offCPUTime, .countedTime, .blockTime,
             .pythonStackNew, .blockCopy, .blockAddresses, .blockEnd:
            return  // events, off-CPU time and counted samples' times: the recorder handles them
        }
        counts[key, default: 0] += 1
        if keepsSampleTimes { times[key, default: []].append(sample.time) }
        sampledProcesses.insert(sample.pid)
    }

    private func unwind(_ sample: StackSample, into key: inout Key) {
        (key.user, key.end) = unwinders.userStack(of: sample, maxFrames: maxFrames, statistics: &statistics)
    }

    private func addBranchRecords(_ sample: StackSample, into key: inout Key) {
        statistics.branchSamples += 1
        guard !sample.bytes.isEmpty else {
            key.user = .lost(.copyFailed)
            return
        }
        let records = BranchRecordStacks.records(in: sample.bytes)
        key.user = .frames(BranchRecordStacks.callStack(instructionPointer: sample.instructionPointer,
                                                        records: records))
        // A full LBR has dropped the oldest calls: the stack ends under [truncated].
        if let depth = branchRecordDepth, records.count >= depth {
            key.end = .truncated
            statistics.branchTruncated += 1
        } else {
            key.end = .complete
        }
    }

    /// The user addresses of the stacks counted for `processes`.
    public func userAddresses(of processes: Set<pid_t>) -> [pid_t: [UInt64]] {
        StackHalf.userAddresses(of: counts.keys, in: processes, pid: { $0.pid }, user: { $0.user })
    }

    /// Takes out the stacks of `processes`, which have ended (see ``callStacks(leafFix:statistics:)``).
    public func takeStacks(of processes: Set<pid_t>, leafFix: FramelessLeafFix?,
                           statistics leafStatistics: inout FramePointerStacks.Statistics) -> [CallStack] {
        let (taken, takenTimes) = counts.removeEntries(where: { processes.contains($0.pid) }, with: &times)
        sampledProcesses.subtract(processes)
        return callStacks(of: taken, times: takenTimes, leafFix: leafFix, statistics: &leafStatistics)
    }

    /// The counted stacks; frame-pointer ones get the frameless-leaf fix with `leafFix`.
    public func callStacks(leafFix: FramelessLeafFix?,
                           statistics leafStatistics: inout FramePointerStacks.Statistics) -> [CallStack] {
        callStacks(of: counts, times: times, leafFix: leafFix, statistics: &leafStatistics)
    }

    private func callStacks(of counts: [Key: UInt64], times: [Key: [UInt64]], leafFix: FramelessLeafFix?,
                            statistics leafStatistics: inout FramePointerStacks.Statistics) -> [CallStack] {
        counts.map { key, count in
            var user = key.user
            var end = key.end
            // Frame-pointer samples (the maps were full): the leaf fix and the loop check, as
            // for those counted in the kernel.
            if key.end == nil, case .frames(var frames) = user {
                if let leafFix {
                    frames = FramePointerStacks.restoringFramelessCaller(
                        frames, pid: key.pid, stackWords: key.stackWords, leafFix: leafFix,
                        count: count, statistics: &leafStatistics)
                }
                let (cut, wentRound) = FramePointerStacks.cuttingRepeats(frames)
                if wentRound {
                    end = .unknown
                    leafStatistics.wentRound += count
                }
                user = .frames(cut)
            }
            var stack = CallStack(pid: key.pid, tid: key.tid, threadName: key.comm, user: user, userEnd: end,
                                  kernel: key.kernel, count: count, times: times[key] ?? [])
            stack.pythonStackHash = key.pythonStackHash
            return stack
        }
    }
}

/// One ``ProcessUnwinder`` per live process (its modules are reported from
/// /proc/PID/maps), dropped when it exits.
public final class UnwinderCache {
    private var unwinders: [pid_t: ProcessUnwinder] = [:]
    private var unavailable: Set<pid_t> = []
    /// Extra places for debug files (`--debug-dir`), as the symbolizer has them.
    private let debugDirectories: [String]

    public init(debugDirectories: [String] = []) {
        self.debugDirectories = debugDirectories
    }

    /// The process's unwinder, made now if needed; nil if the process is gone.
    public func unwinder(for pid: pid_t) -> ProcessUnwinder? {
        if let unwinder = unwinders[pid] { return unwinder }
        guard !unavailable.contains(pid) else { return nil }
        // Debug files are looked for inside the process's own root (a container's).
        let locator = DebugFileLocator(root: "/proc/\(pid)/root", extraDirectories: debugDirectories)
        guard let unwinder = try? ProcessUnwinder(pid: pid, debugFiles: locator) else {
            unavailable.insert(pid)
            return nil
        }
        unwinders[pid] = unwinder
        return unwinder
    }

    /// Drops a process's unwinder (it exec'd another program): the next one is made anew.
    public func forget(_ pid: pid_t) {
        unwinders[pid] = nil
        unavailable.remove(pid)
    }

    /// Re-reads the memory maps of live processes (libraries loaded since), and drops the
    /// unwinders of processes that are gone.
    public func refresh() {
        for (pid, unwinder) in unwinders {
            do { try unwinder.report() } catch { processExited(pid) }
        }
    }

    /// The process is gone: its unwinder (its libdwfl session, the costly part) goes too,
    /// so memory follows the live processes, not all that ever ran.
    public func processExited(_ pid: pid_t) {
        unwinders[pid] = nil
        unavailable.insert(pid)
    }

    /// Forgets a process gone long enough that no sample of it can still arrive.
    public func forget(exited pid: pid_t) {
        unavailable.remove(pid)
    }

    /// A stack copy's user stack, unwound by its process's unwinder, and how it ended; counted
    /// in `statistics`.
    func userStack(of sample: StackSample, maxFrames: Int,
                   statistics: inout RingBufferStacks.Statistics) -> (user: StackHalf, end: StackEnd?) {
        let start = Clock.threadCPUSeconds()
        defer { statistics.unwindSeconds += Clock.threadCPUSeconds() - start }
        statistics.samples += 1
        guard !sample.bytes.isEmpty else {
            statistics.copyFailed += 1
            return (.lost(.copyFailed), nil)
        }
        guard let unwinder = unwinder(for: sample.pid) else {
            statistics.processGone += 1
            return (.lost(.processGone), nil)
        }
        let unwound = unwinder.unwind(sample, maxFrames: maxFrames)
        if unwound.wentRound { statistics.wentRound += 1 }
        if unwound.endedPastSignalStack { statistics.endedPastSignalStack += 1 }
        switch unwound.end {
        case .complete: statistics.complete += 1
        case .truncated: statistics.truncated += 1
        case .unknown: statistics.unknownEnd += 1
        }
        return (.frames(unwound.frames), unwound.end)
    }
}
