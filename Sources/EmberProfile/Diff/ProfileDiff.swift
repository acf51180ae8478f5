/// A comparison of two profiles (`ember diff BEFORE AFTER`): one merged tree whose
/// "before" counts come from the first profile and "after" counts from the second, so that
/// every frame knows both its totals, and a parent whose children moved in opposite
/// directions shows its own net change.
public struct ProfileDiff {
    public private(set) var tree: FrameTree
    /// What BEFORE's counts were multiplied by to match AFTER's total, when normalized.
    public private(set) var normalization: Double?
    /// Lines read from both inputs (malformed ones are reported with their file).
    public let report: FoldedParseReport

    /// Compares two folded files (`-` for standard input), read in parts on all cores
    /// (see `DiffInputs`).
    public init(beforePath: String, afterPath: String, normalize: Bool = true,
                transform: StackTransform = StackTransform()) throws {
        let (tree, report) = try DiffInputs(beforePath: beforePath, afterPath: afterPath).read(transform: transform)
        self.init(tree: tree, report: report, normalize: normalize)
    }

    /// Compares two profiles read from any format, by their values of `beforeType` and
    /// `afterType` (by default each one's default sample type).
    public init(before: Profile, after: Profile, beforeType: Int? = nil, afterType: Int? = nil,
                normalize: Bool = true, transform: StackTransform = StackTransform(), lines: Bool = false) {
        var builder = FrameTreeBuilder(transform: transform)
        builder.keepBeforeCounts()
        builder.add(before, sampleType: beforeType, as: .before, lines: lines)
        builder.add(after, sampleType: afterType, as: .after, lines: lines)
        self.init(tree: builder.finishTree(), report: FoldedParseReport(), normalize: normalize)
    }

    /// Compares two folded texts held in memory.
    public init<Bytes: Collection>(before: Bytes, after: Bytes, normalize: Bool = true,
                                   transform: StackTransform = StackTransform())
    where Bytes.Element == UInt8 {
        // Bytes in memory cannot fail to be read.
        var (tree, report, afterReport) = try! DiffInputs.readPart(
            FoldedLineReader(bytes: before, name: "before"), FoldedLineReader(bytes: after, name: "after"),
            transform: transform, reservingFor: before.count + after.count)
        report.add(afterReport)
        self.init(tree: tree, report: report, normalize: normalize)
    }

    private init(tree: consuming FrameTree, report: FoldedParseReport, normalize: Bool) {
        self.report = report
        let beforeTotal = tree.totalSamplesBefore
        let afterTotal = tree.totalSamples
        // A factor that overflows (totals of wildly different sizes) leaves BEFORE as it is.
        if normalize, beforeTotal > 0, afterTotal > 0, (afterTotal / beforeTotal).isFinite {
            let factor = afterTotal / beforeTotal
            normalization = factor
            if factor != 1 {
                tree.scaleBefore(by: factor)
                tree.hasFractionalCounts = true
            }
        }
        self.tree = tree
    }

    /// "BEFORE scaled ×0.842 to AFTER's total" (nil when not normalized).
    public var normalizationNote: String? {
        guard let factor = normalization else { return nil }
        return "before normalized to after's total (×\(Self.format(factor, digits: 4)))"
    }

    // MARK: - Folded output

    /// The two-count differential format the classic tools read: `stack before after`, one
    /// line per stack with samples of its own, sorted by bytes as difffolded.pl sorts them.
    public func foldedLines() -> [UInt8] {
        FoldedWriter.bytes(of: tree, order: .bytes)
    }

    /// The comparison as a profile of two sample types, `before` and `after`: one sample
    /// per stack with samples of its own.
    public func profile() -> Profile {
        tree.profile(sampleTypes: [.before, .after])
    }

    // MARK: - Table

    /// The change of one function, summed over every stack it appears in.
    public struct FunctionChange: Equatable, Sendable {
        public var name: String
        public var before: Double
        public var after: Double
        public var delta: Double { after - before }
        /// The change relative to before, in percent (nil when it was absent before).
        public var percent: Double? { before > 0 ? 100 * delta / before : nil }
    }

    /// Per function: self samples, and total samples (a recursive function counted once per
    /// stack), each sorted by the size of the change, largest first.
    public func functionChanges() -> (bySelf: [FunctionChange], byTotal: [FunctionChange]) {
        let (ownAfter, ownBefore) = tree.selfSamples()
        let children = tree.childLists()
        var own: [String: FunctionChange] = [:]
        var total: [String: FunctionChange] = [:]
        var active: [String: Int] = [:]
        // Depth-first, so that a name already on the path (recursion) is not counted again.
        var stack: [(node: Int, entering: Bool)] = children[0].map { ($0, true) }
        var names: [Int: String] = [:]
        while let (node, entering) = stack.popLast() {
            let name = names[node] ?? tree.name(of: node)
            if !entering {
                active[name]! -= 1
                continue
            }
            names[node] = name
            own[name, default: FunctionChange(name: name, before: 0, after: 0)].before += ownBefore[node]
            own[name]!.after += ownAfter[node]
            if active[name, default: 0] == 0 {
                total[name, default: FunctionChange(name: name, before: 0, after: 0)].before += tree.samplesBefore(of: node)
                total[name]!.after += tree.samples(of: node)
            }
            active[name, default: 0] += 1
            stack.append((node, false))
            for child in children[node] { stack.append((child, true)) }
        }
        func ranked(_ changes: [String: FunctionChange]) -> [FunctionChange] {
            // Float noise again: a change that rounds to nothing is no change.
            changes.values.filter { Self.rounded($0.delta) != 0 }.sorted {
                abs($0.delta) != abs($1.delta) ? abs($0.delta) > abs($1.delta) : $0.name < $1.name
            }
        }
        return (ranked(own), ranked(total))
    }

    /// A text table of the `limit` largest changes by self and by total samples.
    public func table(limit: Int) -> String {
        let (bySelf, byTotal) = functionChanges()
        var text = ""
        if let note = normalizationNote { text += "(\(note))\n" }
        for (title, rows) in [("self samples", bySelf), ("total samples", byTotal)] {
            text += "\nTop \(min(limit, rows.count)) changes in \(title):\n"
            let shown = Array(rows.prefix(limit))
            let nameWidth = min(max(shown.map(\.name.count).max() ?? 0, 8), 60)
            text += pad("function", nameWidth) + "  " + ["before", "after", "delta", "change"].map { pad($0, 10, right: true) }
                .joined(separator: " ") + "\n"
            for row in shown {
                let name = row.name.count > nameWidth ? String(row.name.prefix(nameWidth - 1)) + "…" : row.name
                let change = row.percent.map { Self.signed($0, digits: 1) + "%" } ?? "new"
                text += pad(name, nameWidth) + "  "
                    + [Self.format(row.before, digits: 1), Self.format(row.after, digits: 1),
                       Self.signed(row.delta, digits: 1), row.after == 0 ? "gone" : change]
                    .map { pad($0, 10, right: true) }.joined(separator: " ") + "\n"
            }
        }
        return text
    }

    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    static func format(_ value: Double, digits: Int) -> String {
        let scale = (0..<digits).reduce(1.0) { value, _ in value * 10 }
        let rounded = (value * scale).rounded() / scale
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : String(rounded)
    }

    static func signed(_ value: Double, digits: Int) -> String {
        (value > 0 ? "+" : "") + format(value, digits: digits)
    }
}
