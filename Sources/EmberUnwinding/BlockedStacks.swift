import EmberSampling
#if canImport(Glibc)
import Glibc
#endif

/// Off-CPU blocks whose user stacks came through the ring buffer: copies of blocked threads'
/// stacks (`--unwind dwarf`), unwound here as they arrive, while the process lives, and CFI
/// walks the kernel's map of walked stacks had no room for. A block's stack comes at its
/// switch-out, its length at its switch-in (``BlockEnd``); they are joined by thread and
/// start time, and the time is summed by stack.
///
/// What waits for its end is bounded by the threads: a thread blocks once at a time, so one
/// stack per thread, as unwound frames (the copy itself is not kept); a thread's next stack
/// replaces one whose end never came (counted), and the threads of processes taken with
/// ``takeStacks(of:stacks:walkedStacks:)`` go with them.
public final class BlockedStacks {
    /// What came and what did not, for the report.
    public struct Statistics: Sendable, Equatable {
        /// Stack copies received, and how their unwinding ended (as for CPU samples).
        public var unwinding = RingBufferStacks.Statistics()
        /// Walked stacks received whole.
        public var walkedStacks: UInt64 = 0
        /// Ends whose stack never came, and their time (under a lost user stack).
        public var endsWithoutStack: UInt64 = 0
        public var endsWithoutStackNanoseconds: UInt64 = 0
        /// Stacks whose block's end never came (the thread's next stack came first, or its
        /// process was taken, or recording ended); their time is counted in the kernel.
        public var stacksWithoutEnd: UInt64 = 0
        public init() {}
    }

    private struct Pending {
        var start: UInt64
        var pid: Int32
        var user: StackHalf
        var end: StackEnd?
        var pythonStackHash: UInt64
    }

    private struct Key: Hashable {
        var pid: Int32
        var tid: Int32
        var comm: String
        var user: StackHalf
        var end: StackEnd?
        var kernelStackID: Int32
        var waker: OffCPUWaker?
        var pythonStackHash: UInt64
    }

    private var pending: [Int32: Pending] = [:]
    private var nanoseconds: [Key: UInt64] = [:]
    /// Each block's end and length by key, when times are kept.
    private var intervals: [Key: [BlockInterval]] = [:]
    private let unwinders: UnwinderCache
    private let maxFrames: Int
    public let keepsSampleTimes: Bool
    public private(set) var statistics = Statistics()
    /// The processes with time here.
    public private(set) var sampledProcesses: Set<pid_t> = []

    public init(unwinders: UnwinderCache, maxFrames: Int = 127, keepsSampleTimes: Bool = false) {
        self.unwinders = unwinders
        self.maxFrames = maxFrames
        self.keepsSampleTimes = keepsSampleTimes
    }

    /// Takes a ``StackSample/Kind/blockCopy``, ``StackSample/Kind/blockAddresses`` or
    /// ``StackSample/Kind/blockEnd`` record (called from the ring-buffer handler).
    public func add(_ record: StackSample) {
        switch record.kind {
        case .blockCopy, .blockAddresses:
            var stack = Pending(start: record.time, pid: record.pid, user: .absent, end: nil,
                                pythonStackHash: record.pythonStackHash)
            if record.kind == .blockCopy {
                (stack.user, stack.end) = unwinders.userStack(of: record, maxFrames: maxFrames,
                                                              statistics: &statistics.unwinding)
            } else {
                statistics.walkedStacks += 1
                let addresses = record.userAddresses
                stack.user = addresses.isEmpty ? .lost(.copyFailed) : .frames(addresses)
                stack.end = record.walkEnd.map(StackEnd.init)
            }
            if pending.updateValue(stack, forKey: record.tid) != nil { statistics.stacksWithoutEnd += 1 }
        case .blockEnd:
            if let end = record.blockEnd { add(end) }
        default:
            return
        }
    }

    /// A block's end, from the ring buffer or still open at the stop: its time goes under the
    /// stack its thread sent at its start.
    public func add(_ block: BlockEnd) {
        var user: StackHalf = .lost(.stackNotReceived)
        var end: StackEnd?
        var pythonStackHash: UInt64 = 0
        if let stack = pending[block.tid], stack.start <= block.start {
            pending[block.tid] = nil
            if stack.start == block.start {
                (user, end, pythonStackHash) = (stack.user, stack.end, stack.pythonStackHash)
            } else {
                statistics.stacksWithoutEnd += 1  // an older block's: this one's never came
            }
        }
        guard block.kept else { return }  // under --min-block: counted by the kernel
        if case .lost(.stackNotReceived) = user {
            statistics.endsWithoutStack += 1
            statistics.endsWithoutStackNanoseconds += block.nanoseconds
        }
        let key = Key(pid: block.pid, tid: block.tid, comm: block.comm, user: user, end: end,
                      kernelStackID: block.kernelStackID, waker: block.waker, pythonStackHash: pythonStackHash)
        nanoseconds[key, default: 0] += block.nanoseconds
        if keepsSampleTimes {
            intervals[key, default: []].append(BlockInterval(end: block.start &+ block.nanoseconds,
                                                             nanoseconds: block.nanoseconds))
        }
        sampledProcesses.insert(block.pid)
    }

    /// The stack-map ids and walked-stack hashes the blocks' kernel stacks and wakers name.
    public func stackReferences(of processes: Set<pid_t>? = nil) -> (ids: Set<Int32>, hashes: Set<UInt64>) {
        var ids = Set<Int32>(), hashes = Set<UInt64>()
        for key in nanoseconds.keys where processes?.contains(key.pid) ?? true {
            ids.insert(key.kernelStackID)
            if let waker = key.waker {
                ids.formUnion([waker.userStackID, waker.kernelStackID])
                hashes.insert(waker.userStackHash)
            }
        }
        return (ids.filter { $0 >= 0 }, hashes.filter { $0 != 0 })
    }

    /// The user addresses of the blocks of `processes`.
    public func userAddresses(of processes: Set<pid_t>) -> [pid_t: [UInt64]] {
        StackHalf.userAddresses(of: nanoseconds.keys, in: processes, pid: { $0.pid }, user: { $0.user })
    }

    /// Takes out the blocks of `processes`, which have ended, as call stacks (see
    /// ``callStacks(stacks:walkedStacks:)``); their threads' stacks still waiting for an end
    /// are let go, counted.
    public func takeStacks(of processes: Set<pid_t>, stacks: [Int32: [UInt64]],
                           walkedStacks: [UInt64: WalkedStack]) -> [CallStack] {
        for (tid, stack) in pending where processes.contains(stack.pid) {
            pending[tid] = nil
            statistics.stacksWithoutEnd += 1
        }
        let (taken, takenIntervals) = nanoseconds.removeEntries(where: { processes.contains($0.pid) }, with: &intervals)
        sampledProcesses.subtract(processes)
        return callStacks(of: taken, intervals: takenIntervals, stacks: stacks, walkedStacks: walkedStacks)
    }

    /// Every block's time as call stacks, each stack's count its nanoseconds, with its waker;
    /// the stacks still waiting for an end are counted as without one (recording is over).
    public func finish(stacks: [Int32: [UInt64]], walkedStacks: [UInt64: WalkedStack]) -> [CallStack] {
        statistics.stacksWithoutEnd += UInt64(pending.count)
        pending.removeAll()
        return callStacks(of: nanoseconds, intervals: intervals, stacks: stacks, walkedStacks: walkedStacks)
    }

    private func callStacks(of times: [Key: UInt64], intervals: [Key: [BlockInterval]], stacks: [Int32: [UInt64]],
                            walkedStacks: [UInt64: WalkedStack]) -> [CallStack] {
        times.map { key, nanoseconds in
            let blocks = intervals[key] ?? []
            var stack = CallStack(pid: key.pid, tid: key.tid, threadName: key.comm, user: key.user, userEnd: key.end,
                                  kernel: FramePointerStacks.half(key.kernelStackID, stacks), count: nanoseconds,
                                  times: blocks.map(\.end))
            stack.durations = blocks.map(\.nanoseconds)
            stack.pythonStackHash = key.pythonStackHash
            stack.waker = key.waker.map { WakerStack($0, stacks: stacks, walkedStacks: walkedStacks) }
            return stack
        }
    }
}
