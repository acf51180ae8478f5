import CEmberShim
import CLibBPF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// How the BPF program takes user stacks.
public enum UnwindingMethod: Sendable, Equatable {
    /// The kernel walks frame pointers (`bpf_get_stackid`); counted in the kernel.
    case framePointers
    /// Registers and a copy of the stack go to user space, which unwinds them with CFI.
    case dwarf
    /// In the kernel by CFI for the processes given mappings with
    /// ``Sampler/setProcessMappings(_:_:)``, DWARF for the processes marked with
    /// ``Sampler/unwindWithDWARF(_:)``, frame pointers for the others.
    case perProcess
    /// The CPU's Last Branch Record call stack goes to user space with the registers
    /// (a hardware cycles event instead of the cpu-clock).
    case branchRecords
}

/// What to sample and how.
public struct SamplerConfiguration: Sendable {
    /// Which tasks the BPF program keeps.
    public enum Scope: Sendable, Equatable {
        /// These processes (every thread of each), plus the processes they fork.
        case processes([pid_t])
        /// Every task on the system.
        case system
    }

    public var scope: Scope
    /// Samples per second on each CPU.
    public var frequency: Int = 99
    /// Whether to collect kernel stacks.
    public var kernelStacks: Bool = true
    /// Buckets of the stack-trace map (one per unique stack, user and kernel).
    public var stackMapSize: Int = 16384
    /// Entries of the counts map (one per unique pid/tid/comm/stacks key).
    public var countsMapSize: Int = 65536
    /// How user stacks are taken.
    public var unwinding: UnwindingMethod = .framePointers
    /// Frame-pointer mode: record the words at the stack pointer (the frameless-leaf fix).
    public var recordStackWords: Bool = true
    /// DWARF mode: bytes of user stack copied per sample.
    public var stackCopySize: Int = 16384
    /// Per-process mode: rows of the unwind tables map (16 bytes each), the budget of every
    /// file's table together.
    public var unwindTableRows: Int = 1 << 20
    /// Per-process mode: entries of the map of user stacks walked in the kernel.
    public var walkedStacksMapSize: Int = 16384
    /// Bytes of the ring buffer (a power of two, at least 4096); nil: 16 MiB where stacks are
    /// copied through it, 1 MiB for frame-pointer mode, which only sends what the maps could not count.
    public var ringBufferSize: Int?
    /// A process left out whatever the scope: system-wide, ember itself (it is the profiler,
    /// not the system it profiles).
    public var ignoredProcess: pid_t?
    /// Whether to open the cpu-clock events. Without them the sampler only follows the
    /// targets' forks and execs, for an ``OffCPUSampler`` that shares its maps.
    public var samplesCPU = true
    /// Whether each sample counted in the kernel also sends its time (``StackSample/Kind/countedTime``),
    /// for outputs that show time; without it, counted samples cost what they always did.
    public var sampleTimes = false
    /// Whether the processes given a layout with ``Sampler/setPythonProcess(_:_:)`` have their
    /// Python frames walked; without, the programs are loaded without the walk.
    public var interpreterFrames = true
    /// Whether the cpu-clock events' period varies (``SamplingPeriodVariation``), so that work
    /// repeating at the sampling period is not sampled at one phase of it for the whole
    /// recording; false: exactly 1/``frequency``, as perf samples.
    public var variesPeriod = true

    public init(scope: Scope) {
        self.scope = scope
    }

    /// The options as the BPF programs read them (their `.rodata.config`).
    var programOptions: ember_config {
        var config = ember_config()
        if case .processes = scope {
            config.filter_by_pid = 1
            config.follow_forks = 1
        }
        config.kernel_stacks = kernelStacks ? 1 : 0
        switch unwinding {
        case .framePointers: config.unwind = EMBER_UNWIND_FP.rawValue
        case .dwarf: config.unwind = EMBER_UNWIND_DWARF.rawValue
        case .perProcess: config.unwind = EMBER_UNWIND_AUTO.rawValue
        case .branchRecords: config.unwind = EMBER_UNWIND_LBR.rawValue
        }
        config.stack_copy_size = UInt32(stackCopySize)
        config.stack_words = recordStackWords ? 1 : 0
        config.ignored_tgid = ignoredProcess.map { UInt32(bitPattern: $0) } ?? 0
        config.sample_times = sampleTimes ? 1 : 0
        config.python_frames = interpreterFrames ? 1 : 0
        return config
    }
}

/// A running BPF profiler: the loaded program, one cpu-clock perf event per online CPU,
/// and the maps the samples are counted in.
///
/// The sampler owns every kernel object it creates and releases them in ``close()``
/// (also called on deinit). All of them are file descriptors, so the kernel releases them
/// too if ember dies: nothing stays attached after ember exits.
public final class Sampler {
    public let configuration: SamplerConfiguration
    /// The loaded object (an ``OffCPUSampler`` shares its maps).
    private(set) var object: BPFObject?
    private var links: [OpaquePointer] = []
    private var forkLink: OpaquePointer?
    private var execLink: OpaquePointer?
    private var exitLink: OpaquePointer?
    private var eventDescriptors: [Int32] = []
    private var countsMap: Int32 = -1
    private var stacksMap: Int32 = -1
    private var targetsMap: Int32 = -1
    private var countersMap: Int32 = -1
    private var dwarfProcessesMap: Int32 = -1
    private var processMappingsMap: Int32 = -1
    private var unwindTablesMap: Int32 = -1
    private var walkedStacksMap: Int32 = -1
    /// The unwind rows map, mapped into memory (rows are written there, not by syscalls).
    private var unwindRows: UnsafeMutableRawBufferPointer?
    private var ringBuffer: OpaquePointer?
    private var stackSampleHandler: StackSampleHandler?
    private var running = false
    /// When the events get their next periods (``varySamplingPeriod()``); nil until started.
    private var periodSchedule: SamplingPeriodSchedule<SystemRandomNumberGenerator>?
    /// The last `generation` given with a process's mappings: each write's is new, so the BPF
    /// walk's cached rules of the mappings it replaces are never used for it.
    private var mappingsGeneration: UInt64 = 0

    /// Loads the BPF program and opens the perf events, disabled. Call ``start()`` to sample.
    public init(configuration: SamplerConfiguration) throws {
        self.configuration = configuration
        guard configuration.frequency > 0, configuration.frequency <= 100_000 else {
            throw SamplingError.system("the frequency must be between 1 and 100000 Hz")
        }
        ember_capture_libbpf_messages()
        do {
            try load()
            try attachProcessTracepoints()
            if configuration.samplesCPU { try openEvents() }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    private func load() throws {
        let object = try BPFObject(bytes: EmbeddedProgram.profile, description: "the BPF program")
        self.object = object
        try setMaxEntries("stacks", configuration.stackMapSize)
        try setMaxEntries("counts", configuration.countsMapSize)
        try setMaxEntries("scratch", max(Int(libbpf_num_possible_cpus()), 1))
        let ringBufferSize = configuration.ringBufferSize ?? (configuration.unwinding != .framePointers ? 16 << 20 : 1 << 20)
        guard ringBufferSize >= 4096, ringBufferSize & (ringBufferSize - 1) == 0
        else { throw SamplingError.system("the ring buffer size must be a power of two of at least 4096") }
        try setMaxEntries("stack_samples", ringBufferSize)
        let walksStacks = configuration.unwinding == .perProcess
        try setMaxEntries("unwind_rows", walksStacks ? configuration.unwindTableRows : 1)
        try setMaxEntries("cfi_stacks", walksStacks ? configuration.walkedStacksMapSize : 1)
        try setMaxEntries("python_stacks", configuration.interpreterFrames ? configuration.walkedStacksMapSize : 1)
        guard (0...Int(EMBER_MAX_STACK_COPY)).contains(configuration.stackCopySize) else {
            throw SamplingError.system("the stack copy size must be at most \(EMBER_MAX_STACK_COPY) bytes")
        }
        try object.setReadOnlyData(".rodata.config", to: configuration.programOptions)

        let loaded = object.load()
        if loaded != 0 { throw object.loadError(loaded) }
        countsMap = try mapDescriptor("counts")
        stacksMap = try mapDescriptor("stacks")
        targetsMap = try mapDescriptor("targets")
        countersMap = try mapDescriptor("counters")
        dwarfProcessesMap = try mapDescriptor("dwarf_processes")
        processMappingsMap = try mapDescriptor("process_mappings")
        unwindTablesMap = try mapDescriptor("unwind_tables")
        walkedStacksMap = try mapDescriptor("cfi_stacks")
        if walksStacks {
            let size = configuration.unwindTableRows * MemoryLayout<ember_unwind_row>.stride
            let rows = try mapDescriptor("unwind_rows")
            guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, rows, 0),
                  address != MAP_FAILED
            else { throw SamplingError.from(errno: errno, doing: "map the unwind tables into memory") }
            unwindRows = UnsafeMutableRawBufferPointer(start: address, count: size)
        }

        if case .processes(let pids) = configuration.scope {
            for pid in pids { try addTarget(pid) }
        }
    }

    /// Forks and execs (of the targets, or system-wide of every process) are news for user
    /// space, which must read a new process's memory map while it lives.
    private func attachProcessTracepoints() throws {
        forkLink = try attach("follow_fork", to: "sched_process_fork")
        execLink = try attach("note_exec", to: "sched_process_exec")
        exitLink = try attach("forget_exit", to: "sched_process_exit")
    }

    private func attach(_ name: String, to tracepoint: String) throws -> OpaquePointer {
        guard let object else { throw SamplingError.system("the BPF program is closed") }
        guard let link = bpf_program__attach(try object.program(name)) else {
            throw SamplingError.from(errno: errno, doing: "attach to the \(tracepoint) tracepoint",
                                     detail: libbpfMessage())
        }
        return link
    }

    private func openEvents() throws {
        guard let program = try object?.program("sample") else { throw SamplingError.system("the BPF program is closed") }
        for cpu in try onlineCPUs() {
            let fd = ember_open_sampling_event(
                Int32(cpu), UInt(configuration.frequency), configuration.unwinding == .branchRecords ? 1 : 0)
            if fd < 0 {
                var detail = "cpu \(cpu)"
                if let paranoid = try? FileContents.text("/proc/sys/kernel/perf_event_paranoid") {
                    detail += ", kernel.perf_event_paranoid=\(paranoid.trimmingWhitespace())"
                }
                if -fd == ENOENT || -fd == EOPNOTSUPP {
                    let event = configuration.unwinding == .branchRecords
                        ? "hardware cycles event with Last Branch Record call stacks" : "software cpu-clock perf event"
                    throw SamplingError.unsupportedKernel("no \(event) (\(detail))")
                }
                throw SamplingError.from(errno: -fd, doing: "open perf events", detail: detail)
            }
            eventDescriptors.append(fd)
            guard let link = bpf_program__attach_perf_event(program, fd) else {
                throw SamplingError.from(
                    errno: errno, doing: "attach the BPF program to a perf event", detail: libbpfMessage())
            }
            links.append(link)
            // libbpf enables the event when it attaches; sampling starts with start().
            _ = ember_event_disable(fd)
        }
    }

    /// Adds a process to sample (every thread of it, and the processes it forks from now on);
    /// `fromItsExec`: only once it execs (a command ember forked, waiting to exec, is ember's
    /// own code until then).
    public func addTarget(_ pid: pid_t, fromItsExec: Bool = false) throws {
        var key = UInt32(bitPattern: pid)
        var kind = UInt8((fromItsExec ? EMBER_TARGET_FROM_EXEC : EMBER_TARGET).rawValue)
        if bpf_map_update_elem(targetsMap, &key, &kind, UInt64(BPF_ANY)) != 0 {
            throw SamplingError.from(errno: errno, doing: "add process \(pid) to the targets")
        }
    }

    /// Stops sampling a process that is gone, so that its pid, if reused, is not sampled
    /// and the targets map keeps room for new processes.
    public func removeTarget(_ pid: pid_t) {
        var key = UInt32(bitPattern: pid)
        _ = bpf_map_delete_elem(targetsMap, &key)
    }

    /// The instructions the verifier checked to load each of the sampler's programs, by name
    /// (what every recording's start pays: the benchmarks' fixed cost).
    public func verifiedInstructions() throws -> [String: Int] {
        guard let object else { throw SamplingError.system("the BPF program is closed") }
        return try object.verifiedInstructions(ofPrograms: ["sample", "follow_fork", "note_exec", "forget_exit"])
    }

    /// Marks a process for DWARF unwinding (with ``UnwindingMethod/perProcess``).
    public func unwindWithDWARF(_ pid: pid_t) throws {
        var key = UInt32(bitPattern: pid)
        var one: UInt8 = 1
        if bpf_map_update_elem(dwarfProcessesMap, &key, &one, UInt64(BPF_ANY)) != 0 {
            throw SamplingError.from(errno: errno, doing: "mark process \(pid) for DWARF unwinding")
        }
    }

    /// Rows the unwind tables map holds (0 unless unwinding per process).
    public var unwindRowCapacity: Int {
        (unwindRows?.count ?? 0) / MemoryLayout<ember_unwind_row>.stride
    }

    /// Writes a file's rows into the unwind tables map from row `first` on, and makes them
    /// table `index`, which mappings then name.
    public func loadUnwindTable(_ index: Int, rows: [ember_unwind_row], at first: Int) throws {
        guard let unwindRows, first >= 0, first + rows.count <= unwindRowCapacity,
              (0..<Int(EMBER_MAX_UNWIND_TABLES)).contains(index)
        else { throw SamplingError.system("an unwind table does not fit its map") }
        rows.withUnsafeBytes { bytes in
            UnsafeMutableRawBufferPointer(rebasing: unwindRows[(first * MemoryLayout<ember_unwind_row>.stride)...])
                .copyMemory(from: bytes)
        }
        var key = UInt32(index)
        var table = ember_unwind_table(first_row: UInt32(first), row_count: UInt32(rows.count))
        if bpf_map_update_elem(unwindTablesMap, &key, &table, UInt64(BPF_ANY)) != 0 {
            throw SamplingError.from(errno: errno, doing: "load an unwind table")
        }
    }

    /// Gives a process's executable mappings (sorted by start, at most
    /// EMBER_MAX_MAPPINGS) to the BPF program, which from now on walks its stacks by CFI.
    public func setProcessMappings(_ pid: pid_t, _ mappings: [ember_mapping]) throws {
        guard mappings.count <= Int(EMBER_MAX_MAPPINGS) else {
            throw SamplingError.system("process \(pid) has more than \(EMBER_MAX_MAPPINGS) executable mappings")
        }
        let value = UnsafeMutableRawBufferPointer.allocate(
            byteCount: MemoryLayout<ember_process_mappings>.size, alignment: 8)
        defer { value.deallocate() }
        value.initializeMemory(as: UInt8.self, repeating: 0)
        value.storeBytes(of: UInt32(mappings.count), as: UInt32.self)
        mappingsGeneration += 1
        value.storeBytes(of: mappingsGeneration,
                         toByteOffset: MemoryLayout<ember_process_mappings>.offset(of: \ember_process_mappings.generation)!,
                         as: UInt64.self)
        let offset = MemoryLayout<ember_process_mappings>.offset(of: \ember_process_mappings.mappings)!
        mappings.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: value[offset...]).copyMemory(from: $0) }
        var key = UInt32(bitPattern: pid)
        if bpf_map_update_elem(processMappingsMap, &key, value.baseAddress, UInt64(BPF_ANY)) != 0 {
            throw SamplingError.from(errno: errno, doing: "give process \(pid)'s mappings to the BPF program")
        }
    }

    /// How many mappings the BPF program holds for a process; nil if it holds none.
    public func processMappingCount(_ pid: pid_t) -> Int? {
        let value = UnsafeMutableRawBufferPointer.allocate(
            byteCount: MemoryLayout<ember_process_mappings>.size, alignment: 8)
        defer { value.deallocate() }
        var key = UInt32(bitPattern: pid)
        guard bpf_map_lookup_elem(processMappingsMap, &key, value.baseAddress) == 0 else { return nil }
        return Int(value.load(as: UInt32.self))
    }

    /// Takes a process's mappings back (it ended): its pid, if reused, starts afresh.
    public func removeProcessMappings(_ pid: pid_t) {
        var key = UInt32(bitPattern: pid)
        _ = bpf_map_delete_elem(processMappingsMap, &key)
    }

    /// Waits up to `timeout` milliseconds for ring-buffer samples (stack copies, and samples
    /// the maps could not count) and hands each to `handler`. The sample's bytes are valid
    /// only during the call. Returns the number handled.
    @discardableResult
    public func pollStackSamples(timeout: Int32, _ handler: @escaping (StackSample) -> Void) throws -> Int {
        if ringBuffer == nil {
            let box = StackSampleHandler()
            stackSampleHandler = box
            let context = Unmanaged.passUnretained(box).toOpaque()
            guard let buffer = ring_buffer__new(try mapDescriptor("stack_samples"), { context, data, size in
                guard let context, let data else { return 0 }
                let box = Unmanaged<StackSampleHandler>.fromOpaque(context).takeUnretainedValue()
                box.deliver(UnsafeRawBufferPointer(start: data, count: size))
                return 0
            }, context, nil) else {
                throw SamplingError.from(errno: errno, doing: "open the BPF ring buffer")
            }
            ringBuffer = buffer
        }
        stackSampleHandler?.handler = handler
        // The BPF program wakes us only when the buffer fills: wait, then drain.
        let woken = ring_buffer__poll(ringBuffer, timeout)
        if woken < 0 && -woken != EINTR {
            throw SamplingError.from(errno: -woken, doing: "read the BPF ring buffer")
        }
        let drained = ring_buffer__consume(ringBuffer)
        if drained < 0 {
            throw SamplingError.from(errno: -drained, doing: "read the BPF ring buffer")
        }
        return Int(max(woken, 0)) + Int(drained)
    }

    /// Enables the perf events: sampling begins.
    public func start() throws {
        for fd in eventDescriptors {
            let result = ember_event_enable(fd)
            if result != 0 { throw SamplingError.from(errno: -result, doing: "enable perf events") }
        }
        running = true
        periodSchedule = SamplingPeriodSchedule(
            variation: SamplingPeriodVariation(frequency: configuration.frequency),
            start: Clock.monotonicNanoseconds(), generator: SystemRandomNumberGenerator())
    }

    /// Gives each cpu-clock event its next period once the current block of the
    /// ``SamplingPeriodVariation`` has run; between draws it only reads the clock. The
    /// recorder calls it at each poll. A hardware event (LBR) keeps the period the kernel
    /// adapts to its frequency.
    public func varySamplingPeriod() {
        guard running, configuration.variesPeriod, configuration.unwinding != .branchRecords,
              let periods = periodSchedule?.periods(at: Clock.monotonicNanoseconds(), events: eventDescriptors.count)
        else { return }
        for (fd, period) in zip(eventDescriptors, periods) {
            // A failure leaves the event at its last period: sampling goes on, unvaried.
            _ = ember_event_set_period(fd, period)
        }
    }

    /// Disables the perf events and stops following forks, so the maps no longer change
    /// while they are read. Idempotent.
    public func stop() {
        for fd in eventDescriptors { _ = ember_event_disable(fd) }
        if let forkLink {
            bpf_link__destroy(forkLink)
            self.forkLink = nil
        }
        if let execLink {
            bpf_link__destroy(execLink)
            self.execLink = nil
        }
        if let exitLink {
            bpf_link__destroy(exitLink)
            self.exitLink = nil
        }
        running = false
    }

    /// The processes being sampled: the targets and the children they forked.
    public func targetProcesses() -> [pid_t] {
        var pids: [pid_t] = []
        var key: UInt32 = 0
        var previous: UInt32 = 0
        var first = true
        while withUnsafePointer(to: &previous, { previousPointer in
            bpf_map_get_next_key(targetsMap, first ? nil : UnsafeRawPointer(previousPointer), &key)
        }) == 0 {
            pids.append(pid_t(bitPattern: key))
            previous = key
            first = false
        }
        return pids
    }

    /// The processes that have samples so far (for system-wide recordings).
    public func sampledProcesses() -> Set<pid_t> {
        var pids = Set<pid_t>()
        forEachCountKey { key, _ in pids.insert(pid_t(bitPattern: key.pid)) }
        return pids
    }

    /// Reads the per-CPU loss counters, summed over CPUs.
    public func counters() -> SamplingCounters {
        var map = PerCPUCounters(map: countersMap)
        func read(_ counter: ember_counter) -> UInt64 { map.sum(counter.rawValue) }
        var result = SamplingCounters()
        result.samples = read(EMBER_SAMPLES)
        result.userStackCollisions = read(EMBER_USER_STACK_COLLISION)
        result.kernelStackCollisions = read(EMBER_KERNEL_STACK_COLLISION)
        result.userStackErrors = read(EMBER_USER_STACK_ERROR)
        result.kernelStackErrors = read(EMBER_KERNEL_STACK_ERROR)
        result.countsMapFull = read(EMBER_COUNTS_MAP_FULL)
        result.targetsMapFull = read(EMBER_TARGETS_MAP_FULL)
        result.ringBufferFull = read(EMBER_RING_BUFFER_FULL)
        result.stackCopyErrors = read(EMBER_STACK_COPY_ERROR)
        result.dwarfSamples = read(EMBER_DWARF_SAMPLES)
        result.branchRecordErrors = read(EMBER_BRANCH_RECORD_ERROR)
        result.branchSamples = read(EMBER_BRANCH_SAMPLES)
        result.processEventsLost = read(EMBER_PROCESS_EVENTS_LOST)
        result.overflowSamples = read(EMBER_OVERFLOW_SAMPLES)
        result.cfiSamples = read(EMBER_CFI_SAMPLES)
        result.cfiPending = read(EMBER_CFI_PENDING)
        result.cfiNeedsCopy = read(EMBER_CFI_NEEDS_COPY)
        result.cfiStacksFull = read(EMBER_CFI_STACKS_FULL)
        result.sampleTimesLost = read(EMBER_SAMPLE_TIMES_LOST)
        result.pythonSamples = read(EMBER_PYTHON_SAMPLES)
        result.pythonNoThread = read(EMBER_PYTHON_NO_THREAD)
        result.pythonReadErrors = read(EMBER_PYTHON_READ_ERROR)
        result.pythonTruncated = read(EMBER_PYTHON_TRUNCATED)
        result.pythonStacksFull = read(EMBER_PYTHON_STACKS_FULL)
        result.pythonNewsLost = read(EMBER_PYTHON_NEWS_LOST)
        return result
    }

    /// Takes out of the counts map every count of `processes`, which have ended (no sample
    /// of theirs comes any more), with the stacks they reference: a long recording of many
    /// short-lived processes can then let go of them. The stacks stay in the stack map,
    /// which other processes' counts share. `pause` is called every few thousand keys: the
    /// caller's other work (a ring buffer to read) should not wait for a big map.
    public func takeCounts(of processes: Set<pid_t>, pause: () -> Void = {}) -> RawSamples {
        var keys: [ember_sample_key] = []
        var visited = 0
        forEachCountKey { raw, _ in
            if processes.contains(pid_t(bitPattern: raw.pid)) { keys.append(raw) }
            visited += 1
            if visited % 4096 == 0 { pause() }
        }
        var counts: [SampleKey: UInt64] = [:]
        var stackIDs = Set<Int32>()
        var hashes = Set<UInt64>()
        for var raw in keys {
            var count: UInt64 = 0
            // Looked up and deleted in one step: nothing added in between is lost.
            guard bpf_map_lookup_and_delete_elem(countsMap, &raw, &count) == 0 else { continue }
            counts[sampleKey(raw), default: 0] += count
            if raw.user_stack_id >= 0 { stackIDs.insert(raw.user_stack_id) }
            if raw.kernel_stack_id >= 0 { stackIDs.insert(raw.kernel_stack_id) }
            if raw.user_stack_hash != 0 { hashes.insert(raw.user_stack_hash) }
        }
        return RawSamples(counts: counts, stacks: readStacks(stackIDs), counters: counters(),
                          walkedStacks: readWalkedStacks(hashes))
    }

    /// Stops sampling and reads every count and the stacks they reference, plus the stacks
    /// `extraStackIDs` (kernel stacks of DWARF samples).
    public func collect(extraStackIDs: Set<Int32> = []) -> RawSamples {
        stop()
        return snapshot(extraStackIDs: extraStackIDs)
    }

    /// Reads every count so far and the stacks they reference while sampling goes on (a
    /// live view's refresh): the counts stay in the map.
    public func snapshot(extraStackIDs: Set<Int32> = []) -> RawSamples {
        var counts: [SampleKey: UInt64] = [:]
        var stackIDs = extraStackIDs
        var hashes = Set<UInt64>()
        forEachCountKey { raw, count in
            counts[sampleKey(raw), default: 0] += count
            if raw.user_stack_id >= 0 { stackIDs.insert(raw.user_stack_id) }
            if raw.kernel_stack_id >= 0 { stackIDs.insert(raw.kernel_stack_id) }
            if raw.user_stack_hash != 0 { hashes.insert(raw.user_stack_hash) }
        }
        return RawSamples(counts: counts, stacks: readStacks(stackIDs), counters: counters(),
                          walkedStacks: readWalkedStacks(hashes))
    }

    private func sampleKey(_ raw: ember_sample_key) -> SampleKey { SampleKey(raw) }

    /// The user stacks walked in the kernel by CFI, by hash: the map read whole where most
    /// of it is asked for (a snapshot asks for every stack counted), else stack by stack.
    func readWalkedStacks(_ hashes: Set<UInt64>) -> [UInt64: WalkedStack] {
        guard !hashes.isEmpty else { return [:] }
        var stacks: [UInt64: WalkedStack] = [:]
        func add(_ hash: UInt64, _ stack: ember_user_stack) {
            let depth = min(Int(stack.depth), Int(EMBER_MAX_STACK_DEPTH))
            let frames = withUnsafeBytes(of: stack.pcs) { Array($0.bindMemory(to: UInt64.self).prefix(depth)) }
            stacks[hash] = WalkedStack(frames: frames, end: WalkEnd(kernelValue: stack.end))
        }
        if hashes.count > 64 {
            forEachHashMapEntry(walkedStacksMap, keys: UInt64.self, values: ember_user_stack.self, batchSize: 256) { hash, stack in
                if hashes.contains(hash) { add(hash, stack) }
            }
            return stacks
        }
        var value = ember_user_stack()
        for hash in hashes {
            var key = hash
            guard bpf_map_lookup_elem(walkedStacksMap, &key, &value) == 0 else { continue }
            add(hash, value)
        }
        return stacks
    }

    /// The addresses of each stack id in the stack map, innermost first.
    func readStacks(_ ids: Set<Int32>) -> [Int32: [UInt64]] {
        var stacks: [Int32: [UInt64]] = [:]
        var buffer = [UInt64](repeating: 0, count: Int(EMBER_MAX_STACK_DEPTH))
        for id in ids {
            var key = UInt32(bitPattern: id)
            for i in buffer.indices { buffer[i] = 0 }
            guard bpf_map_lookup_elem(stacksMap, &key, &buffer) == 0 else { continue }
            stacks[id] = Array(buffer.prefix { $0 != 0 })
        }
        return stacks
    }

    private func forEachCountKey(_ body: (ember_sample_key, UInt64) -> Void) {
        forEachHashMapEntry(countsMap, keys: ember_sample_key.self, values: UInt64.self, body)
    }

    /// Releases every link, event and map. Safe to call more than once.
    public func close() {
        stop()
        if let ringBuffer { ring_buffer__free(ringBuffer) }
        ringBuffer = nil
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        for fd in eventDescriptors { Glibc.close(fd) }
        eventDescriptors.removeAll()
        if let unwindRows { munmap(unwindRows.baseAddress, unwindRows.count) }
        unwindRows = nil
        object?.close()
        object = nil
    }

    private func setMaxEntries(_ name: String, _ entries: Int) throws {
        guard let object else { throw SamplingError.system("the BPF program is closed") }
        try object.setMaxEntries(name, entries)
    }

    /// One of the program's maps.
    func map(named name: String) throws -> OpaquePointer {
        guard let object else { throw SamplingError.system("the BPF program is closed") }
        return try object.map(name)
    }

    private func mapDescriptor(_ name: String) throws -> Int32 {
        bpf_map__fd(try map(named: name))
    }

    private func libbpfMessage() -> String { BPFObject.libbpfMessage() }
}

/// Carries the Swift handler into the C ring-buffer callback, which cannot capture.
private final class StackSampleHandler {
    var handler: ((StackSample) -> Void)?

    func deliver(_ bytes: UnsafeRawBufferPointer) {
        let headerSize = MemoryLayout<ember_stack_sample>.size
        guard bytes.count >= headerSize else { return }
        let header = bytes.loadUnaligned(as: ember_stack_sample.self)
        let size = min(Int(header.stack_size), bytes.count - headerSize)
        let kernelStart = headerSize + size
        let kernelCount = min(Int(header.kernel_size), bytes.count - kernelStart) / 8
        let kernel = (0..<kernelCount).map {
            bytes.loadUnaligned(fromByteOffset: kernelStart + $0 * 8, as: UInt64.self)
        }
        let kind: StackSample.Kind
        switch header.kind {
        case EMBER_SAMPLE_ADDRESSES.rawValue: kind = .addresses
        case EMBER_SAMPLE_BRANCH_RECORDS.rawValue: kind = .branchRecords
        case EMBER_PROCESS_FORKED.rawValue: kind = .processForked
        case EMBER_PROCESS_EXECUTED.rawValue: kind = .processExecuted
        case EMBER_PROCESS_UNMAPPED_CODE.rawValue: kind = .processUnmappedCode
        case UInt32(EMBER_SAMPLE_OFF_CPU_TIME): kind = .offCPUTime
        case UInt32(EMBER_SAMPLE_COUNTED_TIME): kind = .countedTime
        case UInt32(EMBER_SAMPLE_BLOCK_TIME): kind = .blockTime
        case EMBER_PYTHON_STACK_NEW.rawValue: kind = .pythonStackNew
        case UInt32(EMBER_SAMPLE_BLOCK_COPY): kind = .blockCopy
        case UInt32(EMBER_SAMPLE_BLOCK_ADDRESSES): kind = .blockAddresses
        case UInt32(EMBER_SAMPLE_BLOCK_END): kind = .blockEnd
        default: kind = .stackCopy
        }
        let countedKey = kind == .countedTime && size >= MemoryLayout<ember_sample_key>.size
            ? SampleKey(bytes.loadUnaligned(fromByteOffset: headerSize, as: ember_sample_key.self)) : nil
        var sample = StackSample(
            kind: kind,
            pid: Int32(bitPattern: header.pid), tid: Int32(bitPattern: header.tid),
            comm: commString(header.comm), time: header.time, cpu: header.cpu,
            instructionPointer: header.ip, stackPointer: header.sp, framePointer: header.bp,
            stackWords: [header.stack_words.0, header.stack_words.1],
            stackIsTruncated: header.truncated != 0,
            bytes: UnsafeRawBufferPointer(rebasing: bytes[headerSize..<kernelStart]),
            kernelAddresses: kernel,
            walkEnd: (kind == .addresses || kind == .blockAddresses) && header.truncated > 0
                ? WalkEnd(kernelValue: header.truncated - 1) : nil,
            countedKey: countedKey)
        sample.pythonStackHash = header.python_stack_hash
        sample.kernelStackID = header.kernel_stack_id
        handler?(sample)
    }
}

func commString(_ comm: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar,
                                 CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar)) -> String {
    withUnsafeBytes(of: comm) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension SampleKey {
    init(_ raw: ember_sample_key) {
        self.init(
            pid: Int32(bitPattern: raw.pid), tid: Int32(bitPattern: raw.tid), comm: commString(raw.comm),
            userStackID: raw.user_stack_id, kernelStackID: raw.kernel_stack_id,
            stackWords: [raw.stack_words.0, raw.stack_words.1], userStackHash: raw.user_stack_hash,
            pythonStackHash: raw.python_stack_hash)
    }
}
