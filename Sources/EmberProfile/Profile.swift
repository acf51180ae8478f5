/// Call stacks with their sample counts: the in-memory form of a folded file.
///
/// Stacks are stored root first (`main`, then its callees, the sampled function
/// last), as folded files write them. Identical stacks are merged as they are added.
public struct Profile: Sendable, Equatable {
    /// Sample count of each distinct stack, root first.
    public private(set) var counts: [[String]: Double] = [:]

    public init() {}

    /// Creates a profile from stacks and counts; repeated stacks are summed.
    public init<S: Sequence>(_ stacks: S) where S.Element == (frames: [String], count: Double) {
        for (frames, count) in stacks { add(frames, count: count) }
    }

    /// Adds `count` samples of the stack `frames` (root first).
    public mutating func add(_ frames: [String], count: Double = 1) {
        counts[frames, default: 0] += count
    }

    /// Adds every stack of `other`.
    public mutating func merge(_ other: Profile) {
        for (frames, count) in other.counts { add(frames, count: count) }
    }

    /// The number of samples over all stacks.
    public var totalSamples: Double { counts.values.reduce(0, +) }

    /// The number of distinct stacks.
    public var uniqueStacks: Int { counts.count }

    /// Stacks in the order folded files list them: sorted by their frames.
    public var sortedStacks: [(frames: [String], count: Double)] {
        counts.sorted { Self.precedes($0.key, $1.key) }.map { (frames: $0.key, count: $0.value) }
    }

    /// Orders stacks frame by frame, the way `sort` orders folded lines.
    static func precedes(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        }
        return a.count < b.count
    }
}
