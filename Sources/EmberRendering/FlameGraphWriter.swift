#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EmberProfile

/// Writes the SVG document of a laid-out tree.
///
/// Each frame is a group of a rectangle and the frame's name, stored once (see `writeLabel`);
/// frames are grouped in one translated group per row, so a frame needs only `x`, `width`
/// and `fill`. A viewer without script draws every frame at least a pixel wide, and the
/// narrower ones as "(N more)" slivers.
struct FlameGraphWriter {
    let tree: FrameTree
    let options: FlameGraphOptions
    let layout: FlameLayout

    // Geometry, in pixels.
    let xPad = 10.0
    let innerWidth: Double
    let topPad: Double
    let bottomPad: Double
    let imageHeight: Double
    /// Pixels per sample.
    let scale: Double
    /// Decimals of x and width: enough that the script recovers exact sample counts.
    let decimals: Int
    let differential: Bool

    init(tree: FrameTree, options: FlameGraphOptions) {
        self.tree = tree
        self.options = options
        let width = Double(max(options.width, 100))
        innerWidth = width - 2 * xPad
        let order = options.flameChart || !tree.mergesSiblings ? .input : options.order
        let (weights, children) = FlameLayout.weightsAndChildren(of: tree, options: options, order: order)
        let total = weights[0]
        scale = total > 0 ? innerWidth / total : 1
        let minimumWidth: Double
        switch options.minWidth {
        case .pixels(let pixels): minimumWidth = pixels / scale
        case .percent(let percent): minimumWidth = total * percent / 100
        }
        layout = FlameLayout(tree: tree, weights: weights, children: children, minimumWidth: minimumWidth)
        differential = tree.isDifferential
        let fontSize = options.fontSize
        topPad = fontSize * 3 + (options.subtitle == nil ? 0 : fontSize * 2)
        bottomPad = fontSize * 2 + 10
        imageHeight = topPad + Double(max(layout.rowCount, 1) * options.frameHeight) + bottomPad
        let magnitude = scale > 0 && scale.isFinite ? min(max((-log10(scale)).rounded(.up), -20), 20) : 0
        let digits = Int(magnitude) + 1 + (tree.hasFractionalCounts ? 3 : 0)
        decimals = min(max(digits, 1), 12)
    }

    func write(to out: inout SVGOutput) throws {
        writeHeader(to: &out)
        try writeFrames(to: &out)
        writeFooter(to: &out)
        try out.flush()
    }

    // MARK: - Header and chrome

    private func writeHeader(to out: inout SVGOutput) {
        let width = innerWidth + 2 * xPad
        let fontSize = options.fontSize
        out.append("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n")
        out.append("<svg version=\"1.1\" id=\"ember\" xmlns=\"http://www.w3.org/2000/svg\"")
        out.attribute("width", width)
        out.attribute("height", imageHeight)
        out.append(" viewBox=\"0 0 ")
        out.append(width, decimals: 2)
        out.append(" ")
        out.append(imageHeight, decimals: 2)
        out.append("\"")
        out.attribute("font-family", escaping: options.fontType)
        out.attribute("font-size", fontSize)
        // What the script needs, as data: the script itself is a constant.
        out.attribute("data-char-width", fontSize * Self.characterWidthRatio, decimals: 4)
        out.attribute("data-label-y", Double(options.frameHeight - 1) / 2 + fontSize / 4)
        out.attribute("data-total", layout.totalWeight, decimals: 6)
        out.attribute("data-all-samples", tree.totalSamples, decimals: 6)
        out.attribute("data-xpad", xPad)
        out.attribute("data-drawn-width", Self.drawnWidth)
        out.attribute("data-inner-width", innerWidth)
        out.attribute("data-integral", tree.hasFractionalCounts ? 0 : 1)
        out.attribute("data-differential", differential ? 1 : 0)
        out.attribute("data-count-name", escaping: options.countName)
        out.attribute("data-name-type", escaping: options.nameType)
        out.append(">\n")
        if let notes = options.notes {
            out.append("<desc id=\"notes\">")
            out.append(escaping: notes)
            out.append("</desc>\n")
        }
        out.append("<defs>")
        writeBackgroundGradient(to: &out)
        out.append("</defs>\n<style>")
        out.append(FlameGraphAssets.style)
        out.append("</style>\n<rect id=\"bg\" width=\"100%\" height=\"100%\"")
        switch background {
        case .flat(let color): out.attribute("fill", escaping: color)
        default: out.append(" fill=\"url(#bgg)\"")
        }
        out.append("/>\n")

        let top = fontSize * 2
        let bottom = imageHeight - bottomPad / 2
        writeText("title", x: width / 2, y: top, anchor: "middle", fontSize: fontSize + 5, to: &out) {
            $0.append(escaping: options.title)
        }
        if let subtitle = options.subtitle {
            writeText("subtitle", x: width / 2, y: fontSize * 4, anchor: "middle", to: &out) {
                $0.append(escaping: subtitle)
            }
        }
        writeText("details", x: xPad, y: bottom, to: &out) { $0.append(" ") }
        writeText("unzoom", button: true, hidden: true, x: xPad, y: top, to: &out) { $0.append("Reset Zoom") }
        writeText("search", button: true, x: width - xPad - fontSize * 2.5, y: top, anchor: "end", to: &out) {
            $0.append("Search")
        }
        writeText("ic", button: true, x: width - xPad, y: top, anchor: "end", to: &out) { $0.append("ic") }
        writeText("matched", x: width - xPad, y: bottom, anchor: "end", to: &out) { $0.append(" ") }
        if layout.rowCount == 0 {
            writeText("empty", x: width / 2, y: topPad + Double(options.frameHeight), anchor: "middle", to: &out) {
                $0.append("No samples")
            }
        }
    }

    /// A text element of the graph's chrome (titles, buttons, status lines).
    private func writeText(
        _ id: StaticString, button: Bool = false, hidden: Bool = false, x: Double, y: Double,
        anchor: StaticString? = nil, fontSize: Double? = nil, to out: inout SVGOutput,
        content: (inout SVGOutput) -> Void
    ) {
        out.append("<text id=\"")
        out.append(id)
        out.append(button ? (hidden ? "\" class=\"ui btn h\"" : "\" class=\"ui btn\"") : "\" class=\"ui\"")
        out.attribute("x", x)
        out.attribute("y", y)
        if let anchor {
            out.append(" text-anchor=\"")
            out.append(anchor)
            out.append("\"")
        }
        if let fontSize { out.attribute("font-size", fontSize) }
        out.append(">")
        content(&out)
        out.append("</text>\n")
    }

    private var background: FlameGraphOptions.Background { options.resolvedBackground }

    private func writeBackgroundGradient(to out: inout SVGOutput) {
        guard let stops = background.gradientStops else { return }
        out.append("<linearGradient id=\"bgg\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\"><stop stop-color=\"")
        out.append(stops.0)
        out.append("\" offset=\"5%\"/><stop stop-color=\"")
        out.append(stops.1)
        out.append("\" offset=\"95%\"/></linearGradient>")
    }

    private func writeFooter(to out: inout SVGOutput) {
        out.append("<script type=\"text/ecmascript\"><![CDATA[")
        out.append(FlameGraphAssets.scriptOpening)
        out.append(FlameGraphAssets.flameGraphFunction)
        out.append(FlameGraphAssets.scriptClosing)
        out.append("]]></script>\n</svg>\n")
    }

    // MARK: - Frames

    private func rowY(_ depth: Int) -> Double {
        let height = Double(options.frameHeight)
        if options.inverted { return topPad + Double(depth) * height }
        return imageHeight - bottomPad - Double(depth + 1) * height
    }

    private func writeFrames(to out: inout SVGOutput) throws {
        var colors = FrameColors(palette: options.palette, hashed: options.hashColors)
        let labelY = Double(options.frameHeight - 1) / 2 + options.fontSize / 4
        let characterWidth = options.fontSize * FlameGraphWriter.characterWidthRatio

        var largestChange = 0.0
        let before = tree.before
        if differential {
            for node in 1..<tree.nodeCount {
                largestChange = max(largestChange, abs(tree.after[node] - before[node]))
            }
        }
        let rootName = Array("all".utf8)
        let rootColor = rootName.withUnsafeBufferPointer { colors.color(of: $0, kind: .user) }

        // The graph is clipped to its area: the script covers the full graph with a copy of
        // the background when it draws a zoomed view.
        out.append("<clipPath id=\"graph-area\"><rect x=\"")
        out.append(xPad, decimals: 1)
        out.append("\" y=\"")
        out.append(topPad, decimals: 1)
        out.append("\" width=\"")
        out.append(innerWidth, decimals: 1)
        out.append("\" height=\"")
        out.append(Double(layout.rowCount * options.frameHeight), decimals: 1)
        out.append("\"/></clipPath>\n<g id=\"graph\" clip-path=\"url(#graph-area)\"><g id=\"frames\">\n")
        // Frames narrower than `drawnWidth` are not drawn: they are written as compact lines
        // of the row's `<metadata>`, which the script reads for zoom, search and tooltips. Per
        // drawn parent, each run of them is drawn as one "(N more)" sliver standing for them
        // and their subtrees. So a browser parses and draws a bounded set of elements however
        // many frames the graph holds.
        var drawnNodes = [Bool](repeating: false, count: tree.nodeCount)
        var sliver = HiddenRun()
        for depth in 0..<layout.rowCount {
            out.append("<g transform=\"translate(0,")
            out.append(rowY(depth), decimals: 2)
            out.append(")\">\n")
            var hiddenFrames = SVGOutput()
            var rowHasHiddenFrames = false
            for frame in layout.row(depth) {
                let node = Int(frame.node)
                let x = xPad + frame.start * scale
                let width = frame.width * scale
                let parentDrawn = frame.parent < 0 || drawnNodes[Int(frame.parent)]
                let drawn = parentDrawn && width >= Self.drawnWidth
                if drawn || sliver.parent != frame.parent {
                    writeSliver(&sliver, labelY: labelY, characterWidth: characterWidth, to: &out)
                }
                let frameBefore = frame.node < 0 ? frame.hiddenBefore : before[node]
                let frameAfter = frame.node < 0 ? frame.hiddenAfter : tree.after[node]
                let fill: UInt32
                if frame.node < 0 {
                    fill = Self.sliverColor
                } else if differential {
                    var change = tree.after[node] - before[node]
                    if options.negate { change = -change }
                    let ratio = largestChange > 0 ? change / largestChange : 0
                    fill = FrameColors.differentialColor(ratio: ratio)
                } else if node == 0 {
                    fill = rootColor
                } else {
                    fill = tree.withName(of: node) { colors.color(of: $0, kind: tree.kind(of: node)) }
                }
                guard drawn else {
                    if parentDrawn {
                        if sliver.count == 0 { sliver = HiddenRun(parent: frame.parent, x: x) }
                        sliver.width += width
                        sliver.count += frame.node < 0 ? Int(frame.hiddenCount) : 1
                    }
                    // "x width fill count [before after] name"
                    rowHasHiddenFrames = true
                    hiddenFrames.append(x, decimals: decimals)
                    hiddenFrames.append(" ")
                    hiddenFrames.append(width, decimals: decimals)
                    hiddenFrames.append(" ")
                    hiddenFrames.append(color: fill)
                    hiddenFrames.append(" ")
                    hiddenFrames.append(frame.node < 0 ? Int(frame.hiddenCount) : 1)
                    hiddenFrames.append(" ")
                    if differential {
                        hiddenFrames.append(frameBefore, decimals: 6)
                        hiddenFrames.append(" ")
                        hiddenFrames.append(frameAfter, decimals: 6)
                        hiddenFrames.append(" ")
                    }
                    if frame.node < 0 {
                        hiddenFrames.append(escaping: "(\(frame.hiddenCount) more)")
                    } else {
                        tree.withName(of: node) { hiddenFrames.append(escaping: $0) }
                    }
                    hiddenFrames.append("\n")
                    continue
                }
                if node >= 0 { drawnNodes[node] = true }
                hiddenFrames.append("\n")  // an empty line: this drawn frame's place in the row
                if differential, frameBefore == 0, frameAfter > 0 {
                    out.append("<g class=\"new\"")
                } else if differential, frameAfter == 0, frameBefore > 0 {
                    out.append("<g class=\"gone\"")
                } else {
                    out.append("<g")
                }
                if frame.node < 0 {
                    out.append(" data-n=\"")
                    out.append(Int(frame.hiddenCount))
                    out.append("\"")
                }
                out.append("><rect x=\"")
                out.append(x, decimals: decimals)
                out.append("\" width=\"")
                out.append(width, decimals: decimals)
                out.append("\" height=\"")
                out.append(options.frameHeight - 1)
                out.append("\" fill=\"")
                out.append(color: fill)
                if differential {
                    out.append("\" data-b=\"")
                    out.append(frameBefore, decimals: 6)
                    out.append("\" data-a=\"")
                    out.append(frameAfter, decimals: 6)
                }
                out.append("\"/>")
                let label = Label(x: x + 3, y: labelY, fitting: Self.fittingCharacters(width, characterWidth))
                if frame.node < 0 {
                    writeMoreLabel(label, count: Int(frame.hiddenCount), to: &out)
                } else if node == 0 {
                    rootName.withUnsafeBufferPointer { writeLabel(label, name: $0, to: &out) }
                } else {
                    tree.withName(of: node) { writeLabel(label, name: $0, to: &out) }
                }
                out.append("</g>\n")
                try out.flushIfFull()
            }
            writeSliver(&sliver, labelY: labelY, characterWidth: characterWidth, to: &out)
            if rowHasHiddenFrames {
                out.append("<metadata>")
                out.append(contentsOf: hiddenFrames)
                out.append("</metadata>\n")
            }
            out.append("</g>\n")
            try out.flushIfFull()
        }
        out.append("</g></g>\n")
    }

    /// Frames narrower than this many pixels are not drawn one by one: a box of a pixel or
    /// less shows nothing of its own, and drawing 100k of them makes browsers slow.
    static let drawnWidth = 1.0
    static let sliverColor: UInt32 = 0xc8c8c8

    /// Consecutive hidden children of a drawn frame.
    struct HiddenRun {
        var parent: Int32 = -1
        var x = 0.0
        var width = 0.0
        /// How many frames it stands for.
        var count = 0
    }

    /// Draws the sliver that stands for `run`, if it holds any frame, and empties it.
    private func writeSliver(_ run: inout HiddenRun, labelY: Double, characterWidth: Double, to out: inout SVGOutput) {
        guard run.count > 0 else { return }
        out.append("<g class=\"run\"><rect x=\"")
        out.append(run.x, decimals: decimals)
        out.append("\" width=\"")
        out.append(run.width, decimals: decimals)
        out.append("\" height=\"")
        out.append(options.frameHeight - 1)
        out.append("\" fill=\"")
        out.append(color: Self.sliverColor)
        out.append("\"/>")
        let label = Label(x: run.x + 3, y: labelY, fitting: Self.fittingCharacters(run.width, characterWidth))
        writeMoreLabel(label, count: run.count, to: &out)
        out.append("</g>\n")
        run.count = 0
    }

    private func writeMoreLabel(_ label: Label, count: Int, to out: inout SVGOutput) {
        let name = Array("(\(count) more)".utf8)
        name.withUnsafeBufferPointer { writeLabel(label, name: $0, to: &out) }
    }

    static func fittingCharacters(_ width: Double, _ characterWidth: Double) -> Int {
        Int(((width - 6) / characterWidth).rounded(.down))
    }

    /// The average width of a character relative to the font size (as flamegraph.pl
    /// estimates it for Verdana); the script uses the same ratio.
    static let characterWidthRatio = 0.59

    struct Label {
        var x: Double
        var y: Double
        /// How many characters fit in the frame.
        var fitting: Int
    }

    /// The frame's name, stored once: shown whole when it fits, else the part that fits
    /// followed by the rest in a hidden `tspan`, or hidden whole when under three
    /// characters fit. Viewers without script thus show clean labels, and the script
    /// reads every full name from the text.
    private func writeLabel(_ label: Label, name: UnsafeBufferPointer<UInt8>, to out: inout SVGOutput) {
        if label.fitting < 3 {
            out.append("<text class=\"h\">")
            out.append(escaping: name)
            out.append("</text>")
            return
        }
        out.append("<text x=\"")
        out.append(label.x, decimals: 2)
        out.append("\" y=\"")
        out.append(label.y, decimals: 2)
        out.append("\">")
        let split = Self.characterBoundary(name, after: label.fitting)
        if split >= name.count {
            out.append(escaping: name)
        } else {
            out.append(escaping: UnsafeBufferPointer(rebasing: name[0..<split]))
            out.append("<tspan class=\"h\">")
            out.append(escaping: UnsafeBufferPointer(rebasing: name[split...]))
            out.append("</tspan>")
        }
        out.append("</text>")
    }

    /// The byte offset after the bytes that display as at most `characters` characters
    /// (escapes such as `\xNN` count as what they show), never inside a UTF-8 sequence;
    /// `name.count` when all of it fits.
    static func characterBoundary(_ name: UnsafeBufferPointer<UInt8>, after characters: Int) -> Int {
        var offset = 0
        var shown = 0
        while offset < name.count {
            let length: Int
            let width: Int
            if let (scalar, scalarLength) = UTF8Scalar.decode(name, at: offset) {
                length = scalarLength
                switch scalar {
                case 0..<0x20, 0x7F: width = 4
                case 0x80...0x9F, 0xFFFE, 0xFFFF: width = 8
                default: width = 1
                }
            } else {
                length = 1
                width = 4
            }
            if shown + width > characters { break }
            shown += width
            offset += length
        }
        return offset
    }
}
