import EmberSampling
import EmberSymbolization
#if canImport(Glibc)
import Glibc
#endif

/// What a recording samples.
public enum RecordingTarget: Sendable {
    /// A running process, its threads and its child processes.
    case process(pid_t)
    /// A command launched for the recording, and its children.
    case command([String])
    /// Every task on the system.
    case system
}

/// How user stacks are unwound (`--unwind`).
public enum UnwindMode: String, CaseIterable, Sendable {
    case fp, dwarf, lbr, auto
}

/// What a recording measures (`--off-cpu`, `--wall`).
public enum RecordingMode: Sendable, Equatable {
    /// CPU samples at a frequency.
    case cpu
    /// Time switched out, by the stack the thread blocked in.
    case offCPU
    /// Both, in nanoseconds: the widths add up to each thread's wall-clock time.
    case wall
}

/// Everything a recording is told: what to sample, how, and how to name frames.
public struct RecordingSettings: Sendable {
    public var target: RecordingTarget
    /// Seconds to record; nil: until the target exits or a signal stops it.
    public var duration: Double?
    /// Samples per second on each CPU.
    public var frequency = 99
    /// Sample at exactly 1/frequency, as perf does, instead of a period that varies
    /// (`SamplingPeriodVariation`) and so cannot lock onto work repeating at that period.
    public var fixedPeriod = false
    public var kernelStacks = true
    /// A frame for each thread under its process.
    public var threadFrames = false
    public var stackMapSize = 16384
    /// Entries of the map of stacks walked by CFI in the kernel; nil: ``stackMapSize``.
    public var walkedStacksMapSize: Int?
    public var countsMapSize = 65536
    public var unwind = UnwindMode.auto
    /// --unwind auto: rows of the kernel's unwind tables (all files together); 0: none, and
    /// processes are unwound by frame pointers or DWARF in user space, by their binary.
    public var unwindTableRows = 1 << 20
    /// Locations (distinct code addresses) the profile keeps apart; past it, a new address
    /// is merged into the location of the function and line it names (see ProfileBuilder).
    public var maximumLocations = 100_000
    /// DWARF unwinding: bytes of user stack copied per sample.
    public var stackSize = 16384
    /// Bytes of the BPF ring buffer; nil: the sampler's default for the unwinding method.
    public var ringBufferSize: Int?
    /// Restore the caller of frameless leaf functions in frame-pointer stacks.
    public var leafFix = true
    public var symbolization = SymbolizerOptions()
    /// System-wide, sample ember's own threads too (by default they are left out: they are
    /// the profiler, not the system).
    public var includeSelf = false
    /// Keep each sample's time where the sampler gives one (samples sent through the ring
    /// buffer), for outputs that show time; otherwise samples are counted.
    public var keepSampleTimes = false
    public var mode = RecordingMode.cpu
    /// Off-CPU and wall modes: what blocks to keep (`--min-block`, `--state`).
    public var offCPU = OffCPUConfiguration()
    /// Python processes' frames in place of the interpreter's (`--no-interpreter` turns it off).
    public var interpreterFrames = true

    public init(target: RecordingTarget) {
        self.target = target
    }
}

/// Where a recording stands, for a progress display.
public struct RecordingProgress: Sendable {
    public var elapsed: Double
    /// Samples the BPF program has seen so far.
    public var samples: UInt64
}

/// An error of a recording, as one line.
public struct RecordingError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
