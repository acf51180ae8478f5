import EmberProfile

/// A byte buffer the SVG is written into, handed on to `sink` in large pieces so that
/// a big graph streams to its file instead of being built whole in memory.
struct SVGOutput {
    private(set) var buffer: [UInt8] = []
    private let flushThreshold: Int
    private let sink: ((UnsafeRawBufferPointer) throws -> Void)?

    /// Output kept in memory (`bytes`).
    init() {
        flushThreshold = .max
        sink = nil
    }

    /// Output handed to `sink` every `flushThreshold` bytes.
    init(flushThreshold: Int = 1 << 20, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.flushThreshold = flushThreshold
        self.sink = sink
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    var bytes: [UInt8] { buffer }

    @inline(__always)
    mutating func flushIfFull() throws {
        if buffer.count >= flushThreshold { try flush() }
    }

    mutating func flush() throws {
        guard let sink, !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try sink($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    // MARK: - Appending

    @inline(__always)
    mutating func append(_ text: StaticString) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Bytes from the outside world, escaped for XML content and attribute values.
    @inline(__always)
    mutating func append(escaping text: UnsafeBufferPointer<UInt8>) {
        if XMLEscaping.needsNoEscaping(text) {
            buffer.append(contentsOf: text)
        } else {
            XMLEscaping.append(text, to: &buffer)
        }
    }

    /// What another output holds (already escaped).
    mutating func append(contentsOf other: SVGOutput) {
        buffer.append(contentsOf: other.buffer)
    }

    /// Text from the outside world, escaped for XML content and attribute values.
    mutating func append(escaping text: String) {
        var copy = text
        copy.withUTF8 { XMLEscaping.append($0, to: &buffer) }
    }

    /// ` name="value"` with at most `decimals` decimals.
    mutating func attribute(_ name: StaticString, _ value: Double, decimals: Int = 2) {
        appendAttributeName(name)
        append(value, decimals: decimals)
        buffer.append(UInt8(ascii: "\""))
    }

    /// ` name="value"`, the value escaped.
    mutating func attribute(_ name: StaticString, escaping value: String) {
        appendAttributeName(name)
        append(escaping: value)
        buffer.append(UInt8(ascii: "\""))
    }

    private mutating func appendAttributeName(_ name: StaticString) {
        buffer.append(UInt8(ascii: " "))
        append(name)
        append("=\"")
    }

    @inline(__always)
    mutating func append(_ value: Int) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        append(UInt64(value.magnitude))
    }

    @inline(__always)
    mutating func append(_ value: UInt64) {
        if value < 10 {
            buffer.append(0x30 + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { scratch in
            while rest > 0 {
                scratch[31 - count] = 0x30 + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            buffer.append(contentsOf: scratch[(32 - count)...])
        }
    }

    /// `value` with at most `decimals` decimals, trailing zeros dropped (`12.5`, `3`).
    @inline(__always)
    mutating func append(_ value: Double, decimals: Int) {
        guard value.isFinite else {
            buffer.append(0x30)
            return
        }
        var magnitude = value
        if magnitude < 0 {
            magnitude = -magnitude
            let scaled = (magnitude * SVGOutput.powersOfTen[decimals]).rounded()
            if scaled != 0 { buffer.append(UInt8(ascii: "-")) }
        }
        let scale = SVGOutput.powersOfTen[decimals]
        let scaledValue = (magnitude * scale).rounded()
        if scaledValue >= 9.0e18 {
            // Past what 64 bits hold (counts a file can spell are unbounded): the shortest
            // form that reads back as the same number, an exponent where it needs one, which
            // SVG's and JavaScript's number syntax both accept.
            if magnitude < 9.0e18 {
                append(UInt64(magnitude.rounded()))
            } else {
                buffer.append(contentsOf: String(magnitude).utf8)
            }
            return
        }
        let scaled = UInt64(scaledValue)
        let unit = UInt64(scale)
        append(scaled / unit)
        var fraction = scaled % unit
        if fraction == 0 { return }
        var places = decimals
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        buffer.append(UInt8(ascii: "."))
        // Leading zeros of the fraction.
        var width = 1
        var probe = fraction
        while probe >= 10 {
            probe /= 10
            width += 1
        }
        for _ in width..<places { buffer.append(0x30) }
        append(fraction)
    }

    /// `#rrggbb`.
    mutating func append(color: UInt32) {
        let digits: StaticString = "0123456789abcdef"
        buffer.append(UInt8(ascii: "#"))
        for shift in stride(from: 20, through: 0, by: -4) {
            buffer.append(digits.utf8Start[Int((color >> UInt32(shift)) & 15)])
        }
    }

    static let powersOfTen: [Double] = (0...15).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }
}

/// Escaping of untrusted text (frame names, titles, notes, option strings) for XML.
///
/// All five special characters become entities, so escaped text is safe both as element
/// content and inside a quoted attribute. Characters XML forbids, and other control
/// characters, are replaced by a visible `\xNN` (or `\u{NNNN}`); bytes that are not valid
/// UTF-8 are shown as `\xNN` too. Nothing from input can open markup, a script or a CDATA end.
enum XMLEscaping {
    /// With `entities` false, the five special characters are kept (for text that is
    /// escaped again in another way, such as the time view's JSON), the rest as above.
    static func append(_ text: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], entities: Bool = true) {
        var index = 0
        let count = text.count
        while index < count {
            let byte = text[index]
            if byte >= 0x20, byte < 0x7F {
                switch entities ? byte : 0 {
                case UInt8(ascii: "&"): appendStatic("&amp;", to: &out)
                case UInt8(ascii: "<"): appendStatic("&lt;", to: &out)
                case UInt8(ascii: ">"): appendStatic("&gt;", to: &out)
                case UInt8(ascii: "\""): appendStatic("&quot;", to: &out)
                case UInt8(ascii: "'"): appendStatic("&#39;", to: &out)
                default: out.append(byte)
                }
                index += 1
            } else if byte < 0x80 {
                appendHexEscape(byte, to: &out)  // C0 controls and DEL
                index += 1
            } else if let (scalar, length) = UTF8Scalar.decode(text, at: index) {
                if (0x80...0x9F).contains(scalar) || scalar == 0xFFFE || scalar == 0xFFFF {
                    // C1 controls are legal XML but invisible; U+FFFE/U+FFFF are forbidden.
                    appendStatic("\\u{", to: &out)
                    appendHexDigits(scalar, to: &out)
                    out.append(UInt8(ascii: "}"))
                } else {
                    out.append(contentsOf: text[index..<(index + length)])
                }
                index += length
            } else {
                appendHexEscape(byte, to: &out)
                index += 1
            }
        }
    }

    /// Whether `append` would copy the text unchanged (plain printable ASCII without specials).
    static func needsNoEscaping(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in text {
            if byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<")
                || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
            {
                return false
            }
        }
        return true
    }

    static func escaped(_ text: String) -> String {
        var out: [UInt8] = []
        var copy = text
        copy.withUTF8 { append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    private static func appendStatic(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private static func appendHexEscape(_ byte: UInt8, to out: inout [UInt8]) {
        appendStatic("\\x", to: &out)
        let digits: StaticString = "0123456789ABCDEF"
        out.append(digits.utf8Start[Int(byte >> 4)])
        out.append(digits.utf8Start[Int(byte & 15)])
    }

    private static func appendHexDigits(_ value: UInt32, to out: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        var started = false
        for shift in stride(from: 20, through: 0, by: -4) {
            let digit = Int((value >> UInt32(shift)) & 15)
            if digit != 0 || started || shift < 16 {
                started = true
                out.append(digits.utf8Start[digit])
            }
        }
    }
}
