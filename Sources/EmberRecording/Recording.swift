import CEmberShim
import EmberProfile
import EmberSampling
import EmberSymbolization
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// The result of a recording: the profile, and every figure its report gives.
public struct Recording: Sendable {
    public let settings: RecordingSettings
    /// Sample types `samples`/`count` (the first) and `cpu`/`nanoseconds`; labels `pid`, `tid`,
    /// `comm` and `thread_name`; the process (and with ``RecordingSettings/threadFrames`` the
    /// thread) as the outermost frames.
    public let profile: Profile
    /// The profile's samples as a call tree, merged by frame label (with source positions
    /// when ``SymbolizerOptions/lines`` is on): what folded text and flame graphs show.
    public let tree: FrameTree
    public let report: RecordingReport
}

/// Why a recording ended.
public enum RecordingEnd: Sendable, Equatable {
    case durationReached
    /// SIGINT (Ctrl-C) or SIGTERM.
    case signal(Int32)
    case commandExited
    case processExited(pid_t)
}

/// What happened while recording: samples, losses, unwinding and symbolization figures.
public struct RecordingReport: Sendable {
    /// The BPF program's counters.
    public var counters: SamplingCounters
    /// Samples in the profile.
    public var storedSamples: UInt64
    /// Distinct stacks, as folded text lists them.
    public var uniqueStacks: Int
    public var processCount: Int
    public var threadCount: Int
    /// Threads whose samples were kept without their pid and tid (a recording of more
    /// threads than the profile keeps labels for).
    public var threadsWithoutLabels: Int
    /// Frames at addresses past the profile's limit of locations, merged into the location of
    /// their function and line (counted once per process and address), and the limit.
    public var mergedAddresses = 0
    public var locationLimit = 0
    /// Processes that ended while recording whose samples were symbolized then, and whose
    /// maps and symbols were let go.
    public var processesAddedAsTheyEnded: Int
    /// Files closed while recording because no process mapped them any more.
    public var filesClosedUnmapped: Int
    /// Seconds of sampling.
    public var elapsed: Double
    /// Seconds the hypervisor took from the machine's CPUs meanwhile (all CPUs together;
    /// nil where /proc/stat gives no steal), and how many CPUs were online.
    public var stolenSeconds: Double?
    public var onlineCPUs = 1
    public var endReason: RecordingEnd
    /// When the events were disabled (monotonic seconds): the time the outputs took
    /// counts from here.
    public var samplingEnded: Double
    /// Samples whose stack (or half of it) was lost, by reason.
    public var lostStacks: [String: UInt64]
    public var symbolization: SymbolizationStatistics
    public var kernelSymbolsVisible: Bool
    /// The target process's name (with a process target).
    public var targetName: String?
    public var unwinding: UnwindingReport
    /// Off-CPU and wall recordings: the blocks counted, dropped and lost.
    public var offCPU: OffCPUReport?
    /// Python frames: the processes that had them, and what kept samples native only
    /// (nil with --no-interpreter).
    public var python: PythonReport?

    /// How many threads' samples keep their pid and tid labels.
    public static let labelledThreadLimit = 50_000

    /// Samples the program saw: every one is in the profile or counted as lost.
    public var samplesSeen: UInt64 { max(counters.samples, storedSamples) }

    /// The stolen time, where it is worth a line: at least 1% of the CPUs' time and 10 ms.
    public var notableStolenSeconds: Double? {
        guard let stolen = stolenSeconds, stolen >= 0.01, stolen >= 0.01 * elapsed * Double(max(onlineCPUs, 1))
        else { return nil }
        return stolen
    }
}

/// Python frames in a recording, for the report.
public struct PythonReport: Sendable {
    /// "name (pid): CPython 3.12.1", for each process given Python frames.
    public var processes: [String]
    /// "name (pid): why", for each Python process left with native frames only.
    public var unsupportedProcesses: [String]
    /// Processes whose 3.13+ debug offsets disagreed with ember's table, with the fields.
    public var debugOffsetMismatches: [String]
    public var merging: PythonMergeStatistics
    public var naming: PythonCodeNames.Statistics
    /// The deepest Python stack the kernel walks.
    public static let maximumDepth = Int(EMBER_MAX_PYTHON_DEPTH)
}

/// What an off-CPU recording counted, for the report.
public struct OffCPUReport: Sendable {
    public var counters: OffCPUCounters
    /// Off-CPU nanoseconds in the profile.
    public var storedNanoseconds: UInt64
    /// Nanoseconds whose stack (or half of it) was lost, by reason.
    public var lostStacks: [String: UInt64]
    public var configuration: OffCPUConfiguration
    /// The frameless-leaf fix on off-CPU stacks, in nanoseconds.
    public var leafFix: FramePointerStacks.Statistics
    /// Blocks whose stacks came through the ring buffer (--unwind dwarf, or a full map of
    /// walked stacks): their unwinding, and what came without its other half.
    public var ringBufferStacks = BlockedStacks.Statistics()
    /// How the blocked threads' Python frames joined their native stacks, in nanoseconds.
    public var pythonMerging = PythonMergeStatistics()
}

/// How stacks were unwound, for the report.
public struct UnwindingReport: Sendable {
    public var mode: UnwindMode
    public var dwarfProcesses: ProcessList
    public var framePointerProcesses: ProcessList
    /// Processes walked in the kernel by CFI, and the tables loaded for them.
    public var cfiProcesses: ProcessList
    public var kernelTables: KernelUnwindTables.Statistics?
    public var ringBuffer: RingBufferStacks.Statistics
    public var leafFix: FramePointerStacks.Statistics
    public var uniqueKernelKeys: Int
}

/// Processes named in a report: the first few, and how many in all (a system-wide recording
/// can see hundreds of thousands).
public struct ProcessList: Sendable {
    public private(set) var first: [String] = []
    public private(set) var count = 0
    private var names: Set<String> = []

    /// Adds a process ("name (pid)"); one without a name (gone before it was read) is only
    /// counted. The same name and pid again (a process chosen for again at its exec, and
    /// named by its new program both times) is one process.
    mutating func add(_ name: String?) {
        if let name {
            guard names.insert(name).inserted else { return }
            if first.count < 3 { first.append(name) }
        }
        count += 1
    }

    public var isEmpty: Bool { count == 0 }
}
