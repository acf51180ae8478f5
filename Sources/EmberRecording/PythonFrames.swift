import CEmberShim
import EmberSampling
import EmberSymbolization
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// Python frames for a recording: finds the CPython interpreters in the processes watched,
/// gives their layouts to the BPF program, and names each new Python stack's code objects
/// while the process lives (the kernel says which stacks are new).
final class PythonFrames {
    private let sampler: Sampler
    private let symbolizer: Symbolizer
    /// Each process's decision, by its program (device:inode): a new program is looked at
    /// anew.
    private var decided: [pid_t: (program: String, detection: PythonDetection, mappings: Int)] = [:]
    private var namers: [pid_t: PythonCodeNames] = [:]
    private let files = PythonFileCache()

    /// A Python stack, named: innermost first, nil where a code object could not be read.
    struct NamedStack {
        var frames: [(name: PythonFrameName?, isEntry: Bool)]
        var end: WalkEnd
    }

    private struct StackKey: Hashable {
        var pid: pid_t
        var hash: UInt64
    }

    private var named: [StackKey: NamedStack] = [:]

    /// For the report: the processes with Python frames ("name (pid): CPython 3.12.1"), and
    /// those whose Python is not supported, with why.
    private(set) var pythonProcesses: [String] = []
    private(set) var unsupportedProcesses: [String] = []
    /// Statistics of the namers of processes that ended, added up.
    private(set) var endedStatistics = PythonCodeNames.Statistics()
    /// Stacks whose frames could not be named (the process ended first, or its stack left
    /// the map).
    private(set) var unnamedStacks = 0
    /// Interpreter layouts whose 3.13+ debug offsets disagreed with ember's table.
    private(set) var debugOffsetMismatches: [String] = []

    init(sampler: Sampler, symbolizer: Symbolizer) {
        self.sampler = sampler
        self.symbolizer = symbolizer
    }

    /// Looks for an interpreter in `pid` (again, if its program changed, or none was found
    /// yet: a launched python maps its libpython moments after exec).
    func watch(_ pid: pid_t, program: String?) {
        guard let program else { return }
        guard let map = symbolizer.memoryMap(pid: pid) else { return }
        // Looked at again only when its program or its mappings changed (a library mapped).
        if let known = decided[pid], known.program == program,
           known.detection != .none || known.mappings == map.mappings.count { return }
        if decided[pid]?.program != program { forget(pid) }
        var memory: ProcessMemory?
        let detection = PythonRuntimeDetector.detect(pid: pid, map: map, memory: {
            memory = ProcessMemory(pid: pid)
            return memory
        }(), cache: files)
        decided[pid] = (program, detection, map.mappings.count)
        let name = "\(symbolizer.processName(pid) ?? "?") (\(pid))"
        switch detection {
        case .supported(let runtime):
            guard let memory else { return }
            do {
                try sampler.setPythonProcess(pid, Self.kernelLayout(runtime))
            } catch {
                unsupportedProcesses.append("\(name): \(error)")
                return
            }
            namers[pid] = PythonCodeNames(runtime: runtime, memory: memory)
            pythonProcesses.append("\(name): CPython \(runtime.version)")
            if !runtime.debugOffsetMismatches.isEmpty {
                debugOffsetMismatches.append("\(name): \(runtime.debugOffsetMismatches.joined(separator: ", "))")
            }
        case .unsupported(let file, let reason):
            unsupportedProcesses.append("\(name): \(reason) (\(file))")
        case .none:
            break
        }
    }

    /// A stack new to the kernel's map: named now, while the process lives.
    func noteNewStack(pid: pid_t, hash: UInt64) {
        let key = StackKey(pid: pid, hash: hash)
        guard named[key] == nil, let namer = namers[pid], let stack = sampler.pythonStack(hash) else { return }
        named[key] = NamedStack(
            frames: stack.frames.map { (namer.name(code: $0.code, instruction: $0.instruction), $0.isEntry) },
            end: stack.end)
    }

    /// The named Python stack of a sample; nil (counted) if it was never named.
    func stack(pid: pid_t, hash: UInt64) -> NamedStack? {
        let key = StackKey(pid: pid, hash: hash)
        if let known = named[key] { return known }
        noteNewStack(pid: pid, hash: hash)  // its news was lost: the process may still be there
        if let known = named[key] { return known }
        unnamedStacks += 1
        return nil
    }

    /// Lets go of the named stacks of a process whose samples are in the profile, and of
    /// their entries in the kernel's map (a long recording sees many processes come and go).
    func dropStacks(of pid: pid_t) {
        for key in named.keys where key.pid == pid {
            named[key] = nil
            sampler.removePythonStack(key.hash)
        }
    }

    /// A process ended or exec'd: its code objects are no longer readable.
    func forget(_ pid: pid_t) {
        if let namer = namers.removeValue(forKey: pid) { endedStatistics.add(namer.statistics) }
        decided[pid] = nil
        sampler.removePythonProcess(pid)
    }

    /// The statistics of every namer, the ended ones' included.
    var statistics: PythonCodeNames.Statistics {
        var total = endedStatistics
        for namer in namers.values { total.add(namer.statistics) }
        return total
    }

    static func kernelLayout(_ runtime: PythonRuntime) -> ember_python_process {
        let layout = runtime.layout
        var value = ember_python_process()
        value.runtime = runtime.runtimeAddress
        value.interpreters_head = layout.interpretersHead
        value.interpreter_next = layout.interpreterNext
        value.threads_head = layout.threadsHead
        value.thread_next = layout.threadNext
        value.thread_id = layout.threadID
        value.thread_frame = layout.threadFrame
        value.cframe_current_frame = layout.cframeCurrentFrame ?? EMBER_PYTHON_NO_FIELD
        value.frame_code = layout.frameCode
        value.frame_previous = layout.framePrevious
        value.frame_instruction = layout.frameInstruction
        value.frame_owner = layout.frameOwner ?? EMBER_PYTHON_NO_FIELD
        value.frame_is_entry = layout.frameIsEntry ?? EMBER_PYTHON_NO_FIELD
        value.flags = layout.frameChain == .frameObjects ? EMBER_PYTHON_FRAME_OBJECTS : 0
        return value
    }
}

extension PythonCodeNames.Statistics {
    mutating func add(_ other: Self) {
        codeObjectsRead += other.codeObjectsRead
        rereadAfterEviction += other.rereadAfterEviction
        replaced += other.replaced
        evicted += other.evicted
        unreadable += other.unreadable
        namedAfterFree += other.namedAfterFree
    }
}
