import ArgumentParser
import EmberProfile
import EmberRendering
import EmberSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render profiles from any profiler as an SVG flame graph.",
        discussion: """
            Reads collapsed stacks (`root;caller;leaf COUNT`, one per line) as written by \
            ember record, stackcollapse-perf.pl, bpftrace, py-spy or async-profiler; the text \
            `perf script` prints (collapsed as stackcollapse-perf.pl does); or pprof profiles \
            (gzip-compressed or not). The format is told from the content. Several files are \
            merged; `-` reads standard input. Lines with two counts (`stack BEFORE AFTER`) \
            make a differential graph. Without -o the SVG goes to standard output. An .html \
            output is the time view (a heat map of the samples over time, thread tracks, and \
            the flame graph of a selected range) of inputs with times, such as `perf script` \
            text; of inputs without (folded), the flame graph alone.
            """)

    @Argument(help: "Input files (`-` for standard input).")
    var files: [String] = ["-"]

    @Option(name: .shortAndLong, help: ArgumentHelp(
        "A file to write: .svg, .folded, .pb.gz/.pprof, .speedscope.json or .html. Repeat for several.", valueName: "file"))
    var output: [String] = []

    @OptionGroup var input: InputArguments

    @Flag(name: .long, help: "Show source positions of profiles that have them: `function (file.c:42)`.")
    var lines = false

    @Option(help: "Title text (default: Flame Graph, Icicle Graph or Flame Chart).")
    var title: String?

    @Option(help: "Second-level title.")
    var subtitle: String?

    @Option(help: "Width of the image in pixels.")
    var width = 1200

    @Option(help: "Height of each frame in pixels.")
    var height = 16

    @Option(name: .customLong("font-size"), help: "Font size.")
    var fontSize = 12.0

    @Option(name: .customLong("font-type"), help: "Font family.")
    var fontType = "Verdana, sans-serif"

    @Option(name: .customLong("min-width"), help: "Omit frames narrower than this: pixels, or `N%` of all samples.")
    var minWidth = "0.1"

    @Option(name: .customLong("count-name"), help: "What a count is (default: samples, or the profile's unit).")
    var countName: String?

    @Option(name: .customLong("name-type"), help: "What a frame is, in the details line.")
    var nameType = "Function:"

    @Option(
        help: """
            Palette: \(FlameGraphOptions.Palette.allCases.map(\.rawValue).joined(separator: ", ")).
            """)
    var colors = "hot"

    @Option(name: .customLong("bg-colors"), help: "Background: yellow, blue, green, grey or #rrggbb.")
    var bgColors: String?

    @Flag(inversion: .prefixedNo, help: "Colour frames by a hash of their name (same name, same colour).")
    var hash = true

    @Option(help: "Child order: alphabetical (as flamegraph.pl) or weight (widest first).")
    var sort = "alphabetical"

    @Flag(help: "Reverse stacks: leaf functions at the root.")
    var reverse = false

    @Flag(help: "Icicle graph: root at the top.")
    var inverted = false

    @Flag(name: .customLong("flame-chart"), help: "Flame chart: keep input order, do not merge stacks.")
    var flameChart = false

    @Flag(help: "Differential input: swap the two counts (widths from the first, hues switched).")
    var negate = false

    @Option(help: "A note stored in the SVG.")
    var notes: String?

    @Option(help: "Multiply every count by this.")
    var factor = 1.0

    @Option(help: "Re-root on this function (repeatable): stacks are cut above its first frame.")
    var base: [String] = []

    func validate() throws {
        // Bounds that keep every coordinate and count of the graph a finite number.
        guard (100...1_000_000).contains(width) else { throw ValidationError("--width must be between 100 and 1000000") }
        guard (2...1000).contains(height) else { throw ValidationError("--height must be between 2 and 1000") }
        guard fontSize > 0, fontSize <= 1000 else { throw ValidationError("--font-size must be above 0 and at most 1000") }
        guard factor.isFinite, factor >= 1e-12, factor <= 1e12 else {
            throw ValidationError("--factor must be a number between 1e-12 and 1e12")
        }
        _ = try parsedOptions()
    }

    func run() throws {
        var options = try parsedOptions()
        let outputs = try Outputs(output.isEmpty ? [] : output)
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        var unit: String?
        // The time view needs each sample (its time and thread), which the tree does not keep:
        // with an .html output every input is read once, whole, into a profile, and the tree
        // is built from it (standard input cannot be read twice).
        let timeViewProfile = outputs.targets.contains { $0.format == .html } ? try input.mergedProfile(of: files) : nil
        do {
            if let timeViewProfile {
                let profileUnit = InputArguments.countName(of: timeViewProfile)
                if profileUnit != "samples" { unit = profileUnit }
                builder.add(timeViewProfile, lines: lines)
            }
            for file in files where timeViewProfile == nil {
                let source = try input.open(file)
                if source.format == .folded {
                    if let size = source.regularFileSize { builder.reserveCapacity(forInputBytes: size) }
                    try builder.addFolded(source.lines())
                } else {
                    let profile = try input.profile(of: source)
                    if unit == nil { unit = InputArguments.countName(of: profile) }
                    builder.add(profile, lines: lines)
                }
            }
        } catch let error as ProfileInputError {
            throw EmberError(error.description)
        }
        if let summary = builder.report.malformedSummary { try input.report(["skipped \(summary)"]) }
        if builder.stacksWithoutBase > 0 {
            warn("dropped \(builder.stacksWithoutBase) stacks without --base \(base.joined(separator: ", "))")
        }
        guard !builder.tree.isEmpty else {
            throw EmberError("no stacks in \(files.joined(separator: ", "))")
        }
        let tree = builder.finishTree()
        options.countName = countName ?? unit ?? InputArguments.foldedCountName(of: tree)
        if outputs.targets.isEmpty {
            do { try FlameGraph.write(tree, options: options, toFile: "-") } catch let error as SystemError {
                throw EmberError(error.description)
            }
            return
        }
        let countName = options.countName
        for note in try outputs.write(
            tree: { tree }, profile: { tree.profile(sampleTypes: Self.sampleTypes(of: tree, countName: countName)) },
            svg: options, speedscopeName: options.title, lines: lines,
            timeViewProfile: timeViewProfile.map { profile in { profile } }) {
            warn(note)
        }
    }

    /// The sample types of a rendered tree as a profile.
    static func sampleTypes(of tree: FrameTree, countName: String) -> [ValueType] {
        tree.isDifferential ? [.before, .after] : [ValueType(type: countName, unit: "count")]
    }

    func parsedOptions() throws -> FlameGraphOptions {
        var options = FlameGraphOptions()
        options.title = title ?? (inverted ? "Icicle Graph" : flameChart ? "Flame Chart" : "Flame Graph")
        options.subtitle = subtitle
        options.width = width
        options.frameHeight = height
        options.fontSize = fontSize
        options.fontType = fontType
        options.minWidth = try Self.parseMinWidth(minWidth)
        options.countName = countName ?? "samples"
        options.nameType = nameType
        guard let palette = FlameGraphOptions.Palette(rawValue: colors) else {
            throw ValidationError(
                "unknown --colors '\(colors)' (choose from "
                    + FlameGraphOptions.Palette.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        options.palette = palette
        if let bgColors {
            guard let background = FlameGraphOptions.Background(parsing: bgColors) else {
                throw ValidationError("unknown --bg-colors '\(bgColors)' (yellow, blue, green, grey or #rrggbb)")
            }
            options.background = background
        }
        options.hashColors = hash
        switch sort {
        case "alphabetical", "name": options.order = .alphabetical
        case "weight": options.order = .weight
        default: throw ValidationError("unknown --sort '\(sort)' (alphabetical or weight)")
        }
        options.reverse = reverse
        options.inverted = inverted
        options.flameChart = flameChart
        options.negate = negate
        options.notes = notes
        options.factor = factor
        options.baseFrames = base
        return options
    }

    static func parseMinWidth(_ text: String) throws -> FlameGraphOptions.MinWidth {
        let isPercent = text.hasSuffix("%")
        let number = isPercent ? String(text.dropLast()) : text
        guard let value = Double(number), value.isFinite, value >= 0 else {
            throw ValidationError("--min-width must be a number of pixels or a percentage like 0.5%")
        }
        return isPercent ? .percent(value) : .pixels(value)
    }
}
