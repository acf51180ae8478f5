import CEmberShim
import CLibBPF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// The states a thread can be switched out in, as `--state` names them.
public struct OffCPUStates: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// R: preempted, waiting for a CPU.
    public static let runnable = OffCPUStates(rawValue: EMBER_OFFCPU_RUNNABLE.rawValue)
    /// S: sleeping until something happens (a sleep, a read, a futex).
    public static let interruptible = OffCPUStates(rawValue: EMBER_OFFCPU_INTERRUPTIBLE.rawValue)
    /// D: uninterruptible (disk I/O, some kernel locks).
    public static let uninterruptible = OffCPUStates(rawValue: EMBER_OFFCPU_UNINTERRUPTIBLE.rawValue)
    /// Stopped, traced, parked and the rest.
    public static let other = OffCPUStates(rawValue: EMBER_OFFCPU_OTHER.rawValue)
    public static let all: OffCPUStates = [.runnable, .interruptible, .uninterruptible, .other]
}

/// What the off-CPU program keeps, and the sizes of its maps.
public struct OffCPUConfiguration: Sendable {
    /// Blocks shorter than this (nanoseconds) are counted as dropped, not kept.
    public var minimumBlock: UInt64 = 1_000
    public var states: OffCPUStates = .all
    /// Entries of the map of threads switched out now.
    public var blockedMapSize = 65536
    /// Entries of the map of off-CPU time by key.
    public var countsMapSize = 65536
    /// Note the task that woke each blocked thread, with its stacks (`sched_waking`).
    public var wakeups = false

    public init() {}

    /// The options as the off-CPU program reads them (its `.rodata.offcpu`).
    var programOptions: ember_offcpu_config {
        var options = ember_offcpu_config()
        options.min_block_ns = minimumBlock
        options.states = states.rawValue
        options.wakeups = wakeups ? 1 : 0
        return options
    }
}

/// What the off-CPU program's counters say, plus the time still open when it stopped.
public struct OffCPUCounters: Sendable, Equatable {
    /// Switch-outs of target threads noted.
    public var switches: UInt64 = 0
    /// Blocks whose time was kept.
    public var blocks: UInt64 = 0
    /// All the time counted: kept, or dropped by a filter.
    public var nanoseconds: UInt64 = 0
    /// Switch-outs that could not be noted: the blocked map was full (their time is lost).
    public var blockedMapFull: UInt64 = 0
    /// Blocks sent through the ring buffer because the counts map was full (not lost).
    public var countsMapFull: UInt64 = 0
    /// Blocks lost because the ring buffer was full, and their time.
    public var ringBufferFull: UInt64 = 0
    public var ringBufferFullNanoseconds: UInt64 = 0
    public var userStackCollisions: UInt64 = 0
    public var kernelStackCollisions: UInt64 = 0
    public var userStackErrors: UInt64 = 0
    public var kernelStackErrors: UInt64 = 0
    /// Blocks under the minimum, and their time.
    public var shortBlocks: UInt64 = 0
    public var shortNanoseconds: UInt64 = 0
    /// Blocks in a state left out, and their time.
    public var stateBlocks: UInt64 = 0
    public var stateNanoseconds: UInt64 = 0
    /// Counted blocks whose interval the full ring buffer refused (their time is counted, in
    /// no range of the time view).
    public var timesLost: UInt64 = 0
    /// With `--unwind auto`: switch-outs whose user stack was walked by CFI in the kernel...
    public var cfiStacks: UInt64 = 0
    /// ...and those whose stack the frame-pointer walk took instead: a pc in a file whose
    /// table was not loaded yet (or in no mapping known), a rule the kernel's walk lacks, or
    /// (a waker's) no room in the map of walked stacks.
    public var cfiPending: UInt64 = 0
    public var cfiNeedsCopy: UInt64 = 0
    public var cfiStacksFull: UInt64 = 0
    /// Blocked threads' user stacks sent through the ring buffer at switch-out: copies
    /// (`--unwind dwarf`, unwound in user space) and CFI walks the map had no room for...
    public var stackCopies: UInt64 = 0
    public var walkedStacksSent: UInt64 = 0
    /// ...copies whose stack could not be read, and stacks the full ring buffer refused
    /// (their blocks' time is counted under a lost user stack).
    public var stackCopyErrors: UInt64 = 0
    public var stacksLost: UInt64 = 0
    /// Ends of such blocks the full ring buffer refused, and their time (counted under a lost
    /// user stack: the stack that came is left without its end).
    public var endsLost: UInt64 = 0
    public var endsLostNanoseconds: UInt64 = 0
    /// Switch-outs that found their thread's previous block still open: its switch-in was not
    /// seen, and its time is lost.
    public var switchInsMissed: UInt64 = 0
    /// Switch-outs of threads running Python, with its frames (merged into the native ones as
    /// a CPU sample's are)...
    public var pythonBlocks: UInt64 = 0
    /// ...of which the frames were cut at one that could not be read, or deeper than the walk goes.
    public var pythonReadErrors: UInt64 = 0
    public var pythonTruncated: UInt64 = 0
    /// Switch-outs whose Python frames found no room in the map (native frames only), and new
    /// Python stacks the full ring buffer could not announce (named at the end).
    public var pythonStacksFull: UInt64 = 0
    public var pythonNewsLost: UInt64 = 0
    /// Switch-outs of a Python process's threads that ran no Python (no thread state, or
    /// one without frames).
    public var pythonNoThread: UInt64 = 0
    /// Threads still switched out when recording stopped (their time counted to the stop).
    public var openAtStop: UInt64 = 0
    /// Threads found blocked when recording began (their stack is not known).
    public var blockedAtStart: UInt64 = 0

    public init() {}
}

/// The task that woke a blocked thread, and its stacks (ids in the stack map, or -errno).
public struct OffCPUWaker: Hashable, Sendable {
    public var pid: Int32
    /// -1: an interrupt on an idle CPU.
    public var tid: Int32
    public var comm: String
    public var userStackID: Int32
    public var kernelStackID: Int32
    /// Nonzero: its user stack was walked by CFI (see ``OffCPUSamples/walkedStacks``).
    public var userStackHash: UInt64 = 0
}

/// Where a thread blocked (as a CPU sample's key), and with wakeups who woke it.
public struct OffCPUKey: Hashable, Sendable {
    public var blocked: SampleKey
    public var waker: OffCPUWaker?
}

/// Off-CPU time as read at the end: nanoseconds and blocks by key, and the stacks.
public struct OffCPUSamples: Sendable {
    /// Nanoseconds by key.
    public var times: [OffCPUKey: UInt64]
    /// Blocks by key.
    public var blocks: [OffCPUKey: UInt64]
    /// The addresses of the stacks the keys name, innermost first.
    public var stacks: [Int32: [UInt64]]
    /// The user stacks walked by CFI at switch-out that keys name, by hash.
    public var walkedStacks: [UInt64: WalkedStack] = [:]
    public var counters: OffCPUCounters
    /// With ``SamplerConfiguration/sampleTimes``: each block's interval by key, its end
    /// (CLOCK_MONOTONIC nanoseconds) and length.
    public var intervals: [OffCPUKey: [BlockInterval]] = [:]
    /// Blocks still open at the stop whose stacks went through the ring buffer: their time
    /// to the stop, to join with those stacks (counted in ``counters`` already).
    public var openBlocksWithSentStacks: [BlockEnd] = []
}

/// The end of a block whose user stack went through the ring buffer at its switch-out
/// (``StackSample/Kind/blockEnd``), or of one still open when recording stopped: the stack is
/// joined to it by ``tid`` and ``start``.
public struct BlockEnd: Sendable, Hashable {
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// When the block began (CLOCK_MONOTONIC nanoseconds), and how long it lasted.
    public var start: UInt64
    public var nanoseconds: UInt64
    /// False: shorter than `--min-block` (counted among the dropped blocks).
    public var kept: Bool
    public var kernelStackID: Int32
    public var waker: OffCPUWaker?

    public init(pid: Int32, tid: Int32, comm: String, start: UInt64, nanoseconds: UInt64, kept: Bool,
                kernelStackID: Int32, waker: OffCPUWaker?) {
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.start = start
        self.nanoseconds = nanoseconds
        self.kept = kept
        self.kernelStackID = kernelStackID
        self.waker = waker
    }
}

/// One block: when it ended (CLOCK_MONOTONIC nanoseconds) and how long it lasted.
public struct BlockInterval: Sendable, Hashable {
    public var end: UInt64
    public var nanoseconds: UInt64

    public init(end: UInt64, nanoseconds: UInt64) {
        self.end = end
        self.nanoseconds = nanoseconds
    }
}

/// The stack id of a thread found blocked when recording began: its stack was taken
/// before ember was there to see it.
public let blockedBeforeRecordingStackID = Int32(EMBER_BLOCKED_BEFORE_RECORDING)

/// Off-CPU time: a BPF program on the `sched_switch` BTF tracepoint that notes when a
/// target thread leaves the CPU, with its stacks, and counts the time until it comes back.
///
/// It shares the ``Sampler``'s pid filter, stack map and ring buffer, so forks are followed
/// and stacks read as for CPU samples; the sampler must outlive it. It owns its own BPF object
/// and link, released in ``close()`` (and on deinit), and being file descriptors, by the
/// kernel if ember dies.
public final class OffCPUSampler {
    public let configuration: OffCPUConfiguration
    private let sampler: Sampler
    private var object: BPFObject?
    private var link: OpaquePointer?
    private var exitLink: OpaquePointer?
    private var wakingLink: OpaquePointer?
    private var countsMap: Int32 = -1
    private var blockedMap: Int32 = -1
    private var countersMap: Int32 = -1
    /// Blocks that came through the ring buffer (the counts map was full).
    private var overflow: [OffCPUKey: (nanoseconds: UInt64, blocks: UInt64)] = [:]
    /// With the sampler's `sampleTimes`: the intervals of the blocks counted so far.
    private var intervals: [OffCPUKey: [BlockInterval]] = [:]
    private var stopTime: UInt64?
    private var blockedAtStart: UInt64 = 0

    /// Loads the program beside `sampler`'s; nothing runs until ``start(seeding:)``.
    public init(sharing sampler: Sampler, configuration: OffCPUConfiguration) throws {
        self.sampler = sampler
        self.configuration = configuration
        do { try load() } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    private func load() throws {
        let object = try BPFObject(bytes: EmbeddedProgram.offCPU, description: "the off-CPU BPF program")
        self.object = object
        guard let cpuProgram = sampler.object else { throw SamplingError.system("the BPF program is closed") }
        // ember_maps.bpf.h and ember_python.bpf.h: the maps both programs declare (not
        // cfi_scratch, cfi_walk_memories or python_scratch, each program's own).
        try object.share(["stacks", "targets", "stack_samples", "process_mappings", "unwind_tables",
                          "unwind_rows", "cfi_stacks", "python_processes", "python_threads", "python_stacks"],
                         with: cpuProgram)
        try object.setMaxEntries("blocked", configuration.blockedMapSize)
        try object.setMaxEntries("offcpu_counts", configuration.countsMapSize)
        try object.setMaxEntries("copy_scratch",
                                 sampler.configuration.unwinding == .dwarf ? max(Int(libbpf_num_possible_cpus()), 1) : 1)
        try object.setReadOnlyData(".rodata.config", to: sampler.configuration.programOptions)
        try object.setReadOnlyData(".rodata.offcpu", to: configuration.programOptions)
        let loaded = object.load()
        if loaded != 0 {
            let detail = BPFObject.libbpfMessage()
            if BPFObject.verifierRefusal() == nil && (detail.contains("sched_switch") || -loaded == ESRCH || -loaded == ENOENT) {
                throw SamplingError.unsupportedKernel(
                    "off-CPU time needs the sched_switch BTF tracepoint (tp_btf) and /sys/kernel/btf/vmlinux (\(detail))")
            }
            throw object.loadError(loaded)
        }
        countsMap = try object.mapDescriptor("offcpu_counts")
        blockedMap = try object.mapDescriptor("blocked")
        countersMap = try object.mapDescriptor("offcpu_counters")
    }

    /// Attaches to `sched_switch`, then notes the threads of `processes` (every process with
    /// nil) that are blocked already: their time counts from now, under a stack that says
    /// they were blocked when recording began.
    public func start(seeding processes: [pid_t]?) throws {
        guard let object else { throw SamplingError.system("the off-CPU BPF program is closed") }
        guard let attached = bpf_program__attach(try object.program("on_switch")) else {
            throw SamplingError.unsupportedKernel(
                "could not attach to the sched_switch BTF tracepoint: \(String(cString: strerror(errno)))")
        }
        link = attached
        guard let exitAttached = bpf_program__attach(try object.program("on_exit")) else {
            throw SamplingError.unsupportedKernel(
                "could not attach to the sched_process_exit BTF tracepoint: \(String(cString: strerror(errno)))")
        }
        exitLink = exitAttached
        if configuration.wakeups {
            guard let wakingAttached = bpf_program__attach(try object.program("on_waking")) else {
                throw SamplingError.unsupportedKernel(
                    "--wakeups needs the sched_waking BTF tracepoint: \(String(cString: strerror(errno)))")
            }
            wakingLink = wakingAttached
        }
        let now = UInt64(Clock.monotonicNanoseconds())
        let ignored = getpid()
        let pids = processes ?? FileContents.directoryEntries("/proc").compactMap { pid_t($0) }
        for pid in pids where pid != ignored {
            for tid in FileContents.directoryEntries("/proc/\(pid)/task").compactMap({ pid_t($0) }) {
                seed(pid: pid, tid: tid, time: now)
            }
        }
    }

    private func seed(pid: pid_t, tid: pid_t, time: UInt64) {
        guard let stat = try? FileContents.text("/proc/\(pid)/task/\(tid)/stat"),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
              let state = stat[stat.index(after: close)...].dropFirst().first
        else { return }
        let bit: OffCPUStates
        switch state {
        case "S": bit = .interruptible
        case "D": bit = .uninterruptible
        default: return  // running, idle kernel threads, zombies
        }
        var start = ember_offcpu_start()
        start.key.pid = UInt32(bitPattern: pid)
        start.key.tid = UInt32(bitPattern: tid)
        start.key.user_stack_id = blockedBeforeRecordingStackID
        start.key.kernel_stack_id = blockedBeforeRecordingStackID
        withUnsafeMutableBytes(of: &start.key.comm) { comm in
            for (index, byte) in stat[stat.index(after: open)..<close].utf8.prefix(comm.count - 1).enumerated() {
                comm[index] = byte
            }
        }
        start.time = time
        start.state = bit.rawValue
        start.dropped = configuration.states.contains(bit) ? 0 : 1
        var key = UInt32(bitPattern: tid)
        // A thread that switched out since the program was attached has its real stack.
        if bpf_map_update_elem(blockedMap, &key, &start, UInt64(BPF_NOEXIST)) == 0 { blockedAtStart += 1 }
    }

    /// Detaches from `sched_switch`: the maps no longer change. Time still open counts to now.
    public func stop() {
        if let link {
            bpf_link__destroy(link)
            self.link = nil
            stopTime = UInt64(Clock.monotonicNanoseconds())
        }
        if let exitLink {
            bpf_link__destroy(exitLink)
            self.exitLink = nil
        }
        if let wakingLink {
            bpf_link__destroy(wakingLink)
            self.wakingLink = nil
        }
    }

    /// The instructions the verifier checked to load each of the off-CPU programs, by name.
    public func verifiedInstructions() throws -> [String: Int] {
        guard let object else { throw SamplingError.system("the off-CPU BPF program is closed") }
        return try object.verifiedInstructions(ofPrograms: ["on_switch", "on_waking", "on_exit"])
    }

    /// Takes a ring-buffer record of kind ``StackSample/Kind/offCPUTime`` or ``StackSample/Kind/blockTime``.
    public func add(_ record: StackSample) {
        if record.kind == .blockTime, let (raw, nanoseconds) = record.blockInterval {
            intervals[offCPUKey(raw.blocked, raw.waker), default: []].append(
                BlockInterval(end: record.time &+ nanoseconds, nanoseconds: nanoseconds))
            return
        }
        guard record.kind == .offCPUTime, let block = record.offCPUBlock else { return }
        let key = OffCPUKey(
            blocked: SampleKey(pid: record.pid, tid: record.tid, comm: record.comm, userStackID: block.userStackID,
                               kernelStackID: block.kernelStackID, stackWords: record.stackWords,
                               userStackHash: block.userStackHash, pythonStackHash: record.pythonStackHash),
            waker: block.waker)
        overflow[key, default: (0, 0)].nanoseconds += block.nanoseconds
        overflow[key, default: (0, 0)].blocks += 1
    }

    /// The processes with off-CPU time so far, or switched out now (for system-wide recordings).
    public func sampledProcesses() -> Set<pid_t> {
        var pids = Set(overflow.keys.map(\.blocked.pid))
        forEachCountKey { key, _ in pids.insert(pid_t(bitPattern: key.blocked.pid)) }
        forEachOpenBlock { start in pids.insert(pid_t(bitPattern: start.key.pid)) }
        return pids
    }

    /// Takes out of the maps the time of `processes`, which have ended, with their stacks.
    public func takeTimes(of processes: Set<pid_t>) -> OffCPUSamples {
        var keys: [ember_offcpu_key] = []
        forEachCountKey { raw, _ in
            if processes.contains(pid_t(bitPattern: raw.blocked.pid)) { keys.append(raw) }
        }
        var times: [OffCPUKey: UInt64] = [:]
        var blocks: [OffCPUKey: UInt64] = [:]
        for var raw in keys {
            var value = ember_offcpu_value()
            guard bpf_map_lookup_and_delete_elem(countsMap, &raw, &value) == 0 else { continue }
            let key = offCPUKey(raw.blocked, raw.waker)
            times[key, default: 0] += value.nanoseconds
            blocks[key, default: 0] += value.blocks
        }
        for (key, value) in overflow where processes.contains(key.blocked.pid) {
            times[key, default: 0] += value.nanoseconds
            blocks[key, default: 0] += value.blocks
            overflow[key] = nil
        }
        var taken = samples(times: times, blocks: blocks, counters: counters())
        for key in intervals.keys where processes.contains(key.blocked.pid) {
            taken.intervals[key] = intervals.removeValue(forKey: key)
        }
        return taken
    }

    /// Stops and reads every block, with the time of the threads still switched out counted
    /// to the stop.
    public func collect() -> OffCPUSamples {
        stop()
        var times: [OffCPUKey: UInt64] = [:]
        var blocks: [OffCPUKey: UInt64] = [:]
        forEachCountKey { raw, value in
            let key = offCPUKey(raw.blocked, raw.waker)
            times[key, default: 0] += value.nanoseconds
            blocks[key, default: 0] += value.blocks
        }
        for (key, value) in overflow {
            times[key, default: 0] += value.nanoseconds
            blocks[key, default: 0] += value.blocks
        }
        var counters = counters()
        let stop = stopTime ?? UInt64(Clock.monotonicNanoseconds())
        var openBlocksWithSentStacks: [BlockEnd] = []
        forEachOpenBlock { start in
            let elapsed = stop > start.time ? stop - start.time : 0
            counters.openAtStop += 1
            counters.nanoseconds += elapsed
            if start.stack_sent != 0 {
                // Its stack is in user space: its time goes there.
                let kept = elapsed >= configuration.minimumBlock
                openBlocksWithSentStacks.append(BlockEnd(
                    pid: Int32(bitPattern: start.key.pid), tid: Int32(bitPattern: start.key.tid),
                    comm: commString(start.key.comm), start: start.time, nanoseconds: elapsed, kept: kept,
                    kernelStackID: start.key.kernel_stack_id, waker: offCPUWaker(start.waker)))
                if kept {
                    counters.blocks += 1
                } else {
                    counters.shortBlocks += 1
                    counters.shortNanoseconds += elapsed
                }
            } else if start.dropped != 0 {
                counters.stateBlocks += 1
                counters.stateNanoseconds += elapsed
            } else if elapsed < configuration.minimumBlock {
                counters.shortBlocks += 1
                counters.shortNanoseconds += elapsed
            } else {
                let key = offCPUKey(start.key, start.waker)
                times[key, default: 0] += elapsed
                blocks[key, default: 0] += 1
                counters.blocks += 1
                if sampler.configuration.sampleTimes {
                    intervals[key, default: []].append(BlockInterval(end: stop, nanoseconds: elapsed))
                }
            }
        }
        var collected = samples(times: times, blocks: blocks, counters: counters)
        collected.intervals = intervals
        collected.openBlocksWithSentStacks = openBlocksWithSentStacks
        return collected
    }

    private func samples(times: [OffCPUKey: UInt64], blocks: [OffCPUKey: UInt64],
                         counters: OffCPUCounters) -> OffCPUSamples {
        var ids = Set<Int32>()
        let hashes = Set(times.keys.flatMap { [$0.blocked.userStackHash, $0.waker?.userStackHash ?? 0] }.filter { $0 != 0 })
        for key in times.keys {
            for id in [key.blocked.userStackID, key.blocked.kernelStackID, key.waker?.userStackID ?? -1,
                       key.waker?.kernelStackID ?? -1] where id >= 0 {
                ids.insert(id)
            }
        }
        return OffCPUSamples(times: times, blocks: blocks, stacks: sampler.readStacks(ids),
                             walkedStacks: sampler.readWalkedStacks(hashes), counters: counters)
    }

    /// The addresses of stacks in the stack map, innermost first, and walked stacks by hash
    /// (those that blocks joined in user space name: see ``BlockEnd``).
    public func stacks(_ ids: Set<Int32>, walked hashes: Set<UInt64>) -> (stacks: [Int32: [UInt64]], walked: [UInt64: WalkedStack]) {
        (sampler.readStacks(ids.filter { $0 >= 0 }), sampler.readWalkedStacks(hashes.filter { $0 != 0 }))
    }

    /// Reads the per-CPU counters, summed over CPUs.
    public func counters() -> OffCPUCounters {
        var map = PerCPUCounters(map: countersMap)
        func read(_ counter: ember_offcpu_counter) -> UInt64 { map.sum(counter.rawValue) }
        var result = OffCPUCounters()
        result.switches = read(EMBER_OFFCPU_SWITCHES)
        result.blocks = read(EMBER_OFFCPU_BLOCKS)
        result.nanoseconds = read(EMBER_OFFCPU_NANOSECONDS)
        result.blockedMapFull = read(EMBER_OFFCPU_BLOCKED_MAP_FULL)
        result.countsMapFull = read(EMBER_OFFCPU_COUNTS_MAP_FULL)
        result.ringBufferFull = read(EMBER_OFFCPU_RING_BUFFER_FULL)
        result.ringBufferFullNanoseconds = read(EMBER_OFFCPU_RING_BUFFER_FULL_NS)
        result.userStackCollisions = read(EMBER_OFFCPU_USER_STACK_COLLISION)
        result.kernelStackCollisions = read(EMBER_OFFCPU_KERNEL_STACK_COLLISION)
        result.userStackErrors = read(EMBER_OFFCPU_USER_STACK_ERROR)
        result.kernelStackErrors = read(EMBER_OFFCPU_KERNEL_STACK_ERROR)
        result.shortBlocks = read(EMBER_OFFCPU_SHORT_BLOCKS)
        result.shortNanoseconds = read(EMBER_OFFCPU_SHORT_NS)
        result.stateBlocks = read(EMBER_OFFCPU_STATE_BLOCKS)
        result.stateNanoseconds = read(EMBER_OFFCPU_STATE_NS)
        result.timesLost = read(EMBER_OFFCPU_TIMES_LOST)
        result.cfiStacks = read(EMBER_OFFCPU_CFI_STACKS)
        result.cfiPending = read(EMBER_OFFCPU_CFI_PENDING)
        result.cfiNeedsCopy = read(EMBER_OFFCPU_CFI_NEEDS_COPY)
        result.cfiStacksFull = read(EMBER_OFFCPU_CFI_STACKS_FULL)
        result.stackCopies = read(EMBER_OFFCPU_BLOCK_COPIES)
        result.walkedStacksSent = read(EMBER_OFFCPU_BLOCK_ADDRESSES)
        result.stackCopyErrors = read(EMBER_OFFCPU_COPY_ERRORS)
        result.stacksLost = read(EMBER_OFFCPU_STACKS_LOST)
        result.endsLost = read(EMBER_OFFCPU_ENDS_LOST)
        result.endsLostNanoseconds = read(EMBER_OFFCPU_ENDS_LOST_NS)
        result.switchInsMissed = read(EMBER_OFFCPU_SWITCH_INS_MISSED)
        result.pythonBlocks = read(EMBER_OFFCPU_PYTHON_SAMPLES)
        result.pythonNoThread = read(EMBER_OFFCPU_PYTHON_NO_THREAD)
        result.pythonReadErrors = read(EMBER_OFFCPU_PYTHON_READ_ERROR)
        result.pythonTruncated = read(EMBER_OFFCPU_PYTHON_TRUNCATED)
        result.pythonStacksFull = read(EMBER_OFFCPU_PYTHON_STACKS_FULL)
        result.pythonNewsLost = read(EMBER_OFFCPU_PYTHON_NEWS_LOST)
        result.blockedAtStart = blockedAtStart
        return result
    }

    private func offCPUKey(_ raw: ember_sample_key, _ waker: ember_offcpu_waker) -> OffCPUKey {
        OffCPUKey(blocked: SampleKey(raw), waker: offCPUWaker(waker))
    }

    private func forEachCountKey(_ body: (ember_offcpu_key, ember_offcpu_value) -> Void) {
        forEachHashMapEntry(countsMap, keys: ember_offcpu_key.self, values: ember_offcpu_value.self, body)
    }

    private func forEachOpenBlock(_ body: (ember_offcpu_start) -> Void) {
        forEachHashMapEntry(blockedMap, keys: UInt32.self, values: ember_offcpu_start.self) { _, value in
            if value.time != 0 { body(value) }
        }
    }

    /// Releases the link and the object (the shared maps stay the sampler's). Idempotent.
    public func close() {
        stop()
        object?.close()
        object = nil
    }
}

extension StackSample {
    /// A ``Kind/blockTime`` record's block: its key as the kernel counted it, and its length
    /// (the record's time is its start).
    var blockInterval: (key: ember_offcpu_key, nanoseconds: UInt64)? {
        guard kind == .blockTime, bytes.count >= MemoryLayout<ember_block_time>.size else { return nil }
        let payload = bytes.loadUnaligned(as: ember_block_time.self)
        return (payload.key, payload.nanoseconds)
    }

    /// A ``Kind/blockEnd`` record's block.
    public var blockEnd: BlockEnd? {
        guard kind == .blockEnd, bytes.count >= MemoryLayout<ember_block_end>.size else { return nil }
        let end = bytes.loadUnaligned(as: ember_block_end.self)
        return BlockEnd(pid: pid, tid: tid, comm: comm, start: time, nanoseconds: end.nanoseconds, kept: end.kept != 0,
                        kernelStackID: kernelStackID, waker: offCPUWaker(end.waker))
    }

    /// An ``Kind/offCPUTime`` record's block: its time and stack ids.
    public var offCPUBlock: (nanoseconds: UInt64, userStackID: Int32, kernelStackID: Int32, userStackHash: UInt64,
                             waker: OffCPUWaker?)? {
        guard kind == .offCPUTime, bytes.count >= MemoryLayout<ember_offcpu_payload>.size else { return nil }
        let payload = bytes.loadUnaligned(as: ember_offcpu_payload.self)
        return (payload.nanoseconds, payload.user_stack_id, payload.kernel_stack_id, payload.user_stack_hash,
                offCPUWaker(payload.waker))
    }
}

/// A waker as the BPF program noted it; nil when none was (tid 0).
private func offCPUWaker(_ raw: ember_offcpu_waker) -> OffCPUWaker? {
    guard raw.tid != 0 else { return nil }
    return OffCPUWaker(pid: Int32(bitPattern: raw.pid), tid: Int32(bitPattern: raw.tid), comm: commString(raw.comm),
                       userStackID: raw.user_stack_id, kernelStackID: raw.kernel_stack_id,
                       userStackHash: raw.user_stack_hash)
}
