import EmberSampling
import Glibc

/// What is known of one half (user or kernel) of a sampled stack.
public enum StackHalf: Hashable, Sendable {
    /// The addresses, innermost first.
    case frames([UInt64])
    /// There is no such stack: a kernel thread has no user stack, a sample taken in user
    /// mode no kernel stack. Not a loss.
    case absent
    /// The stack existed but was lost; the reason is for the report and the frame name.
    case lost(StackLoss)
}

extension StackHalf {
    /// Per process, the addresses (exact-pc marks taken off) of the user halves of `keys`'
    /// stacks: what the symbolizer reads before those processes' memory maps go.
    static func userAddresses<Keys: Sequence>(
        of keys: Keys, in processes: Set<pid_t>, pid: (Keys.Element) -> pid_t, user: (Keys.Element) -> StackHalf
    ) -> [pid_t: [UInt64]] {
        var addresses: [pid_t: [UInt64]] = [:]
        for key in keys where processes.contains(pid(key)) {
            if case .frames(let frames) = user(key) {
                addresses[pid(key), default: []] += frames.map(UserFrameAddress.address)
            }
        }
        return addresses
    }
}

extension Dictionary {
    /// Takes out the entries whose key `matches`, with their entries in `companion` (taken out
    /// of it too): a process's stacks and their times, say, once it has ended.
    mutating func removeEntries<Other>(
        where matches: (Key) -> Bool, with companion: inout [Key: Other]
    ) -> (taken: [Key: Value], companion: [Key: Other]) {
        let taken = filter { matches($0.key) }
        var takenCompanion: [Key: Other] = [:]
        for key in taken.keys {
            self[key] = nil
            takenCompanion[key] = companion.removeValue(forKey: key)
        }
        return (taken, takenCompanion)
    }
}

/// Why a stack was lost.
public enum StackLoss: Hashable, Sendable {
    /// Its bucket in the stack-trace map held another stack (raise --stack-map-size).
    case stackMapCollision
    /// bpf_get_stackid failed otherwise; the errno.
    case error(Int32)
    /// Its id was counted but no longer found in the stack map.
    case missing
    /// The process exited before its stack could be unwound.
    case processGone
    /// The sample's stack could not be read: the process was exec'ing (its old memory going),
    /// or the page was not present.
    case copyFailed
    /// Off-CPU: the thread was blocked already when recording began, so its stack was never
    /// taken (``EmberSampling/blockedBeforeRecordingStackID``).
    case blockedBeforeRecording
    /// Off-CPU: the stack (or its block's end) went through the ring buffer, which was full.
    case ringBufferFull
    /// Off-CPU: a block's end came through the ring buffer, but its stack never did.
    case stackNotReceived
}

/// One distinct sampled stack and how many samples had it.
public struct CallStack: Hashable, Sendable {
    public var pid: Int32
    public var tid: Int32
    public var threadName: String
    public var user: StackHalf
    /// How the user stack ends, when it was unwound in user space (DWARF); nil when the
    /// kernel walked it.
    public var userEnd: StackEnd?
    public var kernel: StackHalf
    public var count: UInt64
    /// When each of its samples was taken (CLOCK_MONOTONIC nanoseconds), where they were
    /// kept (see ``RingBufferStacks/keepsSampleTimes``); empty otherwise.
    public var times: [UInt64]
    /// Off-CPU with times kept: each block's length, beside ``times`` (each block's end);
    /// ``count`` is then nanoseconds.
    public var durations: [UInt64] = []
    /// Off-CPU with wakeups: the task that woke the blocked thread.
    public var waker: WakerStack?
    /// Nonzero: the thread was running Python; its frames are the Python stack of this hash
    /// (``EmberSampling/SampleKey/pythonStackHash``), merged into the native ones when named.
    public var pythonStackHash: UInt64 = 0

    public init(pid: Int32, tid: Int32, threadName: String, user: StackHalf, userEnd: StackEnd? = nil,
                kernel: StackHalf, count: UInt64, times: [UInt64] = [], waker: WakerStack? = nil) {
        self.pid = pid
        self.tid = tid
        self.threadName = threadName
        self.user = user
        self.userEnd = userEnd
        self.kernel = kernel
        self.count = count
        self.times = times
        self.waker = waker
    }
}

/// The stacks of the task that woke a blocked thread (off-wake profiles).
public struct WakerStack: Hashable, Sendable {
    public var pid: Int32
    public var threadName: String
    /// -1: an interrupt on an idle CPU (no task).
    public var tid: Int32
    public var user: StackHalf
    public var kernel: StackHalf

    public init(pid: Int32, threadName: String, tid: Int32, user: StackHalf, kernel: StackHalf) {
        self.pid = pid
        self.threadName = threadName
        self.tid = tid
        self.user = user
        self.kernel = kernel
    }
}

extension WakerStack {
    /// The waker as the off-CPU program noted it, its stacks looked up: ids in the stack map,
    /// or a CFI walk's hash.
    public init(_ waker: OffCPUWaker, stacks: [Int32: [UInt64]], walkedStacks: [UInt64: WalkedStack]) {
        let user: StackHalf = waker.userStackHash == 0 ? FramePointerStacks.half(waker.userStackID, stacks)
            : walkedStacks[waker.userStackHash].map { .frames($0.frames) } ?? .lost(.missing)
        self.init(pid: waker.pid, threadName: waker.comm, tid: waker.tid, user: user,
                  kernel: FramePointerStacks.half(waker.kernelStackID, stacks))
    }
}
