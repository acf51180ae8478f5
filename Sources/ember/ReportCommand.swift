import ArgumentParser
import EmberProfile

#if canImport(Glibc)
import Glibc
#endif

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print where a profile's time went: the hottest functions, a call tree, threads, processes.",
        discussion: """
            Reads any profile ember reads (folded stacks, `perf script` text, pprof; `-` for \
            standard input; several files are merged) and prints the functions with the most \
            self and total time, with percentages of all. --tree prints the call tree instead \
            (callers above callees), --threads, --processes and --libraries their tables; \
            they combine. Plain text in 80 columns (--width), bold headings only on a terminal.

            Examples:
              ember report cpu.pb.gz
              ember report --tree --min-percent 2 cpu.folded
              perf script | ember report --processes -
            """)

    @Argument(help: "Input files (`-` for standard input).")
    var files: [String] = ["-"]

    @OptionGroup var input: InputArguments

    @Option(name: [.customShort("n"), .long], help: "How many rows each table lists.")
    var top = 10

    @Flag(help: "Print the call tree: callers above callees, children by total.")
    var tree = false

    @Option(name: .customLong("min-percent"), help: ArgumentHelp(
        "With --tree, leave out frames below this percentage of all.", valueName: "percent"))
    var minPercent = 1.0

    @Flag(help: "Print the time of each thread.")
    var threads = false

    @Flag(help: "Print the time of each process.")
    var processes = false

    @Flag(help: "Print the self and total time of each library (mapped file; pprof input).")
    var libraries = false

    @Flag(help: "Print the functions tables too when --tree, --threads, --processes or --libraries is given.")
    var functions = false

    @Option(help: "Columns per line.")
    var width = 80

    func validate() throws {
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard minPercent.isFinite, (0...100).contains(minPercent) else {
            throw ValidationError("--min-percent must be between 0 and 100")
        }
        guard (40...1000).contains(width) else { throw ValidationError("--width must be between 40 and 1000") }
    }

    func run() throws {
        let format = try files.count == 1 ? input.open(files[0]).format : nil
        let profile = try input.mergedProfile(of: files)
        let summary = ProfileSummary(profile: profile, rootsAreProcesses: format == .folded)
        let text = SummaryText(width: width, color: isatty(1) != 0 && getenv("NO_COLOR") == nil)
        let unit = summary.valueType
        var output = text.header(files.joined(separator: ", "), summary)
        let sections = !(tree || threads || processes || libraries) || functions
        if sections {
            output += "\n" + text.table("Top \(min(top, summary.functions.count)) functions by self:",
                                        summary.functions, total: summary.total, unit: unit, limit: top)
            output += "\n" + text.table("Top \(min(top, summary.functions.count)) functions by total:",
                                        summary.functionsByTotal, total: summary.total, unit: unit, limit: top)
        }
        let name = files.count == 1 ? files[0] : "the inputs"
        if libraries {
            output += "\n" + (summary.libraries.isEmpty ? text.cut("No libraries: no mappings in \(name).", width) + "\n"
                : text.table("Libraries:", summary.libraries, total: summary.total, unit: unit, limit: top,
                             nameHeading: "library"))
        }
        if processes {
            output += "\n" + (summary.processes.isEmpty ? text.cut("No processes: none named in \(name).", width) + "\n"
                : text.table("Processes:", summary.processes, total: summary.total, unit: unit, limit: top,
                             columns: .totalOnly, nameHeading: "process"))
        }
        if threads {
            output += "\n" + (summary.threads.isEmpty
                ? text.cut("No threads: no thread frames or tid labels in \(name).", width) + "\n"
                : text.table("Threads:", summary.threads, total: summary.total, unit: unit, limit: top,
                             columns: .totalOnly, nameHeading: "thread"))
        }
        if tree {
            var builder = FrameTreeBuilder(tracksSelfSamples: true)
            builder.add(profile)
            output += "\n" + text.tree(builder.finishTree(), minPercent: minPercent)
        }
        print(output, terminator: "")
    }
}
