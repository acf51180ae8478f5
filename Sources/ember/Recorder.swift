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

struct RecordingSettings {
    var target: RecordingTarget
    var duration: Double?
    var frequency = 99
    var kernelStacks = true
    var threadFrames = false
    var stackMapSize = 16384
    var countsMapSize = 65536
    var title: String?
    var symbolization = SymbolizerOptions()
}

/// Runs one recording: sampling → unwinding → symbolization → profile.
/// The composition root of the pipeline; each stage lives in its own module.
struct Recorder {
    let settings: RecordingSettings

    /// How often memory maps are re-read, so exited processes still symbolize.
    private let refreshInterval = 1.0
    private let pollInterval: useconds_t = 50_000

    func record() throws -> Recording {
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

        // Load and attach before launching anything, so permission errors come first.
        let sampler = try Sampler(configuration: configuration)
        defer { sampler.close() }
        let symbolizer = Symbolizer(options: settings.symbolization)

        ember_install_stop_signals()
        defer { ember_restore_default_signals() }

        var child: LaunchedCommand?
        if case .command(let arguments) = settings.target {
            let launched = try LaunchedCommand(arguments: arguments)
            child = launched
            try sampler.addTarget(launched.pid)
        }
        if case .process(let pid) = settings.target { symbolizer.refresh(process: pid) }

        try sampler.start()
        let started = monotonicSeconds()
        // Read the kernel's symbols while sampling, not after it.
        if settings.kernelStacks { symbolizer.loadKernelSymbols() }
        if let child {
            do { try child.run() } catch {
                sampler.stop()
                throw error
            }
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
                refreshMaps(sampler, symbolizer)
                lastRefresh = now
                status.show(elapsed: elapsed, duration: settings.duration,
                            samples: sampler.counters().samples)
            }
            usleep(pollInterval)
        }
        let elapsed = monotonicSeconds() - started
        // Disable the events first: nothing changes the maps while they are read.
        sampler.stop()
        let collectStart = monotonicSeconds()
        status.clear()
        refreshMaps(sampler, symbolizer)
        let samples = sampler.collect()
        sampler.close()
        child?.finish()

        let stacks = FramePointerStacks.callStacks(from: samples)
        let profile = ProfileBuilder(symbolizer: symbolizer, settings: settings).profile(of: stacks)
        return Recording(
            settings: settings, samples: samples, profile: profile.profile,
            lostStacks: profile.lostStacks,
            statistics: symbolizer.statistics, elapsed: elapsed, endReason: endReason,
            samplingEnded: collectStart,
            kernelSymbolsVisible: !settings.kernelStacks || symbolizer.kernelSymbolsVisible)
    }

    private func refreshMaps(_ sampler: Sampler, _ symbolizer: Symbolizer) {
        let pids: [pid_t]
        switch settings.target {
        case .system: pids = Array(sampler.sampledProcesses())
        default: pids = sampler.targetProcesses()
        }
        for pid in pids where pid > 0 { symbolizer.refresh(process: pid) }
    }
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
