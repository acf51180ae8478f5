import ArgumentParser
import EmberProfile
import EmberRendering

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two profiles: what got slower, frame by frame.",
        discussion: """
            BEFORE and AFTER are folded files (`-` for standard input). Writes a differential \
            flame graph (-o x.svg: every frame coloured by the change of its own total, red grew, \
            blue shrank; new frames outlined, gone frames dashed), the two-count folded format \
            (-o x.folded: `stack before after`), or, without -o on a terminal, a table of the \
            largest changes. BEFORE is scaled to AFTER's total unless --no-normalize.
            """)

    @Argument(help: "The profile before the change.")
    var before: String

    @Argument(help: "The profile after the change.")
    var after: String

    @Option(name: .shortAndLong, help: "Output file: .svg for the graph, any other name for folded lines (repeatable).")
    var output: [String] = []

    @Flag(inversion: .prefixedNo, help: "Scale BEFORE to AFTER's total so that runs of different length compare.")
    var normalize = true

    @Flag(help: "Swap the roles: a graph drawn on BEFORE's shape, red where BEFORE was larger.")
    var negate = false

    @Option(help: "How many functions the table lists.")
    var top = 10

    @Option(name: .customLong("width"), help: "Frame widths from: max (of before and after), after or before.")
    var widthBasis = "max"

    @Option(name: .customLong("image-width"), help: "Width of the image in pixels.")
    var imageWidth = 1200

    @Option(help: "Title text.")
    var title = "Differential Flame Graph"

    @Flag(help: "Fail on malformed lines instead of skipping them with a warning.")
    var strict = false

    func validate() throws {
        guard FlameGraphOptions.DifferentialWidth(rawValue: widthBasis) != nil else {
            throw ValidationError("--width must be max, after or before")
        }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard imageWidth >= 100 else { throw ValidationError("--image-width must be at least 100") }
    }

    func run() throws {
        let diff: FlameGraphDiff
        do {
            diff = try FlameGraphDiff(beforePath: before, afterPath: after, normalize: normalize)
        } catch let error as FoldedInputError {
            throw RenderFailure(error.description)
        }
        if let summary = diff.report.malformedSummary {
            if strict { throw RenderFailure("--strict: \(summary)") }
            var line = Array("ember: warning: skipped \(summary)\n".utf8)
            _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        }
        guard !diff.tree.isEmpty else { throw RenderFailure("no stacks in \(before) or \(after)") }

        var options = FlameGraphOptions()
        options.title = title
        options.width = imageWidth
        options.negate = negate
        options.differentialWidth = FlameGraphOptions.DifferentialWidth(rawValue: widthBasis) ?? .max
        options.subtitle = diff.normalizationNote ?? "not normalized"
        options.countName = "samples"

        let targets = output.isEmpty && isatty(1) == 0 ? ["-"] : output
        if targets.isEmpty {
            print(diff.table(limit: top), terminator: "")
            return
        }
        do {
            for target in targets {
                if target == "-" || target.hasSuffix(".svg") {
                    try FlameGraph.write(diff.tree, options: options, toFile: target)
                } else {
                    let lines = diff.foldedLines()
                    try AtomicOutput.write(path: target) { sink in try lines.withUnsafeBytes { try sink($0) } }
                }
            }
        } catch let error as OutputError {
            throw RenderFailure(error.description)
        }
    }
}
