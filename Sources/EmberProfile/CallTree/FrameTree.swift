#if canImport(Glibc)
import Glibc
#endif

/// The merged call tree of a profile: one node per distinct path from the root, with the
/// inclusive sample counts of each node, what flame graphs draw and folded text lists. Node 0
/// is the root ("all"); a node's id is always larger than its parent's.
///
/// A node is named by its label, the frame as flame graphs show it: the function's name and,
/// for kinds other than plain code, the annotation folded text gives it (`read_[k]`). Frames
/// of different kinds are different nodes, and the order of children is the order of their
/// labels, as flamegraph.pl sorts them; ``kind(of:)`` gives each node's kind.
///
/// Nodes live in parallel arrays (no per-node objects); names are appended to one byte
/// arena as nodes are created (a sequential copy is cheaper than interning each name in a
/// table, and only drawn frames ever need their name again). Children are found by walking the
/// parent's short sibling list; parents with many children also get entries in one
/// open-addressing table keyed by (parent, name), so wide nodes stay fast. A node created
/// under a node that was itself just created needs no lookup at all, which makes the
/// common case (the new tail of a stack) a few appends.
public struct FrameTree: Sendable {
    var nameBytes: [UInt8] = []
    var nameStart: [Int] = [0]
    var nameLength: [Int32] = [0]
    public private(set) var nodeParent: [Int32] = [-1]
    /// 32 bits of the hash of each node's name.
    var nodeHash: [UInt32] = [0]
    /// The most recently added child of each node, and the child added before each node.
    public private(set) var firstChild: [Int32] = [-1]
    public private(set) var nextSibling: [Int32] = [-1]
    var childCount: [Int32] = [0]
    /// Inclusive samples of each node; for differential input, the second ("after") count.
    public private(set) var after: [Double] = [0]
    /// Samples of each node itself, kept as they are added when ``tracksSelfSamples``
    /// (exact for fractional counts, where inclusive minus children's leaves float noise).
    private var ownAfter: [Double] = []
    private var ownBefore: [Double] = []
    /// Whether the tree keeps each node's own samples (for folded output).
    public let tracksSelfSamples: Bool
    /// Inclusive "before" samples (first count of differential lines; lines with one count
    /// add the same to both). Empty until the first differential line: then it equals `after`.
    private var beforeStorage: [Double] = []
    /// Entries `node << 32 | hash32` for children of wide parents, `.max` when empty.
    private var wideSlots = [UInt64](repeating: .max, count: 1024)
    private var wideCount = 0
    static let scanLimit: Int32 = 8

    /// False for flame charts: a stack shares nodes only with the stack just before it.
    public let mergesSiblings: Bool
    /// True once a line with two counts (`before after`) was added.
    public var isDifferential: Bool { !beforeStorage.isEmpty }
    /// True once a count that is not a whole number was added (after `factor`).
    public internal(set) var hasFractionalCounts = false

    public init(mergesSiblings: Bool = true, tracksSelfSamples: Bool = false) {
        self.mergesSiblings = mergesSiblings
        self.tracksSelfSamples = tracksSelfSamples
        if tracksSelfSamples { ownAfter = [0] }
    }

    public var nodeCount: Int { nodeParent.count }
    public var isEmpty: Bool { nodeParent.count == 1 }
    /// All samples (the root's inclusive count).
    public var totalSamples: Double { after[0] }
    public var totalSamplesBefore: Double { before[0] }

    /// Reserves room for the tree of a folded input of `bytes` bytes, so that the node
    /// arrays do not grow (and get copied) again and again. Untouched capacity costs
    /// address space, not memory.
    mutating func reserveCapacity(forInputBytes bytes: Int) {
        // Real stacks share most of their frames: one node per 24 input bytes is plenty
        // for typical files (the arrays still grow if not); names never take more than the input.
        reserveCapacity(nodes: nodeCount + bytes / 24, nameBytes: nameBytes.count + bytes)
    }

    private mutating func reserveCapacity(nodes: Int, nameBytes bytes: Int) {
        nameBytes.reserveCapacity(bytes)
        nameStart.reserveCapacity(nodes)
        nameLength.reserveCapacity(nodes)
        nodeParent.reserveCapacity(nodes)
        nodeHash.reserveCapacity(nodes)
        firstChild.reserveCapacity(nodes)
        nextSibling.reserveCapacity(nodes)
        childCount.reserveCapacity(nodes)
        after.reserveCapacity(nodes)
        if !beforeStorage.isEmpty { beforeStorage.reserveCapacity(nodes) }
    }

    /// Has the kernel map, ahead of time, the reserved memory that about `nodes` more nodes
    /// with `nameBytes` bytes of names will fill: a page fault costs more than filling the
    /// page, and mapping in one call can overlap other work (while other parts are read).
    func prefault(nodes: Int, nameBytes bytes: Int) {
        nameBytes.prefault(next: bytes)
        nameStart.prefault(next: nodes)
        nameLength.prefault(next: nodes)
        nodeParent.prefault(next: nodes)
        nodeHash.prefault(next: nodes)
        firstChild.prefault(next: nodes)
        nextSibling.prefault(next: nodes)
        childCount.prefault(next: nodes)
        after.prefault(next: nodes)
        beforeStorage.prefault(next: nodes)
    }

    /// Bytes of names.
    public var nameByteCount: Int { nameBytes.count }

    /// Inclusive "before" samples of every node (equal to `after` unless differential).
    public var before: [Double] { beforeStorage.isEmpty ? after : beforeStorage }

    /// Multiplies every "before" count (normalizing one profile of a comparison to the other).
    public mutating func scaleBefore(by factor: Double) {
        markDifferential()
        for node in beforeStorage.indices { beforeStorage[node] *= factor }
        for node in ownBefore.indices { ownBefore[node] *= factor }
    }

    /// Samples of `node` itself (inclusive minus its children's), after and before.
    public func selfSamples() -> (after: [Double], before: [Double]) {
        if tracksSelfSamples { return (ownAfter, isDifferential ? ownBefore : ownAfter) }
        var ownAfter = after
        var ownBefore = before
        for node in 1..<nodeCount {
            let parent = Int(nodeParent[node])
            ownAfter[parent] -= after[node]
            ownBefore[parent] -= before[node]
        }
        return (ownAfter, ownBefore)
    }

    /// Starts keeping separate "before" counts (the first differential line was seen).
    mutating func markDifferential() {
        if beforeStorage.isEmpty {
            beforeStorage = after
            if tracksSelfSamples { ownBefore = ownAfter }
        }
    }

    /// The child of `parent` named by the `count` bytes at `name`, created when missing.
    /// `parentIsNew` says the parent was created during this stack's walk (so has no other child).
    @inline(__always)
    mutating func child(
        of parent: Int32, _ name: UnsafePointer<UInt8>, _ count: Int, parentIsNew: Bool = false
    ) -> (node: Int32, isNew: Bool) {
        if count > Self.maxLabelLength { return child(of: parent, longLabel: name, count, parentIsNew: parentIsNew) }
        let hash = UInt32(truncatingIfNeeded: ByteString.hash(name, count))
        if !parentIsNew, let existing = existingChild(of: parent, name, count, hash: hash) {
            return (existing, false)
        }
        return (addNode(parent: parent, name, count, hash: hash), true)
    }

    /// Labels longer than this many bytes are cut: a name from outside (a symbol table, a
    /// file) can be a megabyte long, and the tree keeps a label per node, as graphs and
    /// folded text write one per frame.
    public static let maxLabelLength = 4096

    /// Labels cut to ``maxLabelLength``, one per node.
    public private(set) var cutLabels = 0

    /// The child for a label too long to keep: its start, `…#` and the hash of the whole
    /// label (so that long names that start alike stay apart), and its kind's suffix.
    private mutating func child(
        of parent: Int32, longLabel name: UnsafePointer<UInt8>, _ count: Int, parentIsNew: Bool
    ) -> (node: Int32, isNew: Bool) {
        let full = UnsafeBufferPointer(start: name, count: count)
        let kind = FoldedFormat.kind(ofLabel: full)
        let suffix = count - FoldedFormat.nameLength(ofLabel: count, kind: kind)
        var keep = Self.maxLabelLength - 20 - suffix
        // Not inside a UTF-8 sequence.
        while keep > 0, full[keep] & 0xC0 == 0x80 { keep -= 1 }
        var label = Array(full[..<keep])
        label.append(contentsOf: "…#".utf8)
        let hash = ByteString.hash(name, count)
        let digits = Array("0123456789abcdef".utf8)
        for shift in stride(from: 60, through: 0, by: -4) { label.append(digits[Int((hash >> UInt64(shift)) & 15)]) }
        label.append(contentsOf: full[(count - suffix)...])
        let result = label.withUnsafeBufferPointer { child(of: parent, $0.baseAddress!, $0.count, parentIsNew: parentIsNew) }
        if result.isNew { cutLabels += 1 }
        return result
    }

    /// The child of `parent` with this name (whose hash is `hash`), if there is one.
    @inline(__always)
    func existingChild(of parent: Int32, _ name: UnsafePointer<UInt8>, _ count: Int, hash: UInt32) -> Int32? {
        if !mergesSiblings {
            let last = firstChild[Int(parent)]
            return last >= 0 && nodeHash[Int(last)] == hash && nameMatches(last, name, count) ? last : nil
        }
        if childCount[Int(parent)] <= Self.scanLimit {
            var child = firstChild[Int(parent)]
            while child >= 0 {
                if nodeHash[Int(child)] == hash, nameMatches(child, name, count) { return child }
                child = nextSibling[Int(child)]
            }
            return nil
        }
        let mask = wideSlots.count - 1
        var slot = Self.wideSlot(parent: parent, hash: hash, mask: mask)
        while true {
            let entry = wideSlots[slot]
            if entry == .max { return nil }
            let node = Int32(entry >> 32)
            if UInt32(truncatingIfNeeded: entry) == hash, nodeParent[Int(node)] == parent,
                nameMatches(node, name, count)
            {
                return node
            }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    static func wideSlot(parent: Int32, hash: UInt32, mask: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(hash) ^ UInt64(UInt32(bitPattern: parent)) &* 0x9E37_79B9_7F4A_7C15) >> 7)
            & mask
    }

    private mutating func addNode(parent: Int32, _ name: UnsafePointer<UInt8>, _ count: Int, hash: UInt32) -> Int32 {
        let node = Int32(nodeParent.count)
        nameStart.append(nameBytes.count)
        nameLength.append(Int32(count))
        nameBytes.append(contentsOf: UnsafeBufferPointer(start: name, count: count))
        nodeParent.append(parent)
        nodeHash.append(hash)
        firstChild.append(-1)
        nextSibling.append(firstChild[Int(parent)])
        childCount.append(0)
        after.append(0)
        if !beforeStorage.isEmpty { beforeStorage.append(0) }
        if tracksSelfSamples {
            ownAfter.append(0)
            if !beforeStorage.isEmpty { ownBefore.append(0) }
        }
        registerChild(node, of: parent)
        return node
    }

    /// Makes `node` (whose `nextSibling` is the parent's previous first child) the
    /// parent's first child.
    @inline(__always)
    private mutating func registerChild(_ node: Int32, of parent: Int32) {
        firstChild[Int(parent)] = node
        childCount[Int(parent)] += 1
        let children = childCount[Int(parent)]
        if children > Self.scanLimit, mergesSiblings {
            // The parent just became wide: index all its children, later only the new one.
            if children == Self.scanLimit + 1 {
                var child = node
                while child >= 0 {
                    insertWide(child)
                    child = nextSibling[Int(child)]
                }
            } else {
                insertWide(node)
            }
        }
    }

    @inline(__always)
    func nameMatches(_ node: Int32, _ name: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard nameLength[Int(node)] == count else { return false }
        if count == 0 { return true }
        let start = nameStart[Int(node)]
        return nameBytes.withUnsafeBufferPointer { ByteString.equal($0.baseAddress! + start, name, count) }
    }

    /// Calls `body` with the label bytes of `node` (empty for the root).
    @inline(__always)
    public func withName<R>(of node: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let start = nameStart[node]
        let count = Int(nameLength[node])
        return try nameBytes.withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[start..<start + count]))
        }
    }

    /// Calls `body` with the byte-wise order of the names of two nodes. The order reads the
    /// name arrays through pointers: a closure that captured the tree would copy it (and
    /// retain and release every array) each time it is created.
    public func withNameOrder<R>(_ body: ((Int32, Int32) -> Bool) throws -> R) rethrows -> R {
        try nameBytes.withUnsafeBufferPointer { bytes in
            try nameStart.withUnsafeBufferPointer { starts in
                try nameLength.withUnsafeBufferPointer { lengths in
                    let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
                    return try body { a, b in
                        ByteString.precedes(
                            base + starts[Int(a)], Int(lengths[Int(a)]), base + starts[Int(b)], Int(lengths[Int(b)]))
                    }
                }
            }
        }
    }

    private mutating func insertWide(_ node: Int32) {
        if (wideCount + 1) * 2 > wideSlots.count {
            var bigger = [UInt64](repeating: .max, count: wideSlots.count * 2)
            let mask = bigger.count - 1
            for entry in wideSlots where entry != .max {
                let existing = Int32(entry >> 32)
                var slot = Self.wideSlot(parent: nodeParent[Int(existing)], hash: UInt32(truncatingIfNeeded: entry), mask: mask)
                while bigger[slot] != .max { slot = (slot + 1) & mask }
                bigger[slot] = entry
            }
            wideSlots = bigger
        }
        let mask = wideSlots.count - 1
        var slot = Self.wideSlot(parent: nodeParent[Int(node)], hash: nodeHash[Int(node)], mask: mask)
        while wideSlots[slot] != .max { slot = (slot + 1) & mask }
        wideSlots[slot] = UInt64(UInt32(bitPattern: node)) << 32 | UInt64(nodeHash[Int(node)])
        wideCount += 1
    }

    /// Adds samples to `node` and every ancestor up to the root.
    @inline(__always)
    mutating func addSamples(to node: Int32, after afterCount: Double, before beforeCount: Double) {
        if tracksSelfSamples {
            ownAfter[Int(node)] += afterCount
            if !beforeStorage.isEmpty { ownBefore[Int(node)] += beforeCount }
        }
        var node = node
        if beforeStorage.isEmpty {
            while node >= 0 {
                after[Int(node)] += afterCount
                node = nodeParent[Int(node)]
            }
        } else {
            while node >= 0 {
                after[Int(node)] += afterCount
                beforeStorage[Int(node)] += beforeCount
                node = nodeParent[Int(node)]
            }
        }
    }

    /// Adds every path of `other` and its counts to this tree: how the trees built from
    /// parts of the input on several threads become one.
    ///
    /// Each node of `other` is mapped to the node of the same path here, or to a new id.
    /// Only nodes whose parent exists here need a lookup: under a new node every child is
    /// new (siblings have distinct names). Parts cut from sorted input share only the path
    /// along the cut, so nearly every node is new, and new nodes are copied array by array
    /// with their counts and child lists.
    mutating func merge(_ other: FrameTree) {
        precondition(mergesSiblings && other.mergesSiblings, "flame charts are not merged")
        precondition(!tracksSelfSamples && !other.tracksSelfSamples, "trees of parts keep inclusive counts")
        hasFractionalCounts = hasFractionalCounts || other.hasFractionalCounts
        cutLabels += other.cutLabels
        if other.isDifferential { markDifferential() }
        let (mapped, found) = mapNodes(of: other)
        appendNewNodes(of: other, mapped: mapped, found: found)
        let otherBefore = other.before
        for (node, existing) in found {
            after[Int(existing)] += other.after[Int(node)]
            if isDifferential { beforeStorage[Int(existing)] += otherBefore[Int(node)] }
        }
    }

    /// The node here of every node of `other`: new ids, in order from `nodeCount` on, for
    /// paths missing here; and the pairs of nodes found here.
    private func mapNodes(of other: FrameTree) -> (mapped: [Int32], found: [(node: Int32, existing: Int32)]) {
        let firstNew = Int32(nodeCount)
        var nextNew = firstNew
        var mapped = [Int32](repeating: 0, count: other.nodeCount)
        var found: [(node: Int32, existing: Int32)] = [(0, 0)]
        other.nameBytes.withUnsafeBufferPointer { names in
            let base = names.baseAddress ?? UnsafePointer(bitPattern: 1)!
            for node in 1..<other.nodeCount {
                let parent = mapped[Int(other.nodeParent[node])]
                if parent < firstNew,
                    let existing = existingChild(
                        of: parent, base + other.nameStart[node], Int(other.nameLength[node]),
                        hash: other.nodeHash[node])
                {
                    mapped[node] = existing
                    found.append((Int32(node), existing))
                } else {
                    mapped[node] = nextNew
                    nextNew += 1
                }
            }
        }
        return (mapped, found)
    }

    /// Appends the nodes of `other` that `mapped` gives new ids (all but those `found`),
    /// with their counts. Their children are new too, so their child lists are copied; a
    /// new node under a node that was here is linked into that node's list.
    private mutating func appendNewNodes(
        of other: FrameTree, mapped: [Int32], found: [(node: Int32, existing: Int32)]
    ) {
        let firstNew = Int32(nodeCount)
        // The new nodes, as runs of consecutive ids between the nodes found (few, when
        // parts are cut from sorted input): each run is copied in one piece.
        var runs: [Range<Int>] = []
        var next = 1
        for node in found.lazy.map({ Int($0.node) }) where node >= next {
            if node > next { runs.append(next..<node) }
            next = node + 1
        }
        if next < other.nodeCount { runs.append(next..<other.nodeCount) }
        let newCount = runs.reduce(0) { $0 + $1.count }
        guard newCount > 0 else { return }
        reserveCapacity(nodes: nodeCount + newCount, nameBytes: nameBytes.count + other.nameBytes.count)
        // All of other's names at once (those of the nodes found here are a few unused bytes).
        let nameOffset = nameBytes.count
        nameBytes.append(contentsOf: other.nameBytes)
        let otherBefore = other.before
        for run in runs {
            nameStart.append(contentsOf: other.nameStart[run])
            nameLength.append(contentsOf: other.nameLength[run])
            nodeHash.append(contentsOf: other.nodeHash[run])
            childCount.append(contentsOf: other.childCount[run])
            nodeParent.append(contentsOf: other.nodeParent[run])
            firstChild.append(contentsOf: other.firstChild[run])
            nextSibling.append(contentsOf: other.nextSibling[run])
            after.append(contentsOf: other.after[run])
            if isDifferential { beforeStorage.append(contentsOf: otherBefore[run]) }
        }
        // Then the ids and name offsets copied are made this tree's.
        let added = Int(firstNew)..<nodeCount
        mapped.withUnsafeBufferPointer { mapped in
            nameStart.update(added) { $0 + nameOffset }
            nodeParent.update(added) { mapped[Int($0)] }
            firstChild.update(added) { $0 < 0 ? -1 : mapped[Int($0)] }
            nextSibling.update(added) { $0 < 0 ? -1 : mapped[Int($0)] }
        }
        for id in firstNew..<Int32(nodeCount) {
            let parent = nodeParent[Int(id)]
            if parent < firstNew {
                nextSibling[Int(id)] = firstChild[Int(parent)]
                registerChild(id, of: parent)
            } else if childCount[Int(parent)] > Self.scanLimit {
                insertWide(id)
            }
        }
    }

    // MARK: - Reading the tree

    /// The label of `node` as text (invalid UTF-8 shown as `\xNN`); the root is "all".
    public func name(of node: Int) -> String {
        if node == 0 { return "all" }
        return withName(of: node) { ByteString.text(of: $0) }
    }

    /// The kind of `node`'s frame. A node's label carries it (kinds and their folded
    /// suffixes correspond one to one), so it is read from there rather than kept twice.
    public func kind(of node: Int) -> FrameKind {
        node == 0 ? .user : withName(of: node) { FoldedFormat.kind(ofLabel: $0) }
    }

    public func parent(of node: Int) -> Int? { node == 0 ? nil : Int(nodeParent[node]) }

    /// Inclusive samples of `node` (the "after" count of differential input).
    public func samples(of node: Int) -> Double { after[node] }

    /// Inclusive "before" samples of `node` (equal to `samples(of:)` unless differential).
    public func samplesBefore(of node: Int) -> Double { before[node] }

    /// The child ids of every node, in creation order: `children[node]`.
    public func childLists() -> [[Int]] {
        var lists = [[Int]](repeating: [], count: nodeCount)
        for node in 1..<nodeCount { lists[Int(nodeParent[node])].append(node) }
        return lists
    }

    /// The path of names from the root's child down to `node`.
    public func path(of node: Int) -> [String] {
        var names: [String] = []
        var node = node
        while node > 0 {
            names.append(name(of: node))
            node = Int(nodeParent[node])
        }
        return names.reversed()
    }
}

extension Array {
    /// Replaces each element in `range` by `transform` of it.
    @inline(__always)
    fileprivate mutating func update(_ range: Range<Int>, _ transform: (Element) -> Element) {
        withUnsafeMutableBufferPointer { buffer in
            for index in range { buffer[index] = transform(buffer[index]) }
        }
    }
}

extension Array where Element: BitwiseCopyable {
    /// Has the kernel map the reserved memory that the next `count` elements will take (as
    /// far as the capacity goes), keeping its contents: appending them takes no page faults.
    fileprivate func prefault(next count: Int) {
        #if os(Linux)
        let stride = MemoryLayout<Element>.stride
        let bytes = Swift.min(count, capacity - self.count) * stride
        guard bytes > 0 else { return }
        withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let start = UInt(bitPattern: base) + UInt(buffer.count * stride)
            let pageStart = start & ~UInt(getpagesize() - 1)
            // Only a hint: kernels before 5.14 refuse it, and then pages fault in as usual.
            _ = madvise(UnsafeMutableRawPointer(bitPattern: pageStart), Int(start - pageStart) + bytes, MADV_POPULATE_WRITE)
        }
        #endif
    }
}
