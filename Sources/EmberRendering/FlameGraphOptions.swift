import EmberProfile

/// Options of a flame graph, named after the flamegraph.pl options people know.
public struct FlameGraphOptions: Sendable, Equatable {
    public var title: String = "Flame Graph"
    public var subtitle: String? = nil
    /// Width of the image in pixels.
    public var width: Int = 1200
    /// Height of each frame row in pixels.
    public var frameHeight: Int = 16
    public var fontSize: Double = 12
    public var fontType: String = "Verdana, sans-serif"
    /// Frames narrower than this are not drawn (they are summed into a "(N more)" sliver).
    public var minWidth: MinWidth = .pixels(0.1)
    /// What a count is ("samples").
    public var countName: String = "samples"
    /// What a frame is, shown before its name in the details line ("Function:").
    public var nameType: String = "Function:"
    public var palette: Palette = .hot
    /// Background; nil picks the palette's usual one.
    public var background: Background? = nil
    /// Colour each name by a hash of it, so the same name has the same colour in every graph.
    /// When false, colours are random, as in flamegraph.pl without `--hash`.
    public var hashColors = true
    /// Icicle graph: the root at the top, stacks growing down.
    public var inverted = false
    /// Child order within each parent.
    public var order: FrameOrder = .alphabetical
    /// For differential input: swap the roles of the two counts (widths from the first,
    /// red where the first is larger).
    public var negate = false
    /// A note stored in the SVG (a `<desc>` element), not drawn.
    public var notes: String? = nil
    /// What sets frame widths in a differential graph.
    public var differentialWidth: DifferentialWidth = .after

    // Applied while stacks are read (see `StackTransform`).
    /// Reverse each stack, leaf first.
    public var reverse = false
    /// A flame chart: input order, a stack merged only with the one just before it.
    public var flameChart = false
    /// Multiply every count by this.
    public var factor: Double = 1
    /// Re-root on the first (outermost) frame with one of these names.
    public var baseFrames: [String] = []

    /// The stack options, for `FrameTreeBuilder`.
    public var stackTransform: StackTransform {
        var transform = StackTransform()
        transform.reverse = reverse
        transform.flameChart = flameChart
        transform.factor = factor
        transform.baseFrames = baseFrames
        return transform
    }

    public init() {}

    /// The background drawn: the one asked for, else the palette's usual one.
    var resolvedBackground: Background {
        if let background { return background }
        switch palette {
        case .mem: return .green
        case .io, .wakeup: return .blue
        default: return .yellow
        }
    }

    public enum MinWidth: Sendable, Equatable {
        case pixels(Double)
        /// A percentage of all samples.
        case percent(Double)
    }

    public enum FrameOrder: String, Sendable, CaseIterable {
        /// By name, as flamegraph.pl does.
        case alphabetical
        /// Widest child first ("left heavy").
        case weight
        /// As the tree was built (the input order; used for flame charts).
        case input
    }

    public enum DifferentialWidth: String, Sendable, CaseIterable {
        case after, before, max
    }

    public enum Palette: String, Sendable, CaseIterable {
        case hot, mem, io, wakeup, java, js, perl, red, green, blue, aqua, yellow, purple, orange
    }

    public enum Background: Sendable, Equatable {
        case yellow, blue, green, grey
        /// A flat colour, `#rgb` or `#rrggbb`.
        case flat(String)

        /// The gradient's top and bottom colours (nil for a flat colour).
        var gradientStops: (StaticString, StaticString)? {
            switch self {
            case .yellow: return ("#eeeeee", "#eeeeb0")
            case .blue: return ("#eeeeee", "#e0e0ff")
            case .green: return ("#eef2ee", "#e0ffe0")
            case .grey: return ("#f8f8f8", "#e8e8e8")
            case .flat: return nil
            }
        }

        /// Parses `yellow`, `blue`, `green`, `grey`/`gray` or `#rrggbb`; nil when it is none.
        public init?(parsing text: String) {
            switch text.lowercased() {
            case "yellow": self = .yellow
            case "blue": self = .blue
            case "green": self = .green
            case "grey", "gray": self = .grey
            default:
                let digits = text.utf8.dropFirst()
                guard text.hasPrefix("#"), digits.count == 3 || digits.count == 6,
                    digits.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) })
                else { return nil }
                self = .flat(text)
            }
        }
    }
}
