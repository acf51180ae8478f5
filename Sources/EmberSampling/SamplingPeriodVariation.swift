/// How the sampling period varies, so that work repeating at the sampling period (a loop
/// paced by a 100 Hz timer, a frame every 10 ms) is not sampled at one phase of its cycle
/// for a whole recording, which gives it shares no longer tied to where its time goes.
/// The kernel's cpu-clock samples at exactly 1/frequency, phase-locked to such work; a
/// sampler that sleeps between samples (py-spy) is not, as its wakeups jitter.
///
/// Each block of at least 100 ms and 10 periods, every CPU's event gets a rate drawn
/// uniformly within ``spread`` of the asked one, and with it a new phase: the kernel
/// restarts the timer on a new period. That restart drops the period under way, half a
/// period on average per block, so the draws centre a little above the asked rate and the
/// expected samples per second stay the asked frequency: each sample keeps the weight
/// 1/frequency. Draws come in mirrored pairs (centre + d, then centre − d), so over two
/// blocks the rate is the centre's and the recording's sample count does not wander.
public struct SamplingPeriodVariation: Sendable {
    public let frequency: Int
    /// How far a block's rate may be from the centre, as a fraction of it.
    public static let spread = 0.25

    public init(frequency: Int) {
        self.frequency = max(frequency, 1)
    }

    /// How long a block lasts: the time between two draws.
    public var blockNanoseconds: Int64 {
        max(100_000_000, 10 * 1_000_000_000 / Int64(frequency))
    }

    /// The rate the draws centre on: the asked one plus what each block's restart drops.
    /// `blockSeconds`: how long blocks last in fact (the recorder polls late by up to one
    /// poll interval); nil: ``blockNanoseconds``.
    public func centreRate(blockSeconds: Double? = nil) -> Double {
        Double(frequency) + 0.5 / (blockSeconds ?? Double(blockNanoseconds) / 1e9)
    }

    /// Periods for the next two blocks, in nanoseconds (at least the 10 µs the kernel allows):
    /// rates mirrored about the centre.
    public func drawPeriods<Generator: RandomNumberGenerator>(
        blockSeconds: Double? = nil, using generator: inout Generator
    ) -> (UInt64, UInt64) {
        let centre = centreRate(blockSeconds: blockSeconds)
        let offset = Double.random(in: -Self.spread...Self.spread, using: &generator)
        func period(_ factor: Double) -> UInt64 { UInt64(max(1e9 / (centre * factor), 10_000)) }
        return (period(1 + offset), period(1 - offset))
    }
}

/// When the events get their next periods, and which: the draws of a
/// ``SamplingPeriodVariation`` in mirrored pairs, centred for the blocks' measured length.
/// The sampler keeps one and asks it at every poll.
public struct SamplingPeriodSchedule<Generator: RandomNumberGenerator> {
    public let variation: SamplingPeriodVariation
    private var generator: Generator
    private var lastDraw: Int64
    /// When the current block has run (monotonic nanoseconds).
    public private(set) var nextDraw: Int64
    /// The blocks' lengths so far, in fact (seconds), and how many.
    private var blocks: (seconds: Double, count: Int) = (0, 0)
    /// Each event's period for the block after the next (the mirror of the next one's).
    private var mirrored: [UInt64] = []

    /// A schedule whose first block (at the asked frequency) starts at `start`.
    public init(variation: SamplingPeriodVariation, start: Int64, generator: Generator) {
        self.variation = variation
        self.generator = generator
        lastDraw = start
        nextDraw = start + variation.blockNanoseconds
    }

    /// The periods of `events` events for the block starting `now`; nil while the current
    /// block runs.
    public mutating func periods(at now: Int64, events: Int) -> [UInt64]? {
        guard now >= nextDraw else { return nil }
        blocks.seconds += Double(now - lastDraw) / 1e9
        blocks.count += 1
        lastDraw = now
        nextDraw = now + variation.blockNanoseconds
        if mirrored.count == events {
            defer { mirrored = [] }
            return mirrored
        }
        let blockSeconds = blocks.seconds / Double(blocks.count)
        var pairs: [(UInt64, UInt64)] = []
        for _ in 0..<events { pairs.append(variation.drawPeriods(blockSeconds: blockSeconds, using: &generator)) }
        mirrored = pairs.map(\.1)
        return pairs.map(\.0)
    }
}
