import CEmberShim
import EmberProfile
import EmberRendering
import EmberSampling
import EmberSymbolization
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

enum RecordingTarget {
    case process(pid_t)
    case command([String])
    case system
}

/// How user stacks are unwound (`--unwind`).
enum UnwindMode: String, CaseIterable {
    case fp, dwarf, lbr, auto
}

struct RecordingSettings {
    var target: RecordingTarget
    var duration: Double?
    var frequency = 99
    var kernelStacks = true
    var threadFrames = false
    var stackMapSize = 16384
    var countsMapSize = 65536
    var unwind = UnwindMode.auto
    var stackSize = 16384
    var leafFix = true
    var title: String?
    var symbolization = SymbolizerOptions()
}

/// Runs one recording: sampling → unwinding → symbolization → profile.
/// The composition root of the pipeline; each stage lives in its own module.
struct Recorder {
    let settings: RecordingSettings

    /// How often memory maps are re-read, so exited processes still symbolize.
    private let refreshInterval = 1.0
    private let pollMilliseconds: Int32 = 50

    func record() throws -> Recording {
        // From the start, Ctrl-C and SIGTERM end the recording instead of killing ember.
        ember_install_stop_signals()
        defer { ember_restore_default_signals() }
        if settings.unwind == .lbr, let reason = BranchRecordStacks.unavailabilityReason(
            probeResult: ember_probe_lbr_call_stack()) {
            throw EmberError("--unwind lbr: \(reason)")
        }
        var configuration: SamplerConfiguration
        switch settings.target {
        case .process(let pid):
            guard kill(pid, 0) == 0 || errno == EPERM else { throw SamplingError.noSuchProcess(pid) }
            configuration = SamplerConfiguration(scope: .processes([pid]))
        case .command:
            configuration = SamplerConfiguration(scope: .processes([]))
        case .system:
            configuration = SamplerConfiguration(scope: .system)
        }
        configuration.frequency = settings.frequency
        configuration.kernelStacks = settings.kernelStacks
        configuration.stackMapSize = settings.stackMapSize
        configuration.countsMapSize = settings.countsMapSize
        configuration.stackCopySize = settings.stackSize
        configuration.recordStackWords = settings.leafFix
        switch settings.unwind {
        case .fp: configuration.unwinding = .framePointers
        case .lbr: configuration.unwinding = .branchRecords
        case .dwarf: configuration.unwinding = .dwarf
        case .auto: configuration.unwinding = .perProcess
        }

        // Load and attach before launching anything, so permission errors come first.
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        let session = Session(settings: settings, sampler: sampler)

        var child: LaunchedCommand?
        if case .command(let arguments) = settings.target {
            session.prepare(command: arguments[0])
            let launched = try LaunchedCommand(arguments: arguments)
            child = launched
            try sampler.addTarget(launched.pid)
        }
        if case .process(let pid) = settings.target {
            // Children running already are followed too (a build tool's compilers, a
            // server's workers): the BPF program only sees children forked from now on.
            for process in [pid] + descendants(of: pid) {
                if process != pid { try sampler.addTarget(process) }
                session.watch(process)
            }
        }
        // Read the kernel's symbols now rather than after sampling (a launched command
        // waits for it).
        if settings.kernelStacks { session.symbolizer.loadKernelSymbols() }

        try sampler.start()
        let started = monotonicSeconds()
        if let child {
            do { try child.run() } catch {
                sampler.stop()
                throw error
            }
            session.watch(child.pid)  // after exec: its own binary decides --unwind auto
        }

        let status = StatusLine(enabled: isatty(2) != 0)
        var lastRefresh = started
        var endReason = "duration reached"
        while true {
            let now = monotonicSeconds()
            let elapsed = now - started
            if let duration = settings.duration, elapsed >= duration { break }
            let signal = ember_stop_signal()
            if signal != 0 {
                endReason = "stopped by \(signal == SIGINT ? "Ctrl-C" : "signal \(signal)")"
                break
            }
            if let child, child.hasExited() {
                endReason = "command exited"
                break
            }
            if case .process(let pid) = settings.target, !processExists(pid) {
                endReason = "process \(pid) exited"
                break
            }
            if now - lastRefresh >= refreshInterval {
                session.refresh()
                lastRefresh = now
                status.show(elapsed: elapsed, duration: settings.duration,
                            samples: sampler.counters().samples)
            }
            try session.wait(milliseconds: pollMilliseconds)
            session.rereadYoungProcesses()
        }
        let elapsed = monotonicSeconds() - started
        // Disable the events first: nothing changes the maps while they are read.
        sampler.stop()
        let collectStart = monotonicSeconds()
        status.clear()
        try session.drain()
        session.refresh()
        let samples = sampler.collect()
        sampler.close()
        child?.finish()

        var leafFix = FramePointerStacks.LeafFixStatistics()
        let leafFixCFI = settings.leafFix ? FramelessLeafFix(files: session.symbolizer) : nil
        var stacks = FramePointerStacks.callStacks(from: samples, leafFix: leafFixCFI, statistics: &leafFix)
        stacks += session.ringBuffer.callStacks(leafFix: leafFixCFI, statistics: &leafFix)
        let profile = ProfileBuilder(symbolizer: session.symbolizer, settings: settings).profile(of: stacks)
        var targetName: String?
        if case .process(let pid) = settings.target { targetName = session.symbolizer.processName(pid) }
        return Recording(
            settings: settings, samples: samples, profile: profile.profile,
            lostStacks: profile.lostStacks,
            statistics: session.symbolizer.statistics, elapsed: elapsed, endReason: endReason,
            samplingEnded: collectStart,
            kernelSymbolsVisible: !settings.kernelStacks || session.symbolizer.kernelSymbolsVisible,
            targetName: targetName,
            unwinding: UnwindingReport(
                mode: settings.unwind, dwarfProcesses: session.dwarfProcesses,
                framePointerProcesses: session.framePointerProcesses,
                ringBuffer: session.ringBuffer.statistics, leafFix: leafFix, uniqueKernelKeys: samples.counts.count),
            processCount: Set(stacks.map(\.pid)).count, threadCount: Set(stacks.map(\.tid)).count)
    }
}

/// What one recording keeps while it runs: the symbolizer and the unwinders, fed with the
/// processes as they appear.
final class Session {
    let settings: RecordingSettings
    let sampler: Sampler
    let symbolizer: Symbolizer
    let unwinders = UnwinderCache()
    let ringBuffer: RingBufferStacks
    private var known: Set<pid_t> = []
    private(set) var dwarfProcesses: [String] = []
    private(set) var framePointerProcesses: [String] = []

    init(settings: RecordingSettings, sampler: Sampler) {
        self.settings = settings
        self.sampler = sampler
        self.symbolizer = Symbolizer(options: settings.symbolization)
        self.ringBuffer = RingBufferStacks(
            unwinders: unwinders, branchRecordDepth: settings.unwind == .lbr ? lastBranchRecordDepth() : nil)
    }

    /// Reads what a process's stacks and names will need while it is alive: its memory map,
    /// symbols and CFI, and (with --unwind auto) picks its unwinding method.
    /// - Parameter isNew: the BPF program saw it fork or exec (perhaps the same binary
    ///   again, or a pid reused).
    func watch(_ pid: pid_t, isNew: Bool = false) {
        guard pid > 0 else { return }
        // A new program (exec) needs a new unwinder and, with --unwind auto, a new choice;
        // the BPF program already fell back to frame pointers for it.
        let program = executableIdentity(pid)
        guard !known.contains(pid) || isNew || (program != nil && program != programs[pid]) else {
            symbolizer.refresh(process: pid)  // new libraries
            return
        }
        unwinders.forget(pid)
        gone.remove(pid)
        known.insert(pid)
        programs[pid] = program
        young[pid] = monotonicSeconds()
        // Decide first: until then the process's samples are frame-pointer stacks.
        var framePointers: Bool?
        if settings.unwind == .auto, let program {
            framePointers = usesFramePointers(pid, program: program)
            if framePointers == false { try? sampler.unwindWithDWARF(pid) }
        }
        symbolizer.refresh(process: pid)
        if let framePointers {
            let name = "\(symbolizer.processName(pid) ?? "?") (\(pid))"
            if framePointers { framePointerProcesses.append(name) } else { dwarfProcesses.append(name) }
        }
        // A DWARF target's unwinder is made now, so that a short-lived process's samples
        // still unwind after it exits; system-wide, only processes that get DWARF samples
        // pay for one.
        if case .system = settings.target {} else if settings.unwind == .dwarf || framePointers == false {
            _ = unwinders.unwinder(for: pid)
        }
    }

    /// Judges a command's binary before it runs, so that the choice is ready at exec.
    func prepare(command: String) {
        guard settings.unwind == .auto else { return }
        let path: String? = command.contains("/") ? command
            : (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":")
                .map { "\($0)/\(command)" }.first { access($0, X_OK) == 0 }
        var info = stat()
        guard let path, stat(path, &info) == 0 else { return }
        let program = "\(info.st_dev):\(info.st_ino)"
        if framePointerBinaries[program] == nil {
            framePointerBinaries[program] = FramePointerDetector.usesFramePointers(path: path) ?? false
        }
    }

    private var programs: [pid_t: String] = [:]
    private var framePointerBinaries: [String: Bool] = [:]

    /// The device and inode of the process's executable; nil for kernel threads.
    private func executableIdentity(_ pid: pid_t) -> String? {
        var info = stat()
        guard stat("/proc/\(pid)/exe", &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino)"
    }

    /// Whether the process's executable keeps frame pointers, judged once per binary.
    private func usesFramePointers(_ pid: pid_t, program: String) -> Bool {
        if let known = framePointerBinaries[program] { return known }
        let uses = FramePointerDetector.usesFramePointers(path: "/proc/\(pid)/exe") ?? false
        framePointerBinaries[program] = uses
        return uses
    }

    /// Re-reads, at every poll, the maps of processes that started or exec'd moments ago:
    /// the loader maps libraries in a new program's first milliseconds, and a process that
    /// lives less than the refresh interval must still be read with them. Later libraries
    /// (dlopen) are found by ``refresh()``.
    func rereadYoungProcesses() {
        let now = monotonicSeconds()
        for (pid, since) in young {
            if now - since > youngProcessSeconds {
                young[pid] = nil
            } else {
                symbolizer.refresh(process: pid)
            }
        }
    }

    private let youngProcessSeconds = 0.3
    private var young: [pid_t: Double] = [:]
    /// Processes found gone that have samples (their maps are kept for symbolization).
    private var gone: Set<pid_t> = []

    /// Every second: lets go of the processes that ended, re-reads the maps of live ones
    /// (new libraries), and finds those whose fork or exec event was lost. System-wide, the
    /// live processes re-read are the ones sampled so far.
    func refresh() {
        let system: Bool
        if case .system = settings.target { system = true } else { system = false }
        let watched = system ? known.subtracting(gone) : Set(sampler.targetProcesses()).subtracting(gone)
        let ended = watched.filter { !processExists($0) }
        // Read after finding the ended ones (and after counting what the ring buffer still
        // holds): a process that is gone takes no more samples, so one missing from the set
        // never had any, and nothing of it needs keeping.
        if !ended.isEmpty { _ = try? wait(milliseconds: 0) }
        let sampled = system || !ended.isEmpty
            ? sampler.sampledProcesses().union(ringBuffer.sampledProcesses) : []
        for pid in ended {
            young[pid] = nil
            unwinders.processExited(pid)
            if !system { sampler.removeTarget(pid) }
            if sampled.contains(pid) {
                gone.insert(pid)
            } else {
                symbolizer.forget(process: pid)
                known.remove(pid)
                programs[pid] = nil
            }
        }
        for pid in system ? sampled : watched where !gone.contains(pid) && !ended.contains(pid) {
            watch(pid)
        }
        unwinders.refresh()
    }

    /// Waits for the next poll, counting (and unwinding) ring-buffer samples as they arrive,
    /// and watches the processes that forked or exec'd meanwhile. Returns the records read.
    @discardableResult
    func wait(milliseconds: Int32) throws -> Int {
        let ringBuffer = self.ringBuffer
        var started: [pid_t] = []
        let handled = try sampler.pollStackSamples(timeout: milliseconds) { record in
            switch record.kind {
            case .processForked, .processExecuted: started.append(record.pid)
            default: ringBuffer.add(record)
            }
        }
        var seen = Set<pid_t>()  // forked and exec'd since the last poll: one reading
        for pid in started where seen.insert(pid).inserted { watch(pid, isNew: true) }
        return handled
    }

    /// Counts what is left in the ring buffer after the events were disabled.
    func drain() throws {
        while try wait(milliseconds: 0) > 0 {}
    }
}

/// How stacks were unwound, for the report.
struct UnwindingReport {
    var mode: UnwindMode
    var dwarfProcesses: [String]
    var framePointerProcesses: [String]
    var ringBuffer: RingBufferStacks.Statistics
    var leafFix: FramePointerStacks.LeafFixStatistics
    var uniqueKernelKeys: Int
}

/// The processes descended from `pid` now, from /proc/PID/task/TID/children.
func descendants(of pid: pid_t) -> [pid_t] {
    var found: [pid_t] = []
    var queue = [pid]
    while let parent = queue.popLast() {
        for task in directoryEntries("/proc/\(parent)/task") {
            guard let text = try? readAll("/proc/\(parent)/task/\(task)/children") else { continue }
            for child in String(decoding: text, as: UTF8.self).split(separator: " ").compactMap({ pid_t($0) })
            where !found.contains(child) && child != pid {
                found.append(child)
                queue.append(child)
            }
        }
    }
    return found
}

/// The names in a directory, "." and ".." left out; empty if it cannot be read.
func directoryEntries(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

func processExists(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    // A zombie still answers kill(); it runs no more code.
    guard let stat = try? String(decoding: readAll("/proc/\(pid)/stat"), as: UTF8.self),
          let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].dropFirst().first
    return state != "Z" && state != "X"
}

func readAll(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw EmberError("cannot open \(path)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The one-line progress display on a terminal's stderr.
struct StatusLine {
    let enabled: Bool

    func show(elapsed: Double, duration: Double?, samples: UInt64) {
        guard enabled else { return }
        let limit = duration.map { " / \(formatSeconds($0))" } ?? " (Ctrl-C to stop)"
        writeStderr("\r\u{1B}[Kember: recording \(formatSeconds(elapsed))\(limit), \(formatCount(samples)) samples")
    }

    func clear() {
        if enabled { writeStderr("\r\u{1B}[K") }
    }
}

func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}

func formatSeconds(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}

/// 2970 → "2,970".
func formatCount<T: BinaryInteger>(_ value: T) -> String {
    let digits = Array(String(value))
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 && digit != "-" && digits[index - 1] != "-" {
            result.append(",")
        }
        result.append(digit)
    }
    return result
}

/// The frameless-leaf fix reads CFI from the files the symbolizer opened for each process.
extension Symbolizer: CodeFiles {
    public func codeFile(pid: pid_t, address: UInt64) -> CodeFile? {
        guard let found = elfFile(pid: pid, address: address) else { return nil }
        return CodeFile(elf: found.elf, identity: ObjectIdentifier(found.file), address: found.address)
    }
}
