#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How stacks are turned into a tree: the options that act before layout.
public struct StackTransform: Sendable, Equatable {
    /// Reverse each stack (leaf becomes the root): a "callers of" view.
    public var reverse = false
    /// Keep input order and merge a stack only with the one just before it (flame chart).
    public var flameChart = false
    /// Multiply every count by this.
    public var factor: Double = 1
    /// Round each sample's count (after `factor`) to a whole number: nanoseconds drawn as
    /// whole microseconds.
    public var roundsCounts = false
    /// Re-root on these functions: a stack is cut above its first (outermost) frame named
    /// one of them; stacks without such a frame are dropped.
    public var baseFrames: [String] = []

    public init() {}
}

/// Builds a `FrameTree` from folded lines, straight from their bytes, or from a ``Profile``.
///
/// Consecutive folded lines usually share a prefix (files are sorted), so the builder
/// compares each stack with the previous one and walks the tree only from the first frame
/// that differs: most frames are never hashed. A profile's stacks share their prefixes in
/// its stack table, so each entry of the table is walked once.
public struct FrameTreeBuilder {
    public private(set) var tree: FrameTree
    public private(set) var report = FoldedParseReport()
    /// Stacks dropped because they contain none of the `baseFrames`.
    public private(set) var stacksWithoutBase = 0
    public let transform: StackTransform

    private let baseNames: [[UInt8]]
    /// The previous stack's bytes, where each of its frames ends, and its nodes
    /// (`previousPath[0]` is the root, `previousPath[i + 1]` the node of frame `i`).
    private var previousStack: [UInt8] = []
    private var previousFrameEnds: [Int] = []
    private var previousPath: [Int32] = [0]
    private var frameRanges: [Range<Int>] = []

    /// - Parameter tracksSelfSamples: keep each node's own samples as they are added, for
    ///   folded output (see ``FrameTree/tracksSelfSamples``).
    public init(transform: StackTransform = StackTransform(), tracksSelfSamples: Bool = false) {
        self.transform = transform
        self.tree = FrameTree(mergesSiblings: !transform.flameChart, tracksSelfSamples: tracksSelfSamples)
        self.baseNames = transform.baseFrames.map { Array($0.utf8) }
    }

    /// The tree built so far, handed over without a copy (the builder is used up).
    public consuming func finishTree() -> FrameTree { tree }

    /// Adds every line of the file at `path` (`-` for standard input).
    public mutating func addFolded(path: String) throws {
        if let bytes = Self.regularFileSize(path) { reserveCapacity(forInputBytes: bytes) }
        try FoldedParser.forEachLine(inFile: path) { line, number in
            addFoldedLine(line, number: number, source: path)
        }
    }

    /// Adds every line `lines` gives.
    public mutating func addFolded(_ lines: FoldedLineReader) throws {
        while let line = try lines.next() { addFoldedLine(line, number: lines.lineNumber, source: lines.name) }
    }

    /// Makes room for the tree of `bytes` bytes of folded input, so that its arrays are not
    /// copied again and again as they grow. Untouched room costs address space, not memory.
    public mutating func reserveCapacity(forInputBytes bytes: Int) {
        tree.reserveCapacity(forInputBytes: bytes)
    }

    /// The size of the regular file at `path`, nil for anything else (standard input, a pipe).
    static func regularFileSize(_ path: String) -> Int? {
        var status = stat()
        guard path != "-", stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(status.st_size)
    }

    /// Adds folded text held in memory.
    public mutating func addFolded<Bytes: Collection>(_ text: Bytes, source: String = "-")
    where Bytes.Element == UInt8 {
        let bytes = Array(text)
        var number = 0
        bytes.withUnsafeBufferPointer { buffer in
            for line in buffer.split(separator: 0x0A, omittingEmptySubsequences: false) {
                number += 1
                if line.isEmpty, line.endIndex == buffer.endIndex { continue }
                addFoldedLine(UnsafeBufferPointer(rebasing: line), number: number, source: source)
            }
        }
    }

    /// Adds one folded line (without its `\n`).
    public mutating func addFoldedLine(_ line: UnsafeBufferPointer<UInt8>, number: Int, source: String) {
        let kind = FoldedParser.parseLine(line)
        report.record(kind, line: number, source: source)
        guard case .stack(let parsed) = kind else { return }
        let stack = UnsafeBufferPointer(rebasing: line[0..<parsed.stackLength])
        let after = parsed.count * transform.factor
        var before = after
        if let first = parsed.before {
            before = first * transform.factor
            tree.markDifferential()
        }
        addStack(stack, after: after, before: before)
    }

    /// Keeps separate "before" counts from the start: the tree of a comparison.
    public mutating func keepBeforeCounts() { tree.markDifferential() }

    /// Adds one stack (its frames separated by `;`) with counts already scaled by `factor`.
    mutating func addStack(_ stack: UnsafeBufferPointer<UInt8>, after: Double, before: Double) {
        noteFractions(after, before)
        if transform.reverse || !baseNames.isEmpty {
            addSplitStack(stack, after: after, before: before)
        } else {
            addSharingPrefix(stack, after: after, before: before)
        }
    }

    /// Which counts of a tree a profile's values become.
    public enum Counts: Sendable, Equatable {
        /// Both (a profile on its own).
        case both
        /// Only the "before" counts, or only the "after" counts, of a comparison.
        case before, after
        /// The "after" counts, with the values of this sample type as the "before" counts.
        case pairedWith(beforeType: Int)
    }

    /// Adds every sample of `profile`: its values of `sampleType` (by default the profile's
    /// default) as `counts`. Each frame is named by its label (see ``FrameTree``); with
    /// `lines`, labels carry their source position, `name (file.c:42)`.
    public mutating func add(_ profile: Profile, sampleType: Int? = nil, as counts: Counts = .both, lines: Bool = false) {
        add(profile, sampleType: sampleType, as: counts, lines: lines, sampleNodes: nil)
    }

    /// Adds every sample of `profile` as ``add(_:sampleType:as:lines:)`` does, and returns
    /// the node of each sample's last frame (its innermost, or with `reverse` its outermost;
    /// 0 for an empty stack, -1 for a stack that `baseFrames` drops), for views that draw
    /// subsets of the samples (the time view). Not for flame charts (no merged tree).
    public mutating func addReturningNodes(_ profile: Profile, lines: Bool = false) -> [Int32] {
        precondition(!transform.flameChart, "nodes of a merged tree")
        var nodes = [Int32](repeating: 0, count: profile.sampleCount)
        nodes.withUnsafeMutableBufferPointer { add(profile, sampleType: nil, as: .both, lines: lines, sampleNodes: $0) }
        return nodes
    }

    private mutating func add(
        _ profile: Profile, sampleType: Int?, as counts: Counts, lines: Bool,
        sampleNodes: UnsafeMutableBufferPointer<Int32>?
    ) {
        let type = sampleType ?? profile.defaultSampleType
        if counts != .both { tree.markDifferential() }
        var labels = ProfileLabels(profile: profile, lines: lines)
        // Without a transform, a stack's node is its caller's node and the labels of its
        // location: each entry of the stack table is walked once, whatever its samples.
        let direct = !transform.reverse && baseNames.isEmpty && !transform.flameChart
        var nodes = direct ? [Int32](repeating: -1, count: profile.stacks.count) : []
        var chain: [Int32] = []
        for sample in 0..<profile.sampleCount {
            var value = profile.value(ofSample: sample, type: type) * transform.factor
            if transform.roundsCounts { value.round() }
            let after: Double, before: Double
            switch counts {
            case .both: (after, before) = (value, value)
            case .before: (after, before) = (0, value)
            case .after: (after, before) = (value, 0)
            case .pairedWith(let beforeType):
                (after, before) = (value, profile.value(ofSample: sample, type: beforeType) * transform.factor)
            }
            noteFractions(after, before)
            let stack = profile.sampleStacks[sample]
            guard direct else {
                let (bytes, ranges) = labels.labels(ofStack: stack)
                let node = bytes.withUnsafeBufferPointer { addFrames($0, ranges, after: after, before: before) }
                sampleNodes?[sample] = node
                continue
            }
            var node: Int32 = 0
            if stack >= 0 {
                chain.removeAll(keepingCapacity: true)
                var current = stack
                while current >= 0, nodes[Int(current)] < 0 {
                    chain.append(current)
                    current = profile.stacks.caller(of: current)
                }
                node = current >= 0 ? nodes[Int(current)] : 0
                // Under a node made in this walk there is nothing to look up.
                var isNew = false
                for entry in chain.reversed() {
                    labels.forEachLabel(ofLocation: profile.stacks.location(of: entry)) { label in
                        (node, isNew) = tree.child(of: node, label.baseAddress ?? UnsafePointer(bitPattern: 1)!,
                                                   label.count, parentIsNew: isNew)
                    }
                    nodes[Int(entry)] = node
                }
            }
            tree.addSamples(to: node, after: after, before: before)
            sampleNodes?[sample] = node
        }
    }

    /// Adds one stack given as labels, root first (taken whole: a `;` inside a label stays).
    public mutating func add(frames: [String], count: Double, before: Double? = nil) {
        if before != nil { tree.markDifferential() }
        let beforeCount = before ?? count
        noteFractions(count, beforeCount)
        var joined: [UInt8] = []
        var ranges: [Range<Int>] = []
        for frame in frames {
            let start = joined.count
            joined.append(contentsOf: frame.utf8)
            ranges.append(start..<joined.count)
        }
        _ = joined.withUnsafeBufferPointer { addFrames($0, ranges, after: count, before: beforeCount) }
    }

    private mutating func noteFractions(_ after: Double, _ before: Double) {
        if after.rounded() != after || before.rounded() != before { tree.hasFractionalCounts = true }
    }

    // MARK: - Inserting

    private mutating func addSharingPrefix(_ stack: UnsafeBufferPointer<UInt8>, after: Double, before: Double) {
        let semicolon = UInt8(ascii: ";")
        guard let base = stack.baseAddress else {
            addFrames(stack, [0..<0], after: after, before: before)
            return
        }
        let shared = previousStack.withUnsafeBufferPointer { previous -> Int in
            guard let previousBase = previous.baseAddress else { return 0 }
            return ByteString.commonPrefix(previousBase, previous.count, base, stack.count)
        }
        // Frames of the previous stack that end inside the shared bytes, at a frame
        // boundary of this stack too, are the same nodes.
        var sharedFrames = 0
        for end in previousFrameEnds {
            if end < shared {
                sharedFrames += 1
            } else {
                if end == shared, shared == stack.count || base[shared] == semicolon { sharedFrames += 1 }
                break
            }
        }
        previousFrameEnds.removeSubrange(sharedFrames...)
        previousPath.removeSubrange((sharedFrames + 1)...)
        var node = previousPath[sharedFrames]
        var frameStart = sharedFrames == 0 ? 0 : previousFrameEnds[sharedFrames - 1] + 1
        var isNew = false
        // Split the rest of this stack into frames and walk down from `node`.
        while frameStart <= stack.count {
            var frameEnd = frameStart
            if let hit = memchr(base + frameStart, Int32(semicolon), stack.count - frameStart) {
                frameEnd = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            } else {
                frameEnd = stack.count
            }
            (node, isNew) = tree.child(of: node, base + frameStart, frameEnd - frameStart, parentIsNew: isNew)
            previousFrameEnds.append(frameEnd)
            previousPath.append(node)
            frameStart = frameEnd + 1
        }
        tree.addSamples(to: node, after: after, before: before)
        previousStack.removeAll(keepingCapacity: true)
        previousStack.append(contentsOf: stack)
    }

    /// The general path: split, apply `baseFrames` and `reverse`, walk from the root.
    private mutating func addSplitStack(_ stack: UnsafeBufferPointer<UInt8>, after: Double, before: Double) {
        frameRanges.removeAll(keepingCapacity: true)
        var start = 0
        for (index, byte) in stack.enumerated() where byte == UInt8(ascii: ";") {
            frameRanges.append(start..<index)
            start = index + 1
        }
        frameRanges.append(start..<stack.count)
        addFrames(stack, frameRanges, after: after, before: before)
    }

    /// Returns the stack's last node, or -1 when `baseFrames` drops it.
    @discardableResult
    private mutating func addFrames(
        _ bytes: UnsafeBufferPointer<UInt8>, _ ranges: [Range<Int>], after: Double, before: Double
    ) -> Int32 {
        // The fast path's memory of the previous stack no longer matches the tree's last path.
        previousStack.removeAll(keepingCapacity: true)
        previousFrameEnds.removeAll(keepingCapacity: true)
        previousPath.removeSubrange(1...)

        var ranges = ranges[...]
        if !baseNames.isEmpty {
            guard let first = ranges.firstIndex(where: { isBaseFrame(bytes, $0) }) else {
                stacksWithoutBase += 1
                return -1
            }
            ranges = ranges[first...]
        }
        var node: Int32 = 0
        var isNew = false
        let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
        if transform.reverse {
            for range in ranges.reversed() {
                (node, isNew) = tree.child(of: node, base + range.lowerBound, range.count, parentIsNew: isNew)
            }
        } else {
            for range in ranges {
                (node, isNew) = tree.child(of: node, base + range.lowerBound, range.count, parentIsNew: isNew)
            }
        }
        tree.addSamples(to: node, after: after, before: before)
        return node
    }

    private func isBaseFrame(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        baseNames.contains { $0.count == range.count && $0.elementsEqual(bytes[range]) }
    }
}

/// The labels of a profile's frames (see ``FrameTree``), made once per location.
struct ProfileLabels {
    let profile: Profile
    let lines: Bool
    /// Every label made so far, one after another, and where each ends.
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    /// Per location: its first label in `ends` (-1 until made) and how many it has, outermost first.
    private var first: [Int32]
    private var count: [Int32]

    init(profile: Profile, lines: Bool) {
        self.profile = profile
        self.lines = lines
        first = Array(repeating: -1, count: profile.locations.count)
        count = Array(repeating: 0, count: profile.locations.count)
    }

    /// Calls `body` with each label of `location`, outermost first.
    @inline(__always)
    mutating func forEachLabel(ofLocation location: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if first[Int(location)] < 0 { make(location) }
        let start = Int(first[Int(location)])
        bytes.withUnsafeBufferPointer { bytes in
            for label in start..<start + Int(count[Int(location)]) {
                let from = label == 0 ? 0 : ends[label - 1]
                body(UnsafeBufferPointer(rebasing: bytes[from..<ends[label]]))
            }
        }
    }

    /// All the labels of `stack`, outermost first, in one buffer.
    mutating func labels(ofStack stack: Int32) -> (bytes: [UInt8], ranges: [Range<Int>]) {
        var joined: [UInt8] = []
        var joinedRanges: [Range<Int>] = []
        for location in profile.locations(ofStack: stack).reversed() {
            forEachLabel(ofLocation: location) { label in
                joinedRanges.append(joined.count..<joined.count + label.count)
                joined.append(contentsOf: label)
            }
        }
        return (joined, joinedRanges)
    }

    private mutating func make(_ id: Int32) {
        let location = profile.locations[Int(id)]
        first[Int(id)] = Int32(ends.count)
        count[Int(id)] = Int32(location.lines.count)
        // Outermost first: the physical frame (the last line), then what was inlined into it
        // (a waker's inlined frames are the waker's, as every frame above `--` is).
        for (index, line) in location.lines.enumerated().reversed() {
            let kind: FrameKind = location.kind == .waker ? .waker
                : index == location.lines.count - 1 && location.kind != .inlined ? location.kind : .inlined
            let function = profile.functions[Int(line.function)]
            profile.strings.withBytes(of: function.name) { name in
                // A Python function's name alone says little (`run`, `<module>`): its
                // position always shows.
                if lines || kind == .python, function.file != 0 {
                    profile.strings.withBytes(of: function.file) { file in
                        FoldedFormat.appendLabel(name: name, position: (file, line.line), kind: kind, to: &bytes)
                    }
                } else {
                    FoldedFormat.appendLabel(name: name, kind: kind, to: &bytes)
                }
            }
            ends.append(bytes.count)
        }
    }
}
