import ArgumentParser
import EmberProfile
import EmberRecording
import EmberRendering
import EmberSampling
import EmberSymbolization
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample a process, a command or the whole system and write flame graphs.",
        discussion: """
            Exactly one target: --pid PID, --all, or a command after `--`. Without \
            --duration, recording lasts until Ctrl-C (or until the process or command exits). \
            The output format follows each --output's extension: .svg (flame graph), .folded \
            (collapsed stacks), .pb.gz or .pprof (pprof), .speedscope.json (speedscope) or \
            .html (the time view: a heat map of the samples over time, thread tracks, and the \
            flame graph of a selected range).

            Examples:
              ember record --pid 4242 -d 10 -o cpu.svg
              ember record -o run.svg -o run.folded -- ./my-benchmark --iterations 100
              ember record --all -d 5 -F 997 -o system.svg -o system.pb.gz
              ember record --off-cpu --pid 4242 -d 10 -o waits.svg
            """)

    @Option(name: [.short, .long], help: "Profile this process: all of its threads, and its child processes (running or started later).")
    var pid: Int32?

    @Flag(name: .long, help: "Profile every task on the system (but ember itself).")
    var all = false

    @Flag(name: .customLong("include-ember"), help: "With --all, sample ember's own threads too.")
    var includeEmber = false

    @Option(name: [.short, .long], help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
    var duration: Double?

    @Option(name: [.customShort("F"), .long], help: ArgumentHelp("Samples per second on each CPU.", valueName: "hz"))
    var frequency: Int = 99

    @Flag(name: .long, help: ArgumentHelp(
        "Sample at exactly 1/frequency, as perf does. By default each CPU's period varies by up to "
            + "a quarter, drawn anew every 100 ms or 10 periods, so work that repeats at the sampling "
            + "period is not always sampled at one phase of it."))
    var fixedPeriod = false

    @Option(name: [.short, .long], help: ArgumentHelp(
        "A file to write: .svg, .folded, .pb.gz/.pprof, .speedscope.json or .html. Repeat for several.",
        valueName: "file"))
    var output: [String] = []

    @Flag(name: .long, help: ArgumentHelp(
        "pprof output: keep each sample's time (a `timestamp` label, nanoseconds since the epoch), "
            + "for the time view of `ember render FILE.pb.gz -o view.html`."))
    var timestamps = false

    @Flag(name: .long, help: "Leave kernel frames out.")
    var noKernel = false

    @Flag(name: .long, help: "Add a frame for each thread under its process.")
    var threads = false

    @Option(name: .long, help: ArgumentHelp(
        "Buckets of the stack-trace map (and entries of the map of stacks walked by CFI); a sample whose "
            + "stack finds no room goes whole through the ring buffer.",
        valueName: "n"))
    var stackMapSize: Int = 16384

    @Option(name: .long, help: ArgumentHelp(
        "Entries of the map of stacks walked by CFI (default: --stack-map-size): tests make it tiny to see "
            + "stacks sent whole instead.", valueName: "n", visibility: .hidden))
    var walkedStacksMapSize: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Entries of the counts map (distinct process/thread/stack keys).", valueName: "n"))
    var countsMapSize: Int = 65536

    @Option(name: .long, help: ArgumentHelp(
        "How user stacks are unwound: fp (frame pointers), dwarf (CFI, in user space, from a copy of "
            + "the stack; with --off-cpu, a copy per blocking context switch), lbr (the CPU's Last Branch "
            + "Record) or auto (CFI in the kernel, from each file's unwind table; also blocked threads' "
            + "stacks).", valueName: "method"))
    var unwind: UnwindMode = .auto

    @Option(name: .long, help: ArgumentHelp(
        "--unwind auto: rows (16 bytes each) the kernel keeps for all files' unwind tables; a "
            + "table that does not fit is unwound in user space. 0: no tables (frame pointers "
            + "where a binary keeps them, DWARF in user space where it does not).", valueName: "n"))
    var unwindTableRows: Int = 1 << 20

    @Option(name: .long, help: ArgumentHelp(
        "Distinct code addresses the profile keeps apart; past it, a new address joins the "
            + "function and line it names (unnamed code: its file), so that long recordings stay "
            + "bounded.", valueName: "n"))
    var maxLocations: Int = 100_000

    @Option(name: .long, help: ArgumentHelp(
        "DWARF unwinding: bytes of user stack copied per sample (at most 65536).", valueName: "bytes"))
    var stackSize: Int = 16384

    @Flag(name: .long, help: ArgumentHelp(
        "Frame-pointer stacks: do not restore the caller of functions that have not set up their frame.",
        visibility: .hidden))
    var noLeafFix = false

    @Option(name: .long, help: ArgumentHelp(
        "Bytes of the BPF ring buffer (a power of two from 4096 to 1 GiB; default 16 MiB, 1 MiB with --unwind fp): "
            + "tests make it tiny to see losses reported.", valueName: "bytes", visibility: .hidden))
    var ringBufferSize: Int?

    @Flag(name: .long, help: "Leave Python frames out: the interpreter's own frames only.")
    var noInterpreter = false

    @Option(name: .long, help: "The flame graph's title.")
    var title: String?

    @Flag(name: .long, help: "Add source positions to frames: `function (file.c:42)`.")
    var lines = false

    @OptionGroup var names: NameOptions

    @OptionGroup(title: "Off-CPU and wall-clock time") var offCPU: OffCPUOptions

    @Argument(parsing: .postTerminator, help: "A command to launch and profile, with its children.")
    var command: [String] = []

    func validate() throws {
        let targets = (pid != nil ? 1 : 0) + (all ? 1 : 0) + (command.isEmpty ? 0 : 1)
        guard targets == 1 else {
            throw ValidationError("name exactly one target: --pid PID, --all, or -- COMMAND")
        }
        guard !output.isEmpty else {
            throw ValidationError("name at least one output with -o (\(OutputFormat.extensionList))")
        }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be a positive number of seconds")
        }
        guard (1...100_000).contains(frequency) else {
            throw ValidationError("--frequency must be between 1 and 100000 Hz")
        }
        for size in [stackMapSize, countsMapSize] + (walkedStacksMapSize.map { [$0] } ?? [])
        where !(1...(1 << 24)).contains(size) {
            throw ValidationError("map sizes must be between 1 and \(1 << 24)")
        }
        guard (0...(1 << 24)).contains(unwindTableRows) else {
            throw ValidationError("--unwind-table-rows must be between 0 and \(1 << 24)")
        }
        guard (1_000...(1 << 26)).contains(maxLocations) else {
            throw ValidationError("--max-locations must be between 1000 and \(1 << 26)")
        }
        guard (64...65536).contains(stackSize), stackSize % 8 == 0 else {
            throw ValidationError("--stack-size must be a multiple of 8 between 64 and 65536 bytes")
        }
        if let pid, pid <= 0 {
            throw ValidationError("--pid must be a positive process id")
        }
        if includeEmber && !all { throw ValidationError("--include-ember goes with --all") }
        if let ringBufferSize, !(4096...(1 << 30)).contains(ringBufferSize) || ringBufferSize & (ringBufferSize - 1) != 0 {
            throw ValidationError("--ring-buffer-size must be a power of two from 4096 to \(1 << 30) bytes")
        }
    }

    func run() throws {
        let outputs = try Outputs(output)

        let target: RecordingTarget
        if let pid {
            target = .process(pid)
        } else if all {
            target = .system
        } else {
            target = .command(command)
        }
        var settings = RecordingSettings(target: target)
        settings.duration = duration
        settings.frequency = frequency
        settings.fixedPeriod = fixedPeriod
        settings.kernelStacks = !noKernel
        settings.threadFrames = threads
        settings.stackMapSize = stackMapSize
        settings.walkedStacksMapSize = walkedStacksMapSize
        settings.countsMapSize = countsMapSize
        settings.unwindTableRows = unwindTableRows
        settings.maximumLocations = maxLocations
        settings.unwind = unwind
        settings.stackSize = stackSize
        settings.leafFix = !noLeafFix
        settings.ringBufferSize = ringBufferSize
        settings.interpreterFrames = !noInterpreter
        settings.symbolization = SymbolizerOptions(lines: lines, debugDirectories: names.debugDir, demangle: !names.noDemangle)
        settings.keepSampleTimes = timestamps || outputs.targets.contains { $0.format == .speedscope || $0.format == .html }
        settings.includeSelf = includeEmber
        settings.mode = offCPU.mode
        settings.offCPU = offCPU.configuration

        let status = StatusLine(enabled: isatty(2) != 0)
        let recording: Recording
        do {
            recording = try Recorder(settings: settings).record { progress in
                status.show(elapsed: progress.elapsed, duration: duration, samples: progress.samples)
            }
        } catch let error as RecordingError {
            status.clear()
            throw EmberError(error.description)
        } catch {
            status.clear()
            throw error
        }
        status.clear()
        var options = FlameGraphOptions()
        options.title = title ?? "ember: \(RecordReportText.targetDescription(recording))"
        switch settings.mode {
        case .cpu:
            options.subtitle = "\(formatCount(recording.report.storedSamples)) samples at "
                + "\(settings.frequency) Hz over \(formatSeconds(recording.report.elapsed))"
        case .offCPU:
            options.subtitle = "off-CPU time in microseconds (blue: [off-cpu]) over "
                + formatSeconds(recording.report.elapsed)
            options.countName = "microseconds"
        case .wall:
            options.subtitle = "wall-clock time in microseconds: on-CPU samples at \(settings.frequency) Hz "
                + "and off-CPU time (blue: [off-cpu]) over \(formatSeconds(recording.report.elapsed))"
            options.countName = "microseconds"
        }
        // The time view draws the values the graph draws: samples, or microseconds.
        if settings.mode != .cpu { options.factor = 1e-3 }
        let notes = try outputs.write(
            tree: { recording.tree }, profile: { recording.profile }, svg: options,
            speedscopeName: options.title, lines: lines, timeViewSampleType: settings.mode == .cpu ? 0 : nil,
            pprofTimestamps: timestamps)
        let text = RecordReportText(recording: recording)
        for line in text.lines(written: outputs.targets.map(\.path)) + notes { writeStandardError("ember: \(line)\n") }
    }
}

/// `--unwind` of `ember record` and `ember top`: the parser checks the value and names the
/// methods in its error and in the help.
extension UnwindMode: ExpressibleByArgument {}
