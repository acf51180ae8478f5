import EmberProfile
import EmberSystem

/// Where each frame goes: rows of frames (row 0 holds the root), each row ordered left to
/// right, positions and widths in samples.
///
/// Children are packed from their parent's left edge in the chosen order. Children
/// narrower than the minimum width are not placed; per parent they are summed into one
/// "(N more)" sliver after the placed children, so the parent's width still adds up.
struct FlameLayout {
    struct Frame {
        /// The tree node, or -1 for a "(N more)" sliver.
        var node: Int32
        var start: Double
        var width: Double
        /// For a sliver: how many frames it stands for.
        var hiddenCount: Int32
        /// For a sliver: the node whose children it stands for.
        var parent: Int32
        /// For a sliver: the summed before/after samples of the frames it stands for.
        var hiddenBefore = 0.0
        var hiddenAfter = 0.0
    }

    private(set) var frames: [Frame] = []
    /// `frames[rowStarts[d]..<rowStarts[d + 1]]` is row `d`.
    private(set) var rowStarts: [Int] = [0]
    /// The width of each node in samples.
    let weights: [Double]
    let totalWeight: Double

    var rowCount: Int { rowStarts.count - 1 }
    func row(_ depth: Int) -> ArraySlice<Frame> { frames[rowStarts[depth]..<rowStarts[depth + 1]] }

    /// Lays `tree` out with the `weights` and `children` of `weightsAndChildren`;
    /// `minimumWidth` is in samples.
    init(tree: FrameTree, weights: [Double], children: (offsets: [Int], list: [Int32]), minimumWidth: Double) {
        self.weights = weights
        self.totalWeight = weights[0]
        guard totalWeight > 0 else { return }
        let before = tree.before

        frames.append(Frame(node: 0, start: 0, width: totalWeight, hiddenCount: 0, parent: -1))
        rowStarts.append(1)
        var rowStart = 0
        while rowStart < frames.count {
            let rowEnd = frames.count
            for index in rowStart..<rowEnd {
                let parent = frames[index].node
                guard parent >= 0 else { continue }
                var position = frames[index].start
                var hidden: Int32 = 0
                var hiddenWeight = 0.0
                var hiddenBefore = 0.0
                var hiddenAfter = 0.0
                for child in children.list[children.offsets[Int(parent)]..<children.offsets[Int(parent) + 1]] {
                    let weight = weights[Int(child)]
                    guard weight > 0 else { continue }
                    if weight < minimumWidth {
                        hidden += 1
                        hiddenWeight += weight
                        hiddenBefore += before[Int(child)]
                        hiddenAfter += tree.after[Int(child)]
                        continue
                    }
                    frames.append(Frame(node: child, start: position, width: weight, hiddenCount: 0, parent: parent))
                    position += weight
                }
                if hidden > 0 {
                    frames.append(
                        Frame(
                            node: -1, start: position, width: hiddenWeight, hiddenCount: hidden, parent: parent,
                            hiddenBefore: hiddenBefore, hiddenAfter: hiddenAfter))
                }
            }
            if frames.count > rowEnd { rowStarts.append(frames.count) }
            rowStart = rowEnd
        }
    }

    /// The width of every node in samples, and the children of every node in drawing order.
    static func weightsAndChildren(
        of tree: FrameTree, options: FlameGraphOptions, order: FlameGraphOptions.FrameOrder
    ) -> (weights: [Double], children: (offsets: [Int], list: [Int32])) {
        guard tree.isDifferential, order != .weight else {
            let weights = weights(of: tree, options: options)
            return (weights, sortedChildren(tree: tree, weights: weights, order: order))
        }
        // A comparison's widths take a pass over the tree, and other orders than by weight
        // do not need them: both are worked out at once.
        let weights = BackgroundWork { Self.weights(of: tree, options: options) }
        let children = sortedChildren(tree: tree, weights: [], order: order)
        return (try! weights.wait(), children)
    }

    /// Children of every node in drawing order, as offsets into one list (`weights` are
    /// only read to order by weight).
    static func sortedChildren(
        tree: FrameTree, weights: [Double], order: FlameGraphOptions.FrameOrder
    ) -> (offsets: [Int], list: [Int32]) {
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
        guard order != .input else { return (offsets, list) }
        tree.withNameOrder { namePrecedes in
            weights.withUnsafeBufferPointer { weights in
                list.withUnsafeMutableBufferPointer { list in
                    for node in 0..<count where offsets[node + 1] - offsets[node] > 1 {
                        var siblings = UnsafeMutableBufferPointer(rebasing: list[offsets[node]..<offsets[node + 1]])
                        switch order {
                        case .alphabetical:
                            siblings.sort(by: namePrecedes)
                        case .weight:
                            siblings.sort {
                                let a = weights[Int($0)], b = weights[Int($1)]
                                return a != b ? a > b : namePrecedes($0, $1)
                            }
                        case .input:
                            break
                        }
                    }
                }
            }
        }
        return (offsets, list)
    }

    /// Inclusive widths of every node in samples for the chosen view of the tree.
    static func weights(of tree: FrameTree, options: FlameGraphOptions) -> [Double] {
        guard tree.isDifferential else { return tree.after }
        var width = options.differentialWidth
        if options.negate {
            switch width {
            case .after: width = .before
            case .before: width = .after
            case .max: break
            }
        }
        switch width {
        case .after: return tree.after
        case .before: return tree.before
        case .max:
            // max(before, after) of each node's own samples, plus its children's widths,
            // so that children always fit inside their parent. Children have larger ids than
            // their parents: visiting leaves first, a node's children are done when it is.
            let after = tree.after
            let before = tree.before
            var weights = [Double](repeating: 0, count: tree.nodeCount)
            for node in stride(from: tree.nodeCount - 1, through: 0, by: -1) {
                var childrenAfter = 0.0
                var childrenBefore = 0.0
                var childrenWidth = 0.0
                var child = tree.firstChild[node]
                while child >= 0 {
                    childrenAfter += after[Int(child)]
                    childrenBefore += before[Int(child)]
                    childrenWidth += weights[Int(child)]
                    child = tree.nextSibling[Int(child)]
                }
                weights[node] = childrenWidth + max(after[node] - childrenAfter, before[node] - childrenBefore, 0)
            }
            return weights
        }
    }
}
