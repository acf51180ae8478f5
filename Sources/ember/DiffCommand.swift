import ArgumentParser
import EmberProfile
import EmberRendering
import EmberSystem

#if canImport(Glibc)
import Glibc
#endif

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two profiles: what got slower, frame by frame.",
        discussion: """
            BEFORE and AFTER are profiles in any format ember reads (folded, perf script, \
            pprof; `-` for standard input). Writes a differential flame graph (-o x.svg: every \
            frame coloured by the change of its own total, red grew, blue shrank; new frames \
            outlined, gone frames dashed), the two-count folded format (-o x.folded: `stack \
            before after`), pprof with sample types `before` and `after` (-o x.pb.gz), or, \
            without -o on a terminal, a table of the largest changes. BEFORE is scaled to \
            AFTER's total unless --no-normalize.
            """)

    @Argument(help: "The profile before the change.")
    var before: String

    @Argument(help: "The profile after the change.")
    var after: String

    @Option(name: .shortAndLong, help: ArgumentHelp(
        "A file to write: .svg, .folded, .pb.gz/.pprof or .speedscope.json. Repeat for several.", valueName: "file"))
    var output: [String] = []

    @OptionGroup var input: InputArguments

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

    func validate() throws {
        guard FlameGraphOptions.DifferentialWidth(rawValue: widthBasis) != nil else {
            throw ValidationError("--width must be max, after or before")
        }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard (100...1_000_000).contains(imageWidth) else {
            throw ValidationError("--image-width must be between 100 and 1000000")
        }
    }

    func run() throws {
        let outputs = try Outputs(output)
        if let html = outputs.targets.first(where: { $0.format == .html }) {
            throw EmberError("ember diff writes no .html ('\(html.path)'): the time view compares two ranges of one "
                + "recording (ember render FILE -o view.html, then Shift-drag a second range)")
        }
        let diff = try comparison()
        guard !diff.tree.isEmpty else { throw EmberError("no stacks in \(before) or \(after)") }

        var options = FlameGraphOptions()
        options.title = title
        options.width = imageWidth
        options.negate = negate
        options.differentialWidth = FlameGraphOptions.DifferentialWidth(rawValue: widthBasis) ?? .max
        options.subtitle = diff.normalizationNote ?? "not normalized"
        options.countName = InputArguments.foldedCountName(of: diff.tree)

        if outputs.targets.isEmpty {
            if isatty(1) != 0 {
                print(diff.table(limit: top), terminator: "")
            } else {
                do { try FlameGraph.write(diff.tree, options: options, toFile: "-") } catch let error as SystemError {
                    throw EmberError(error.description)
                }
            }
            return
        }
        let notes = try outputs.write(
            tree: { diff.tree }, profile: { diff.profile() }, svg: options, foldedOrder: .bytes, speedscopeName: title)
        for note in notes { warn(note) }
    }

    /// Folded files are read together, in parts on every core; other inputs whole.
    private func comparison() throws -> ProfileDiff {
        let beforeInput = try input.open(before)
        let afterInput = try input.open(after)
        if beforeInput.format == .folded, afterInput.format == .folded, before != "-", after != "-" {
            let diff: ProfileDiff
            do {
                diff = try ProfileDiff(beforePath: before, afterPath: after, normalize: normalize)
            } catch let error as ProfileInputError {
                throw EmberError(error.description)
            }
            if let summary = diff.report.malformedSummary { try input.report(["skipped \(summary)"]) }
            return diff
        }
        let beforeProfile = try input.profile(of: beforeInput)
        let afterProfile = try input.profile(of: afterInput)
        return ProfileDiff(before: beforeProfile, after: afterProfile, normalize: normalize)
    }
}
