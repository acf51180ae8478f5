import ArgumentParser
import EmberProfile
import EmberRendering

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render folded stacks from any profiler as an SVG flame graph.",
        discussion: """
            Reads collapsed stacks (`root;caller;leaf COUNT`, one per line) as written by \
            ember record, stackcollapse-perf.pl, bpftrace, py-spy or async-profiler. Several \
            files are merged; `-` reads standard input. Lines with two counts \
            (`stack BEFORE AFTER`) make a differential graph.
            """)

    @Argument(help: "Folded stack files (`-` for standard input).")
    var files: [String] = ["-"]

    @Option(name: .shortAndLong, help: "Write the SVG here instead of standard output.")
    var output: String?

    @Flag(help: "Fail on malformed lines instead of skipping them with a warning.")
    var strict = false

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

    @Option(name: .customLong("count-name"), help: "What a count is.")
    var countName = "samples"

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
        guard width >= 100 else { throw ValidationError("--width must be at least 100") }
        guard height >= 2 else { throw ValidationError("--height must be at least 2") }
        guard fontSize > 0 else { throw ValidationError("--font-size must be positive") }
        guard factor.isFinite, factor > 0 else { throw ValidationError("--factor must be a positive number") }
        _ = try parsedOptions()
    }

    func run() throws {
        let options = try parsedOptions()
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        do {
            for file in files { try builder.addFolded(path: file) }
        } catch let error as FoldedInputError {
            throw RenderFailure(error.description)
        }
        if let summary = builder.report.malformedSummary {
            if strict { throw RenderFailure("--strict: \(summary)") }
            warn("skipped \(summary)")
        }
        if builder.stacksWithoutBase > 0 {
            warn("dropped \(builder.stacksWithoutBase) stacks without --base \(base.joined(separator: ", "))")
        }
        guard !builder.tree.isEmpty else {
            throw RenderFailure("no stacks in \(files.joined(separator: ", "))")
        }
        do {
            try FlameGraph.write(builder.tree, options: options, toFile: output ?? "-")
        } catch let error as OutputError {
            throw RenderFailure(error.description)
        }
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
        options.countName = countName
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

    /// A warning on standard error; rendering goes on.
    private func warn(_ message: String) {
        var line = Array("ember: warning: \(message)\n".utf8)
        _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
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

/// A failure with a one-line message (printed as `Error: ...`, exit status 1).
struct RenderFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
