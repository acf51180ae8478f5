#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One stack line of a folded file, located inside the line's bytes.
public struct FoldedLine: Sendable, Equatable {
    /// The stack is the first `stackLength` bytes of the line: frames separated by `;`, root first.
    public var stackLength: Int
    /// The sample count (the last number on the line).
    public var count: Double
    /// The first of two counts on a differential line (`stack before after`), else nil.
    public var before: Double?

    public init(stackLength: Int, count: Double, before: Double? = nil) {
        self.stackLength = stackLength
        self.count = count
        self.before = before
    }
}

/// What a line of a folded file holds.
public enum FoldedLineKind: Sendable, Equatable {
    case stack(FoldedLine)
    /// A blank line or a `#` comment.
    case ignorable
    /// No count, a count that is not a number, or no stack before the count.
    case malformed
}

/// What a parse saw, for warnings (`--strict` turns malformed lines into an error).
public struct FoldedParseReport: Sendable, Equatable {
    public var lines = 0
    public var stackLines = 0
    public var differentialLines = 0
    public var malformedLines = 0
    /// Where the first malformed line is: its source (file name, `-` for stdin) and 1-based number.
    public var firstMalformed: (source: String, line: Int)? {
        get { firstMalformedSource.map { ($0, firstMalformedLine) } }
        set {
            firstMalformedSource = newValue?.source
            firstMalformedLine = newValue?.line ?? 0
        }
    }
    private var firstMalformedSource: String?
    private var firstMalformedLine = 0

    public init() {}

    /// Counts one line of `source`.
    public mutating func record(_ kind: FoldedLineKind, line: Int, source: String) {
        lines += 1
        switch kind {
        case .stack(let parsed):
            stackLines += 1
            if parsed.before != nil { differentialLines += 1 }
        case .ignorable:
            break
        case .malformed:
            malformedLines += 1
            if firstMalformedSource == nil { firstMalformed = (source, line) }
        }
    }

    /// Adds what another parse saw (of an input read after this one's).
    public mutating func add(_ other: FoldedParseReport) {
        lines += other.lines
        stackLines += other.stackLines
        differentialLines += other.differentialLines
        malformedLines += other.malformedLines
        if firstMalformedSource == nil { firstMalformed = other.firstMalformed }
    }

    /// Adds what a parse of the next part of the same input saw: its line numbers count
    /// from the end of this part.
    public mutating func add(continuation other: FoldedParseReport) {
        var shifted = other
        if let first = other.firstMalformed { shifted.firstMalformed = (first.source, lines + first.line) }
        add(shifted)
    }

    /// "3 malformed lines skipped (first: perf.folded:17)", or nil when there were none.
    public var malformedSummary: String? {
        guard malformedLines > 0, let first = firstMalformed else { return nil }
        let noun = malformedLines == 1 ? "line" : "lines"
        return "\(malformedLines) malformed \(noun) (first: \(first.source):\(first.line))"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.lines == b.lines && a.stackLines == b.stackLines
            && a.differentialLines == b.differentialLines && a.malformedLines == b.malformedLines
            && a.firstMalformedSource == b.firstMalformedSource
            && a.firstMalformedLine == b.firstMalformedLine
    }
}

/// An input that could not be read, or does not parse: one line that says where.
public struct ProfileInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Parses collapsed ("folded") stacks the way the ecosystem writes them:
/// `root;caller;leaf COUNT`, the count after the last run of whitespace, integer or
/// fractional; `stack BEFORE AFTER` for differential lines; blank lines and `#`
/// comments skipped; CRLF tolerated; any other bytes belong to frame names.
public enum FoldedParser {
    /// Classifies one line (without its `\n`).
    public static func parseLine(_ line: UnsafeBufferPointer<UInt8>) -> FoldedLineKind {
        guard let bytes = line.baseAddress else { return .ignorable }
        var end = line.count
        while end > 0, isBlank(bytes[end - 1]) { end -= 1 }
        if end == 0 { return .ignorable }
        var first = 0
        while isBlank(bytes[first]) { first += 1 }
        if bytes[first] == UInt8(ascii: "#") { return .ignorable }

        guard let (count, countStart) = trailingNumber(bytes, end: end) else { return .malformed }
        let stackEnd = trimmedEnd(bytes, countStart)
        if stackEnd == 0 { return .malformed }
        // A second number before the count makes a differential line, as long as a
        // stack remains in front of it (flamegraph.pl reads these lines the same way).
        if let (before, beforeStart) = trailingNumber(bytes, end: stackEnd) {
            let differentialEnd = trimmedEnd(bytes, beforeStart)
            if differentialEnd > 0 {
                return .stack(FoldedLine(stackLength: differentialEnd, count: count, before: before))
            }
        }
        return .stack(FoldedLine(stackLength: stackEnd, count: count))
    }

    /// Classifies one line given as bytes.
    public static func parseLine<Bytes: Collection>(_ line: Bytes) -> FoldedLineKind
    where Bytes.Element == UInt8 {
        let copy = Array(line)
        return copy.withUnsafeBufferPointer { parseLine($0) }
    }

    /// Splits a stack into its frames (on `;`).
    public static func frames(of stack: UnsafeBufferPointer<UInt8>) -> [UnsafeBufferPointer<UInt8>] {
        stack.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).map {
            UnsafeBufferPointer(rebasing: $0)
        }
    }

    /// Calls `body` with every line of `path` (`-` reads standard input) and its 1-based
    /// number. The line excludes its `\n`. Reads in chunks, so memory stays small.
    public static func forEachLine(
        inFile path: String,
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void
    ) throws {
        let reader = try FoldedLineReader(path: path)
        while let line = try reader.next() { try body(line, reader.lineNumber) }
    }

    // MARK: - Pieces

    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    /// The end of `bytes[0..<end]` with trailing whitespace removed.
    @inline(__always)
    static func trimmedEnd(_ bytes: UnsafePointer<UInt8>, _ end: Int) -> Int {
        var end = end
        while end > 0, isBlank(bytes[end - 1]) { end -= 1 }
        return end
    }

    /// The decimal number that ends `bytes[0..<end]`, if whitespace precedes it, and where it starts.
    static func trailingNumber(_ bytes: UnsafePointer<UInt8>, end: Int) -> (Double, Int)? {
        var start = end
        while start > 0, isDigit(bytes[start - 1]) || bytes[start - 1] == UInt8(ascii: ".") {
            start -= 1
        }
        guard start < end, start > 0, isBlank(bytes[start - 1]),
            let value = parseCount(UnsafeBufferPointer(start: bytes + start, count: end - start))
        else { return nil }
        return (value, start)
    }

    /// Parses `123`, `12.5`, `12.` or `.5` (digits and at most one dot, at least one digit).
    static func parseCount(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        var integer: UInt64 = 0
        var index = 0
        while index < text.count, isDigit(text[index]), index < 18 {
            integer = integer * 10 + UInt64(text[index] &- 0x30)
            index += 1
        }
        if index == text.count { return Double(integer) }
        var dots = 0
        var digits = 0
        for byte in text {
            if byte == UInt8(ascii: ".") { dots += 1 } else if isDigit(byte) { digits += 1 } else { return nil }
        }
        guard dots <= 1, digits > 0 else { return nil }
        var literal = String(decoding: text, as: UTF8.self)
        if literal.hasPrefix(".") { literal = "0" + literal }
        if literal.hasSuffix(".") { literal += "0" }
        guard let value = Double(literal), value <= maximumCount else { return nil }
        return value
    }

    /// The largest count a line may have: any file's counts then add up to a finite total
    /// (a file of 10¹⁸ such lines would be needed to pass a double's range). A larger count
    /// (as much as 10³⁰⁹ would read as infinity) makes its line malformed.
    public static let maximumCount = 1e300

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// Strict UTF-8 decoding one scalar at a time, for names that may hold any bytes.
public enum UTF8Scalar {
    /// The scalar starting at `index` and its length in bytes, or nil when the bytes there
    /// are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
    @inline(__always)
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int)? {
        let lead = bytes[index]
        if lead < 0x80 { return (UInt32(lead), 1) }
        let length: Int
        var scalar: UInt32
        let minimum: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; scalar = UInt32(lead & 0x1F); minimum = 0x80
        case 0xE0...0xEF: length = 3; scalar = UInt32(lead & 0x0F); minimum = 0x800
        case 0xF0...0xF4: length = 4; scalar = UInt32(lead & 0x07); minimum = 0x10000
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
            return nil
        }
        return (scalar, length)
    }

    /// `\xNN`: how a byte that is not text is shown.
    public static func escaped(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [0x5C, 0x78, digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
    }
}
