import CEmberShim
import EmberProfile
import EmberSampling
import EmberSymbolization
import EmberSystem
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// A recording read while it runs, for a live view (`ember top`): ``profile()`` names what
/// the sampler counted so far, as often as it is asked, with the stacks a recording with the
/// same settings would give (by default CFI walked in the kernel, Python frames merged).
///
/// The stacks counted in the kernel's maps are read from them; those that came through the
/// ring buffer (stack copies unwound here, samples whose map was full) are counted by the
/// session as they arrive and read from there. Samples the full ring buffer dropped are
/// counted (``samplesNotShown``). Processes that end are dropped from the maps as a
/// recording drops them, so their samples leave the view.
public final class LiveSession {
    public let settings: RecordingSettings
    private let sampler: Sampler
    /// The session behind the view (internal: tests look at what it keeps).
    let session: Session
    private var lastRefresh: Double
    private let targetExit: ProcessExit?
    public let started: Double

    /// Loads the BPF program and starts sampling the target (a process and its children,
    /// or the whole system). SIGINT and SIGTERM are caught from now until ``close()``:
    /// see ``stopSignal``.
    public init(settings: RecordingSettings) throws {
        var settings = settings
        settings.keepSampleTimes = false
        if case .command = settings.target { throw RecordingError("a live view watches a process or the system") }
        self.settings = settings
        ember_install_stop_signals()
        do {
            sampler = try Sampler(configuration: try settings.samplerConfiguration())
        } catch {
            ember_restore_default_signals()
            throw error
        }
        session = Session(settings: settings, sampler: sampler, keepsEndedProcesses: false)
        if case .process(let pid) = settings.target { targetExit = ProcessExit(pid: pid) } else { targetExit = nil }
        if case .process(let pid) = settings.target {
            for process in [pid] + descendants(of: pid) {
                if process != pid { try? sampler.addTarget(process) }
                session.watch(process)
            }
        }
        if settings.kernelStacks { session.symbolizer.loadKernelSymbols() }
        started = Clock.monotonicSeconds()
        lastRefresh = started
        if case .system = settings.target { lastRefresh -= Session.refreshInterval - Session.firstSystemRefresh }
        do { try sampler.start() } catch {
            close()
            throw error
        }
    }

    /// Waits up to `milliseconds` for processes that fork or exec, reads their maps, and
    /// once a second lets go of those that ended and re-reads the others.
    public func poll(milliseconds: Int32) throws {
        try session.wait(milliseconds: milliseconds)
        session.rereadYoungProcesses()
        let now = Clock.monotonicSeconds()
        if now - lastRefresh >= Session.refreshInterval {
            session.refresh()
            lastRefresh = now
        }
    }

    /// The signal (SIGINT, SIGTERM) that asked ember to stop, or 0.
    public var stopSignal: Int32 { ember_stop_signal() }

    /// The process watched (nil system-wide).
    public var targetPID: pid_t? {
        if case .process(let pid) = settings.target { return pid }
        return nil
    }

    /// The name of the process watched, as /proc/PID/comm gave it (nil system-wide).
    public var targetName: String? {
        if case .process(let pid) = settings.target { return session.symbolizer.processName(pid) }
        return nil
    }

    /// Whether the process watched has exited (never for the whole system).
    public var targetExited: Bool {
        targetExit?.hasExited ?? false
    }

    /// Samples the BPF program took, and those the full ring buffer dropped (not in the view).
    public var samplesSeen: UInt64 { sampler.counters().samples }
    public var samplesNotShown: UInt64 { sampler.counters().ringBufferFull }

    /// What was counted so far, named: one sample per distinct stack and thread, values
    /// `samples`/`count` and `cpu`/`nanoseconds`.
    public func profile() -> Profile {
        var statistics = FramePointerStacks.Statistics()
        var stacks = FramePointerStacks.callStacks(from: sampler.snapshot(), leafFix: session.leafFix,
                                                   statistics: &statistics)
        stacks += session.ringBuffer.callStacks(leafFix: session.leafFix, statistics: &statistics)
        let builder = ProfileBuilder(symbolizer: session.symbolizer, settings: settings)
        builder.pythonFrames = session.pythonFrames
        builder.add(stacks, clockOffset: 0)
        return builder.finish(startTime: 0, duration: Clock.monotonicSeconds() - started)
    }

    /// Stops sampling and releases every BPF object and perf event; the signals go back to
    /// their defaults. Safe to call more than once.
    public func close() {
        sampler.close()
        session.close()
        ember_restore_default_signals()
    }

    deinit { close() }
}
