/// Plain-text tables of a ``ProfileSummary`` and indented call trees, for terminals and
/// pipes: each line fits the width given (80 columns unless told), names cut with `…`;
/// bold headings only when asked for (a terminal), never when piped.
public struct SummaryText {
    /// Columns per line.
    public var width: Int
    /// ANSI bold for headings.
    public var color: Bool

    public init(width: Int = 80, color: Bool = false) {
        self.width = max(width, 40)
        self.color = color
    }

    /// Which values a table shows.
    public enum Columns: Sendable, Equatable {
        /// self%, self, total%, total: functions and libraries.
        case selfAndTotal
        /// %, value: processes and threads, whose self is their total.
        case totalOnly
    }

    /// The line that says what was summarized: `cpu.folded: 2,970 samples in 142 stacks`.
    public func header(_ name: String, _ summary: ProfileSummary) -> String {
        let unit = summary.valueType
        let total = ValueFormat(unit).text(summary.total) + (unit.unit == "count" ? " " : " of ") + ValueFormat(unit).heading
        return cut("\(name): \(total) in \(ValueFormat.grouped(Double(summary.stackCount))) stacks", width) + "\n"
    }

    /// A heading line.
    public func heading(_ text: String) -> String {
        color ? "\u{1B}[1m\(cut(text, width))\u{1B}[0m\n" : cut(text, width) + "\n"
    }

    /// The first `limit` entries under a heading, with percentages of `total`.
    public func table(_ title: String, _ entries: [ProfileSummary.Entry], total: Double, unit: ValueType,
                      limit: Int, columns: Columns = .selfAndTotal, nameHeading: String = "function") -> String {
        let shown = entries.prefix(max(limit, 0))
        let format = ValueFormat(unit)
        let valueWidth = max(8, columns == .totalOnly ? format.heading.count : 0,
                             shown.map { max(format.text($0.selfValue).count, format.text($0.totalValue).count) }.max() ?? 0)
        var text = heading(title)
        let head: [String]
        switch columns {
        case .selfAndTotal: head = [pad("self%", 6, right: true), pad("self", valueWidth, right: true),
                                    pad("total%", 6, right: true), pad("total", valueWidth, right: true)]
        case .totalOnly: head = [pad("%", 6, right: true), pad(format.heading, valueWidth, right: true)]
        }
        let prefix = head.joined(separator: " ") + "  "
        text += prefix + nameHeading + "\n"
        let nameWidth = max(width - prefix.count, 8)
        for entry in shown {
            var cells: [String] = []
            switch columns {
            case .selfAndTotal:
                cells = [pad(Self.percent(entry.selfValue, of: total), 6, right: true),
                         pad(format.text(entry.selfValue), valueWidth, right: true),
                         pad(Self.percent(entry.totalValue, of: total), 6, right: true),
                         pad(format.text(entry.totalValue), valueWidth, right: true)]
            case .totalOnly:
                cells = [pad(Self.percent(entry.totalValue, of: total), 6, right: true),
                         pad(format.text(entry.totalValue), valueWidth, right: true)]
            }
            text += cells.joined(separator: " ") + "  " + cut(entry.name, nameWidth) + "\n"
        }
        if entries.count > shown.count {
            text += "(\(entries.count - shown.count) more)\n"
        }
        return text
    }

    /// The call tree, callers above their callees, children by total value (largest first);
    /// a frame below `minPercent` of all is left out with everything it calls.
    public func tree(_ tree: FrameTree, minPercent: Double) -> String {
        let total = tree.totalSamples
        var text = heading("Call tree (callers → callees), frames under \(Self.number(minPercent))% left out:")
        text += pad("total%", 6, right: true) + " " + pad("self%", 6, right: true) + "  frame\n"
        guard total > 0 else { return text }
        let children = tree.childLists()
        let (own, _) = tree.selfSamples()
        let limit = minPercent / 100 * total
        let prefixWidth = 15
        let maximumIndent = max(0, (width - prefixWidth) / 2 - 10)
        var stack: [(node: Int, depth: Int)] = sorted(children[0], tree).reversed().map { ($0, 0) }
        while let (node, depth) = stack.popLast() {
            let value = tree.samples(of: node)
            guard value >= limit, value > 0 else { continue }
            let indent = min(depth, maximumIndent)
            let marker = depth > indent ? "[\(depth)] " : ""
            let name = marker + TerminalText.safe(tree.name(of: node))
            text += pad(Self.percent(value, of: total), 6, right: true) + " "
                + pad(Self.percent(own[node], of: total), 6, right: true) + "  "
                + String(repeating: "  ", count: indent)
                + cut(name, width - prefixWidth - 2 * indent) + "\n"
            for child in sorted(children[node], tree).reversed() { stack.append((child, depth + 1)) }
        }
        return text
    }

    private func sorted(_ nodes: [Int], _ tree: FrameTree) -> [Int] {
        nodes.sorted {
            let (a, b) = (tree.samples(of: $0), tree.samples(of: $1))
            return a != b ? a > b : tree.name(of: $0) < tree.name(of: $1)
        }
    }

    /// `text` cut to `width` characters, the last one `…` when cut.
    public func cut(_ text: String, _ width: Int) -> String {
        guard text.count > width else { return text }
        return width <= 1 ? String(text.prefix(width)) : String(text.prefix(width - 1)) + "…"
    }

    public func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }

    /// `12.3%`, one decimal.
    public static func percent(_ value: Double, of total: Double) -> String {
        guard total > 0, value.isFinite else { return "0.0%" }
        return number(value / total * 100) + "%"
    }

    /// One decimal: 12.34 → "12.3".
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0.0" }
        // Past 64 bits (values a file spells are unbounded): the number as Swift prints it.
        guard abs(value) < 9e17 else { return String(value) }
        let tenths = Int64((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}

/// How values of one sample type print: counts with thousands separators, nanoseconds as
/// seconds, bytes in binary multiples.
public struct ValueFormat: Sendable {
    public let unit: ValueType

    public init(_ unit: ValueType) { self.unit = unit }

    /// The column heading for these values.
    public var heading: String {
        switch unit.unit {
        case "count": return unit.type == "samples" ? "samples" : unit.type
        case "nanoseconds": return unit.type == "cpu" ? "cpu" : unit.type
        default: return unit.unit
        }
    }

    public func text(_ value: Double) -> String {
        switch unit.unit {
        case "nanoseconds": return Self.decimals(value / 1e9, 2) + "s"
        case "bytes":
            var scaled = value, index = 0
            let units = ["B", "kB", "MB", "GB", "TB"]
            while abs(scaled) >= 1024 && index < units.count - 1 { scaled /= 1024; index += 1 }
            return (index == 0 ? Self.grouped(value) : Self.decimals(scaled, 1)) + units[index]
        default:
            return value == value.rounded() && abs(value) < 1e15 ? Self.grouped(value) : Self.decimals(value, 2)
        }
    }

    /// 2970 → "2,970".
    static func grouped(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        guard abs(value) < 9e18 else { return String(value) }
        let digits = String(Int64(value.rounded()))
        var result = ""
        for (index, digit) in digits.enumerated() {
            let remaining = digits.count - index
            if index > 0, remaining % 3 == 0, digits.first != "-" || index > 1 { result.append(",") }
            result.append(digit)
        }
        return result
    }

    static func decimals(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        guard abs(value) * Double(scale) < 9e18 else { return String(value) }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        let fraction = String(scaled % scale)
        return (value < 0 && scaled != 0 ? "-" : "") + "\(scaled / scale)."
            + String(repeating: "0", count: places - fraction.count) + fraction
    }
}

/// Text from outside (function and file names) made safe for a terminal: control characters
/// (escape sequences would move the cursor or recolour the screen) and invalid UTF-8 are
/// shown as `\xNN`.
public enum TerminalText {
    public static func safe(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        safe(ByteString.text(of: bytes))
    }

    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                let hex = String(scalar.value, radix: 16)
                result += "\\x" + (hex.count < 2 ? "0" + hex : hex)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
