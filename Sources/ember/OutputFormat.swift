import EmberProfile
import EmberRendering
import EmberSystem

/// An error that ember reports as one line, exiting non-zero.
struct EmberError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The formats ember writes, chosen by the output's extension: the one rule every command
/// follows.
enum OutputFormat: String, CaseIterable {
    /// An interactive SVG flame graph.
    case svg
    /// Collapsed stacks, `root;...;leaf COUNT`.
    case folded
    /// pprof's profile.proto, gzip-compressed.
    case pprof
    /// speedscope's JSON file format.
    case speedscope
    /// The time view: heat map, thread tracks and the flame graph of a selected range.
    case html

    /// The extensions that name each format.
    var extensions: [String] {
        switch self {
        case .svg: return [".svg"]
        case .folded: return [".folded"]
        case .pprof: return [".pb.gz", ".pprof"]
        case .speedscope: return [".speedscope.json"]
        case .html: return [".html"]
        }
    }

    static var extensionList: String {
        allCases.flatMap(\.extensions).joined(separator: ", ")
    }

    init(path: String) throws {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        guard let format = Self.allCases.first(where: { format in format.extensions.contains { name.hasSuffix($0) } })
        else {
            throw EmberError("cannot tell the format of '\(path)' from its name: use one of \(Self.extensionList)")
        }
        self = format
    }
}

/// The outputs of one command, checked before any work is done.
struct Outputs {
    let targets: [(path: String, format: OutputFormat)]

    /// Each path's format, and that its directory can be written.
    init(_ paths: [String]) throws {
        var targets: [(path: String, format: OutputFormat)] = []
        for path in paths {
            let format = try OutputFormat(path: path)
            do { try AtomicFile.checkWritable(path) } catch let error as SystemError { throw EmberError(error.description) }
            targets.append((path, format))
        }
        self.targets = targets
    }

    /// Writes every output: `tree` for flame graphs and folded text, `profile` for pprof,
    /// speedscope and the time view (made only when one of those is asked for), or
    /// `timeViewProfile` for the time view when given. Returns what pprof had to round.
    func write(
        tree: () -> FrameTree, profile: () -> Profile, svg options: FlameGraphOptions,
        foldedOrder: FoldedWriter.LineOrder = .frames, speedscopeName: String, lines: Bool = false,
        timeViewProfile: (() throws -> Profile)? = nil, timeViewSampleType: Int? = nil, pprofTimestamps: Bool = false
    ) throws -> [String] {
        var notes: [String] = []
        var builtTree: FrameTree?
        var builtProfile: Profile?
        for (path, format) in targets {
            do {
                switch format {
                case .svg:
                    if builtTree == nil { builtTree = tree() }
                    try FlameGraph.write(builtTree!, options: options, toFile: path)
                case .folded:
                    if builtTree == nil { builtTree = tree() }
                    let folded = builtTree!
                    try AtomicFile.write(path: path) { sink in try FoldedWriter.write(folded, order: foldedOrder, to: sink) }
                case .pprof:
                    if builtProfile == nil { builtProfile = profile() }
                    let encoded = PprofWriter.encode(builtProfile!, timestamps: pprofTimestamps)
                    try AtomicFile.write(encoded.bytes, to: path)
                    if encoded.roundedValues > 0 {
                        notes.append("\(path): pprof holds whole numbers: \(encoded.roundedValues) fractional values rounded")
                    }
                case .speedscope:
                    if builtProfile == nil { builtProfile = profile() }
                    try AtomicFile.write(SpeedscopeWriter.encode(builtProfile!, name: speedscopeName), to: path)
                case .html:
                    if let timeViewProfile {
                        try TimeView.write(try timeViewProfile(), options: options, lines: lines, toFile: path)
                    } else {
                        if builtProfile == nil { builtProfile = profile() }
                        try TimeView.write(builtProfile!, options: options, lines: lines, sampleType: timeViewSampleType,
                                           toFile: path)
                    }
                }
            } catch let error as SystemError {
                throw EmberError(error.description)
            }
        }
        if let cut = builtTree?.cutLabels, cut > 0 {
            notes.append("\(formatCount(cut)) frame name\(cut == 1 ? "" : "s") longer than \(FrameTree.maxLabelLength) "
                + "bytes \(cut == 1 ? "was" : "were") cut in the graph and folded text (the end shown as …#hash)")
        }
        return notes
    }
}
