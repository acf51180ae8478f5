import CEmberShim

/// One distinct sample key as the BPF program counted it.
public struct SampleKey: Hashable, Sendable {
    /// The process (thread group id).
    public var pid: Int32
    /// The thread.
    public var tid: Int32
    /// The thread's name when it was sampled.
    public var comm: String
    /// Id of the user stack in the stacks map, or a negative errno.
    public var userStackID: Int32
    /// Id of the kernel stack in the stacks map, or a negative errno.
    public var kernelStackID: Int32
    /// The two words at the user stack pointer when they could be user addresses (else 0):
    /// the return address a frame-pointer walk misses in a frameless function.
    public var stackWords: [UInt64]
    /// Nonzero: the user stack was walked in the kernel by CFI, and is
    /// ``RawSamples/walkedStacks`` under this hash (``userStackID`` is then -ENOENT).
    public var userStackHash: UInt64
    /// Nonzero: the thread was running Python, and its frames are the Python stack of this
    /// hash (``Sampler/pythonStack(_:)``).
    public var pythonStackHash: UInt64

    public init(pid: Int32, tid: Int32, comm: String, userStackID: Int32, kernelStackID: Int32,
                stackWords: [UInt64] = [0, 0], userStackHash: UInt64 = 0, pythonStackHash: UInt64 = 0) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.userStackID = userStackID
        self.kernelStackID = kernelStackID
        self.stackWords = stackWords
        self.userStackHash = userStackHash
        self.pythonStackHash = pythonStackHash
    }
}

/// How a user stack walked in the kernel by CFI ended.
public enum WalkEnd: Sendable, Hashable {
    /// At the outermost frame (its CFI says there is no caller, or a zero return address).
    case complete
    /// At the depth limit.
    case truncated
    /// A frame could not be read, or the walk did not rise.
    case unknown

    init(kernelValue: UInt32) {
        switch kernelValue {
        case EMBER_END_COMPLETE.rawValue: self = .complete
        case EMBER_END_TRUNCATED.rawValue: self = .truncated
        default: self = .unknown
        }
    }
}

/// A user stack's frame addresses, innermost first, are the sampled pc and then return
/// addresses (their call is at the address minus one), except where a signal came: the
/// signal's trampoline, which a handler "returns" to at its first byte, and the frame the
/// signal interrupted, at the exact pc it was interrupted. Both walks (the kernel's and the
/// DWARF unwinder's) mark those in the address's top bit, which no x86-64 user address has.
public enum UserFrameAddress {
    public static let exactMark = UInt64(EMBER_EXACT_PC)

    /// The frame's address, without its mark.
    @inlinable public static func address(_ frame: UInt64) -> UInt64 { frame & ~exactMark }

    /// Whether the frame's address is where its code was (the first frame, or a marked one),
    /// rather than a return address.
    @inlinable public static func isExact(_ frame: UInt64, at index: Int) -> Bool {
        index == 0 || frame & exactMark != 0
    }
}

/// A user stack walked in the kernel by CFI.
public struct WalkedStack: Sendable, Hashable {
    /// Innermost first: the sampled pc, then return addresses (see ``UserFrameAddress``).
    public var frames: [UInt64]
    public var end: WalkEnd

    public init(frames: [UInt64], end: WalkEnd) {
        self.frames = frames
        self.end = end
    }
}

/// A sample that came through the ring buffer rather than the counts map, or an event
/// about a target process.
/// `bytes` is only valid while the handler that receives it runs.
public struct StackSample {
    /// What `bytes` holds.
    public enum Kind: Sendable {
        /// DWARF mode: the top of the user stack, from the stack pointer up.
        case stackCopy
        /// Frame-pointer mode, for a sample the maps could not count: the user return
        /// addresses as the kernel walked them, innermost first.
        case addresses
        /// LBR mode: the CPU's call-stack branch records (`struct perf_branch_entry`),
        /// most recent call first.
        case branchRecords
        /// Not a sample: a target forked this process (``StackSample/pid``).
        case processForked
        /// Not a sample: the process exec'd a new program.
        case processExecuted
        /// Not a sample: the kernel's CFI walk met a pc in none of the process's mappings
        /// (a library mapped since they were read): they are to be read again.
        case processUnmappedCode
        /// Off-CPU: a block the counts map had no room for (see ``offCPUBlock``).
        case offCPUTime
        /// Not a stack: the time of a sample counted in the kernel under ``countedKey``
        /// (``SamplerConfiguration/sampleTimes``).
        case countedTime
        /// Off-CPU, not a stack: the interval of a block counted in the kernel (see
        /// ``blockInterval``), with ``SamplerConfiguration/sampleTimes``.
        case blockTime
        /// Not a sample: a Python stack new to the kernel's map (``pythonStackHash``), whose
        /// code objects are to be named while the process lives.
        case pythonStackNew
        /// Off-CPU, at a thread's switch-out (``time``: the block's start): a copy of its user
        /// stack as ``stackCopy`` holds one (`--unwind dwarf`), and ``kernelStackID``...
        case blockCopy
        /// ...or the pcs of a CFI walk the kernel's map had no room for, as ``addresses``
        /// holds them. Its block's length follows in a ``blockEnd`` (see ``blockEnd``).
        case blockAddresses
        /// Off-CPU, at a thread's switch-in: the end of a block whose stack came as
        /// ``blockCopy`` or ``blockAddresses`` (see ``StackSample/blockEnd``).
        case blockEnd
    }

    public var kind: Kind
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// When it was taken (CLOCK_MONOTONIC nanoseconds), and on which CPU.
    public var time: UInt64
    public var cpu: UInt32
    public var instructionPointer: UInt64
    public var stackPointer: UInt64
    public var framePointer: UInt64
    /// Frame-pointer mode: the words at the stack pointer (see ``SampleKey/stackWords``).
    public var stackWords: [UInt64]
    /// The stack continues past the copy.
    public var stackIsTruncated: Bool
    /// The stack copy, the user addresses or the branch records (see ``kind``).
    public var bytes: UnsafeRawBufferPointer
    /// Kernel addresses, innermost first (empty for a sample taken in user mode).
    public var kernelAddresses: [UInt64]
    /// ``Kind/addresses`` walked in the kernel by CFI: how the walk ended (nil for a
    /// frame-pointer walk).
    public var walkEnd: WalkEnd?
    /// ``Kind/countedTime``: the key the sample was counted under.
    public var countedKey: SampleKey?
    /// The sampled thread's Python frames (see ``SampleKey/pythonStackHash``); 0: none.
    public var pythonStackHash: UInt64 = 0
    /// ``Kind/blockCopy``, ``Kind/blockAddresses`` and ``Kind/blockEnd``: the blocked thread's
    /// kernel stack, an id in the stack map (or a negative errno).
    public var kernelStackID: Int32 = 0

    public init(kind: Kind, pid: Int32, tid: Int32, comm: String, time: UInt64 = 0, cpu: UInt32 = 0,
                instructionPointer: UInt64, stackPointer: UInt64, framePointer: UInt64, stackWords: [UInt64],
                stackIsTruncated: Bool, bytes: UnsafeRawBufferPointer, kernelAddresses: [UInt64],
                walkEnd: WalkEnd? = nil, countedKey: SampleKey? = nil) {
        self.kind = kind
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.time = time
        self.cpu = cpu
        self.instructionPointer = instructionPointer
        self.stackPointer = stackPointer
        self.framePointer = framePointer
        self.stackWords = stackWords
        self.stackIsTruncated = stackIsTruncated
        self.bytes = bytes
        self.kernelAddresses = kernelAddresses
        self.walkEnd = walkEnd
        self.countedKey = countedKey
    }

    /// `bytes` read as addresses (for ``Kind/addresses``).
    public var userAddresses: [UInt64] {
        (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
    }
}

/// What the BPF program's counters say about samples that were not stored whole.
public struct SamplingCounters: Sendable, Equatable {
    /// Samples of target tasks the program saw (stored or not).
    public var samples: UInt64 = 0
    /// User stacks lost because their bucket in the stack map held another stack.
    public var userStackCollisions: UInt64 = 0
    /// Kernel stacks lost the same way.
    public var kernelStackCollisions: UInt64 = 0
    /// User stacks lost to any other error of bpf_get_stackid.
    public var userStackErrors: UInt64 = 0
    /// Kernel stacks lost to any other error of bpf_get_stackid.
    public var kernelStackErrors: UInt64 = 0
    /// Samples dropped whole because the counts map was full.
    public var countsMapFull: UInt64 = 0
    /// Child processes that could not be followed because the targets map was full.
    public var targetsMapFull: UInt64 = 0
    /// Ring-buffer samples dropped because the ring buffer was full: lost.
    public var ringBufferFull: UInt64 = 0
    /// Frame-pointer samples sent whole through the ring buffer because their stack's
    /// bucket was taken or the counts map was full (not lost).
    public var overflowSamples: UInt64 = 0
    /// DWARF samples whose registers or stack could not be read.
    public var stackCopyErrors: UInt64 = 0
    /// DWARF samples sent to user space.
    public var dwarfSamples: UInt64 = 0
    /// LBR samples whose branch records could not be read.
    public var branchRecordErrors: UInt64 = 0
    /// LBR samples sent to user space.
    public var branchSamples: UInt64 = 0
    /// User stacks walked in the kernel by CFI.
    public var cfiSamples: UInt64 = 0
    /// CFI processes' samples sent as stack copies instead: a pc in a file whose table was
    /// not loaded yet, or in no known mapping.
    public var cfiPending: UInt64 = 0
    /// CFI processes' samples sent as stack copies instead: a rule the walk lacks.
    public var cfiNeedsCopy: UInt64 = 0
    /// CFI stacks sent whole through the ring buffer (their map full, or their hash taken).
    public var cfiStacksFull: UInt64 = 0
    /// Times of counted samples dropped by a full ring buffer (the samples are counted,
    /// without a time).
    public var sampleTimesLost: UInt64 = 0
    /// Fork and exec events dropped by a full ring buffer (user space finds those
    /// processes at its next scan of the targets, about a second later).
    public var processEventsLost: UInt64 = 0
    /// Samples of Python processes that carry their Python frames.
    public var pythonSamples: UInt64 = 0
    /// Samples of Python processes whose thread ran no Python (no thread state or no frame).
    public var pythonNoThread: UInt64 = 0
    /// Python frame chains cut by a read fault, and by the depth limit.
    public var pythonReadErrors: UInt64 = 0
    public var pythonTruncated: UInt64 = 0
    /// Python stacks the map had no room for: those samples kept only their native frames.
    public var pythonStacksFull: UInt64 = 0
    /// New Python stacks not announced (a full ring buffer): named at the end if their
    /// process still lives.
    public var pythonNewsLost: UInt64 = 0

    public init() {}
}

/// Everything read from the maps at the end of a recording.
public struct RawSamples: Sendable {
    /// Sample counts by key.
    public var counts: [SampleKey: UInt64]
    /// Addresses of each stack referenced by a key, innermost first.
    public var stacks: [Int32: [UInt64]]
    /// Loss counters.
    public var counters: SamplingCounters
    /// The user stacks walked in the kernel by CFI that keys reference, by hash.
    public var walkedStacks: [UInt64: WalkedStack]

    public init(counts: [SampleKey: UInt64], stacks: [Int32: [UInt64]], counters: SamplingCounters,
                walkedStacks: [UInt64: WalkedStack] = [:]) {
        self.counts = counts
        self.stacks = stacks
        self.counters = counters
        self.walkedStacks = walkedStacks
    }
}
