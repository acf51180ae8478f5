import EmberProfile

/// Frame colours: the flamegraph.pl palettes, chosen from a hash of the name so that a
/// function keeps its colour from graph to graph, plus colours by frame kind.
struct FrameColors {
    typealias Palette = FlameGraphOptions.Palette

    let palette: Palette
    let hashed: Bool
    private var randomState: UInt64 = 0x2545_F491_4F6C_DD1D

    init(palette: Palette, hashed: Bool) {
        self.palette = palette
        self.hashed = hashed
        if !hashed { randomState = UInt64.random(in: 1...UInt64.max) }
    }

    /// The colour of a frame labelled `label` (its name, and its kind's suffix) of `kind`,
    /// as 0xRRGGBB.
    mutating func color(of label: UnsafeBufferPointer<UInt8>, kind: FrameKind) -> UInt32 {
        // The kind's suffix is left out of the hash, so that `read` and `read_[k]` differ only by hue.
        let name = UnsafeBufferPointer(rebasing: label[0..<FoldedFormat.nameLength(ofLabel: label.count, kind: kind)])
        let (v1, v2, v3) = hashed ? Self.hashFractions(name) : randomFractions()
        return Self.color(hue: hue(for: name, kind: kind), v1, v2, v3)
    }

    /// Single-hue names of the flamegraph.pl palettes.
    enum Hue { case hot, mem, io, red, green, blue, aqua, yellow, purple, orange }

    private func hue(for name: UnsafeBufferPointer<UInt8>, kind: FrameKind) -> Hue {
        switch palette {
        case .hot, .java, .js, .perl:
            // Frames of a kind are coloured by kind in every multi-hue palette.
            switch kind {
            case .kernel: return .orange
            case .inlined: return .aqua
            case .jit: return .green
            case .waker: return .aqua
            case .offCPU: return .blue
            case .python: return .purple
            case .user, .process, .thread: break
            }
        default: break
        }
        switch palette {
        case .hot: return .hot
        case .mem: return .mem
        case .io: return .io
        case .wakeup: return .aqua
        case .red: return .red
        case .green: return .green
        case .blue: return .blue
        case .aqua: return .aqua
        case .yellow: return .yellow
        case .purple: return .purple
        case .orange: return .orange
        case .java:
            // Java frames are written with slashes (java/lang/Thread.run); C++ with ::.
            if contains(name, "/") { return .green }
            if contains(name, "::") { return .yellow }
            return .red
        case .js:
            if contains(name, "/") || contains(name, ".js") { return .green }
            if contains(name, "::") { return .yellow }
            return .red
        case .perl:
            if contains(name, "::") || contains(name, ".pl") || contains(name, "Perl") { return .green }
            return .red
        }
    }

    private func contains(_ name: UnsafeBufferPointer<UInt8>, _ needle: StaticString) -> Bool {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard pattern.count <= name.count else { return false }
        for start in 0...(name.count - pattern.count)
        where name[start] == pattern[0] && pattern.indices.allSatisfy({ name[start + $0] == pattern[$0] }) {
            return true
        }
        return false
    }

    static func color(hue: Hue, _ v1: Double, _ v2: Double, _ v3: Double) -> UInt32 {
        func rgb(_ r: Double, _ g: Double, _ b: Double) -> UInt32 {
            UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)
        }
        switch hue {
        case .hot: return rgb(205 + 50 * v3, 230 * v1, 55 * v2)
        case .mem: return rgb(0, 190 + 50 * v2, 210 * v1)
        case .io: return rgb(80 + 60 * v1, 80 + 60 * v1, 190 + 55 * v2)
        case .red: return rgb(200 + 55 * v1, 50 + 80 * v1, 50 + 80 * v1)
        case .green: return rgb(50 + 60 * v1, 200 + 55 * v1, 50 + 60 * v1)
        case .blue: return rgb(80 + 60 * v1, 80 + 60 * v1, 205 + 50 * v1)
        case .aqua: return rgb(50 + 60 * v1, 165 + 55 * v1, 165 + 55 * v1)
        case .yellow: return rgb(175 + 55 * v1, 175 + 55 * v1, 50 + 20 * v1)
        case .purple: return rgb(190 + 65 * v1, 80 + 60 * v1, 190 + 65 * v1)
        case .orange: return rgb(190 + 65 * v1, 90 + 65 * v1, 0)
        }
    }

    /// Three numbers in [0, 1) from the name.
    static func hashFractions(_ name: UnsafeBufferPointer<UInt8>) -> (Double, Double, Double) {
        let hash = name.baseAddress.map { ByteString.hash($0, name.count) } ?? 0
        let scale = 1.0 / Double(1 << 21)
        return (
            Double(hash & 0x1F_FFFF) * scale,
            Double((hash >> 21) & 0x1F_FFFF) * scale,
            Double((hash >> 42) & 0x1F_FFFF) * scale
        )
    }

    private mutating func randomFractions() -> (Double, Double, Double) {
        // xorshift: cheap and good enough for colours.
        func next() -> Double {
            randomState ^= randomState << 13
            randomState ^= randomState >> 7
            randomState ^= randomState << 17
            return Double(randomState >> 11) / Double(1 << 53)
        }
        return (next(), next(), next())
    }

    /// Differential colours: red where a frame grew, blue where it shrank, white unchanged;
    /// `ratio` is the change relative to the largest change, in [-1, 1].
    static func differentialColor(ratio: Double) -> UInt32 {
        let strength = min(1, abs(ratio))
        let fade = UInt32((255 * (1 - strength)).rounded())
        return ratio >= 0 ? (0xFF << 16 | fade << 8 | fade) : (fade << 16 | fade << 8 | 0xFF)
    }
}
