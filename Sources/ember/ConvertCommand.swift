import ArgumentParser
import EmberProfile
import EmberRendering

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert profiles between formats: folded, perf script, pprof, speedscope, the time view.",
        discussion: """
            Reads every input (folded, `perf script` text or pprof, told apart by content; \
            `-` for standard input), merges them, and writes each output in the format its \
            extension names: .folded, .pb.gz or .pprof (gzip-compressed pprof), \
            .speedscope.json, .svg, or .html (the time view: a heat map of the samples over \
            time, thread tracks, and the flame graph of a selected range; for inputs with \
            times, such as `perf script` text).

            Examples:
              perf script | ember convert - -o perf.pb.gz
              ember convert cpu.pb.gz -o cpu.folded -o cpu.speedscope.json
            """)

    @Argument(help: "Input files (`-` for standard input).")
    var files: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp(
        "A file to write: .svg, .folded, .pb.gz/.pprof, .speedscope.json or .html. Repeat for several.", valueName: "file"))
    var output: [String] = []

    @OptionGroup var input: InputArguments

    @Flag(name: .long, help: ArgumentHelp(
        "pprof output: keep each sample's time (a `timestamp` label, nanoseconds), as the input gives it "
            + "(perf script, ember's pprof with --timestamps)."))
    var timestamps = false

    @Flag(name: .long, help: "Folded and SVG output: frames with source positions, `function (file.c:42)`.")
    var lines = false

    @Option(help: "SVG output: the title.")
    var title = "Flame Graph"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one input") }
        guard !output.isEmpty else {
            throw ValidationError("name at least one output with -o (\(OutputFormat.extensionList))")
        }
    }

    func run() throws {
        let outputs = try Outputs(output)
        let profile = try input.mergedProfile(of: files)
        var options = FlameGraphOptions()
        options.title = title
        options.countName = InputArguments.countName(of: profile)
        let lines = self.lines
        let notes = try outputs.write(
            tree: {
                var builder = FrameTreeBuilder(tracksSelfSamples: true)
                builder.add(profile, lines: lines)
                return builder.finishTree()
            },
            profile: { profile }, svg: options, speedscopeName: files.count == 1 ? files[0] : "ember", lines: lines,
            pprofTimestamps: timestamps)
        for note in notes { warn(note) }
    }
}
