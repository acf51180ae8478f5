import EmberSampling
#if canImport(Glibc)
import Glibc
#endif

/// Unwinds DWARF-mode samples as they arrive from the ring buffer and counts the
/// resulting stacks, so only distinct stacks are kept (the stack copies are not).
public final class DWARFStacks {
    struct Key: Hashable {
        var pid: Int32
        var tid: Int32
        var comm: String
        var user: StackHalf
        var end: StackEnd?
        var kernelStackID: Int32
    }

    /// What the unwinder did, for the report.
    public struct Statistics: Sendable, Equatable {
        public var samples: UInt64 = 0
        public var complete: UInt64 = 0
        public var truncated: UInt64 = 0
        public var unknownEnd: UInt64 = 0
        public var processGone: UInt64 = 0
        public var copyFailed: UInt64 = 0
        /// CPU seconds spent unwinding.
        public var unwindSeconds: Double = 0
        public init() {}
    }

    private var counts: [Key: UInt64] = [:]
    private let unwinders: UnwinderCache
    public private(set) var statistics = Statistics()
    public let maxFrames: Int

    public init(unwinders: UnwinderCache, maxFrames: Int = 127) {
        self.unwinders = unwinders
        self.maxFrames = maxFrames
    }

    /// The kernel stack ids the counted samples refer to (read from the stack map at the end).
    public var kernelStackIDs: Set<Int32> {
        Set(counts.keys.map(\.kernelStackID).filter { $0 >= 0 })
    }

    /// Unwinds and counts one sample (called from the ring-buffer handler).
    public func add(_ sample: StackSample) {
        let start = threadCPUSeconds()
        defer { statistics.unwindSeconds += threadCPUSeconds() - start }
        statistics.samples += 1
        var key = Key(pid: sample.pid, tid: sample.tid, comm: sample.comm, user: .absent, end: nil,
                      kernelStackID: sample.kernelStackID)
        if sample.stack.isEmpty {
            key.user = .lost(.copyFailed)
            statistics.copyFailed += 1
        } else if let unwinder = unwinders.unwinder(for: sample.pid) {
            let unwound = unwinder.unwind(sample, maxFrames: maxFrames)
            key.user = .frames(unwound.frames)
            key.end = unwound.end
            switch unwound.end {
            case .complete: statistics.complete += 1
            case .truncated: statistics.truncated += 1
            case .unknown: statistics.unknownEnd += 1
            }
        } else {
            key.user = .lost(.processGone)
            statistics.processGone += 1
        }
        counts[key, default: 0] += 1
    }

    /// The counted stacks, with kernel stacks from the stack map.
    public func callStacks(kernelStacks: [Int32: [UInt64]]) -> [CallStack] {
        counts.map { key, count in
            CallStack(pid: key.pid, tid: key.tid, threadName: key.comm, user: key.user, userEnd: key.end,
                      kernel: FramePointerStacks.half(key.kernelStackID, kernelStacks), count: count)
        }
    }

}

/// One ``ProcessUnwinder`` per process, made while the process lives (its modules are
/// reported from /proc/PID/maps) and kept after it exits.
public final class UnwinderCache {
    private var unwinders: [pid_t: ProcessUnwinder] = [:]
    private var unavailable: Set<pid_t> = []

    public init() {}

    /// The process's unwinder, made now if needed; nil if the process is gone.
    public func unwinder(for pid: pid_t) -> ProcessUnwinder? {
        if let unwinder = unwinders[pid] { return unwinder }
        guard !unavailable.contains(pid) else { return nil }
        guard let unwinder = try? ProcessUnwinder(pid: pid) else {
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

    /// Re-reads the memory maps of live processes (libraries loaded since).
    public func refresh() {
        for unwinder in unwinders.values { try? unwinder.report() }
    }
}

func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
