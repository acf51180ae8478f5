import EmberSystem

/// Writes collapsed ("folded") stacks: `root;caller;leaf COUNT`, one line per distinct stack,
/// the format that flamegraph.pl, inferno and speedscope read; `stack BEFORE AFTER` for a
/// comparison, as difffolded.pl writes it. Frames are written by their labels, so kinds
/// become suffixes here (`read_[k]`), and identical labels merge into one stack.
public enum FoldedWriter {
    /// The order of the lines.
    public enum LineOrder: Sendable {
        /// Frame by frame, a caller before its callees: the order ember writes and reads fastest.
        case frames
        /// Byte by byte, as `sort` and difffolded.pl order lines.
        case bytes
    }

    /// Writes the lines of `profile`'s values of `sampleType` (by default its default type);
    /// with `lines`, frames carry their source position.
    public static func write(
        _ profile: Profile, sampleType: Int? = nil, lines: Bool = false, to sink: ByteSink
    ) throws {
        var builder = FrameTreeBuilder(tracksSelfSamples: true)
        builder.add(profile, sampleType: sampleType, lines: lines)
        try write(builder.tree, to: sink)
    }

    /// The folded text of `profile` (see ``write(_:sampleType:lines:to:)``).
    public static func text(of profile: Profile, sampleType: Int? = nil, lines: Bool = false) -> String {
        var bytes: [UInt8] = []
        try? write(profile, sampleType: sampleType, lines: lines) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes one line per node of `tree` with samples of its own (two counts for a
    /// differential tree); a count that rounds to zero in thousandths is no sample.
    public static func write(_ tree: FrameTree, order: LineOrder = .frames, to sink: ByteSink) throws {
        let (ownAfter, ownBefore) = tree.selfSamples()
        let differential = tree.isDifferential
        // Compared as written: with fractional counts, a parent's total minus its children's
        // leaves float noise (1e-17) where it has no samples of its own.
        func written(_ value: Double) -> Double {
            tree.tracksSelfSamples ? value : (value * 1000).rounded() / 1000
        }
        func hasOwnSamples(_ node: Int) -> Bool {
            written(ownAfter[node]) != 0 || (differential && written(ownBefore[node]) != 0)
        }
        func appendCounts(of node: Int, to line: inout [UInt8]) {
            if differential {
                line.append(UInt8(ascii: " "))
                line.append(contentsOf: format(written(ownBefore[node])).utf8)
            }
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: format(written(ownAfter[node])).utf8)
            line.append(10)
        }
        var output: [UInt8] = []
        output.reserveCapacity(1 << 20)
        switch order {
        case .frames:
            let (offsets, children) = sortedChildren(tree)
            // Depth first: each node's line, then its children's, in label order.
            var path: [UInt8] = []
            var pathEnds: [Int] = []
            var pending: [(node: Int32, depth: Int)] = children[offsets[0]..<offsets[1]].reversed().map { ($0, 0) }
            while let (node, depth) = pending.popLast() {
                pathEnds.removeSubrange(depth...)
                path.removeSubrange((pathEnds.last ?? 0)...)
                if depth > 0 { path.append(UInt8(ascii: ";")) }
                tree.withName(of: Int(node)) { FoldedFormat.appendSanitized($0, to: &path) }
                pathEnds.append(path.count)
                if hasOwnSamples(Int(node)) {
                    output.append(contentsOf: path)
                    appendCounts(of: Int(node), to: &output)
                    if output.count >= 1 << 20 {
                        try output.withUnsafeBytes { try sink($0) }
                        output.removeAll(keepingCapacity: true)
                    }
                }
                for child in children[offsets[Int(node)]..<offsets[Int(node) + 1]].reversed() {
                    pending.append((child, depth + 1))
                }
            }
        case .bytes:
            var lines: [[UInt8]] = []
            for node in 1..<tree.nodeCount where hasOwnSamples(node) {
                var labels: [Int] = []
                var current = node
                while current > 0 {
                    labels.append(current)
                    current = tree.parent(of: current) ?? 0
                }
                var line: [UInt8] = []
                for (index, frame) in labels.reversed().enumerated() {
                    if index > 0 { line.append(UInt8(ascii: ";")) }
                    tree.withName(of: frame) { FoldedFormat.appendSanitized($0, to: &line) }
                }
                appendCounts(of: node, to: &line)
                lines.append(line)
            }
            lines.sort { $0.lexicographicallyPrecedes($1) }
            for line in lines { output.append(contentsOf: line) }
        }
        try output.withUnsafeBytes { try sink($0) }
    }

    /// The folded lines of `tree` as bytes.
    public static func bytes(of tree: FrameTree, order: LineOrder = .frames) -> [UInt8] {
        var bytes: [UInt8] = []
        try? write(tree, order: order) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The children of every node in label order, as one list: node `n`'s are
    /// `list[offsets[n]..<offsets[n + 1]]`.
    private static func sortedChildren(_ tree: FrameTree) -> (offsets: [Int], list: [Int32]) {
        let count = tree.nodeCount
        var offsets = [Int](repeating: 0, count: count + 1)
        for node in 1..<count { offsets[Int(tree.nodeParent[node]) + 1] += 1 }
        for node in 0..<count { offsets[node + 1] += offsets[node] }
        var list = [Int32](repeating: 0, count: max(count - 1, 0))
        var fill = offsets
        for node in 1..<count {
            let parent = Int(tree.nodeParent[node])
            list[fill[parent]] = Int32(node)
            fill[parent] += 1
        }
        tree.withNameOrder { precedes in
            list.withUnsafeMutableBufferPointer { list in
                for node in 0..<count where offsets[node + 1] - offsets[node] > 1 {
                    var siblings = UnsafeMutableBufferPointer(rebasing: list[offsets[node]..<offsets[node + 1]])
                    siblings.sort(by: precedes)
                }
            }
        }
        return (offsets, list)
    }

    /// Makes a frame name safe for the format (see ``FoldedFormat/sanitize(_:)``).
    public static func sanitize(_ frame: String) -> String { FoldedFormat.sanitize(frame) }

    /// Integers print without a fraction; fractional counts keep theirs.
    public static func format(_ count: Double) -> String { FoldedFormat.format(count) }
}
