/// The protobuf wire format, as much of it as pprof's `profile.proto` uses: varints, and
/// length-delimited fields (strings, packed numbers, nested messages).
///
/// Written by hand rather than generated with swift-protobuf: the schema is ten small
/// messages that do not change; a generated message tree would hold a second copy of every
/// sample before a byte is written (the writer here writes from the profile's tables); and
/// a hand-written decoder can say at which byte hostile input went wrong. docs/profiles.md
/// gives the costs weighed.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    @inline(__always)
    mutating func key(_ field: Int, _ wireType: ProtobufWireType) {
        varint(UInt64(field << 3 | Int(wireType.rawValue)))
    }

    /// A varint field; zero (the default) is left out, as proto3 does.
    @inline(__always)
    mutating func field(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        key(field, .varint)
        varint(value)
    }

    @inline(__always)
    mutating func field(_ field: Int, _ value: Int64) {
        self.field(field, UInt64(bitPattern: value))
    }

    mutating func field(_ field: Int, _ value: Bool) {
        self.field(field, UInt64(value ? 1 : 0))
    }

    /// A length-delimited field holding `content`.
    mutating func field(_ field: Int, bytes content: UnsafeBufferPointer<UInt8>) {
        key(field, .lengthDelimited)
        varint(UInt64(content.count))
        bytes.append(contentsOf: content)
    }

    /// A packed repeated varint field (nothing when empty).
    mutating func packed<Values: Collection>(_ field: Int, _ values: Values) where Values.Element == UInt64 {
        guard !values.isEmpty else { return }
        var length = 0
        for value in values { length += Self.varintSize(value) }
        key(field, .lengthDelimited)
        varint(UInt64(length))
        for value in values { varint(value) }
    }

    /// A nested message, written by `body` into `scratch` (kept by the caller to reuse
    /// its memory) and then copied in behind its length.
    mutating func message(_ field: Int, scratch: inout ProtobufWriter, _ body: (inout ProtobufWriter) -> Void) {
        scratch.bytes.removeAll(keepingCapacity: true)
        body(&scratch)
        key(field, .lengthDelimited)
        varint(UInt64(scratch.bytes.count))
        bytes.append(contentsOf: scratch.bytes)
    }

    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }
}

enum ProtobufWireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Reads protobuf fields from a byte range, checking every length against what is left, so
/// that hostile input ends in an error at a byte offset and never in a read past the end.
struct ProtobufReader {
    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var offset: Int
    let end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>? = nil) {
        self.bytes = bytes
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }

    /// A field's number, its wire type, and where its key started.
    struct Field {
        var number: Int
        var wireType: ProtobufWireType
        var start: Int
    }

    mutating func nextField() throws -> Field {
        let start = offset
        let key = try varint()
        guard let wireType = ProtobufWireType(rawValue: UInt8(key & 7)) else {
            throw ProtobufError(offset: start, "invalid wire type \(key & 7)")
        }
        let number = key >> 3
        guard number > 0, number < 1 << 29 else { throw ProtobufError(offset: start, "invalid field number \(number)") }
        return Field(number: Int(number), wireType: wireType, start: start)
    }

    @inline(__always)
    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = offset
        while true {
            guard offset < end else { throw ProtobufError(offset: start, "truncated varint") }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw ProtobufError(offset: start, "varint longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// The range of a length-delimited field's content (the offset moves past it).
    mutating func lengthDelimited() throws -> Range<Int> {
        let start = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw ProtobufError(offset: start, "length \(length) runs past the end of its message")
        }
        let range = offset..<offset + Int(length)
        offset = range.upperBound
        return range
    }

    /// The values of a repeated varint field, packed or not, appended to `values`.
    mutating func repeatedVarint(_ field: Field, into values: inout [UInt64]) throws {
        switch field.wireType {
        case .varint:
            values.append(try varint())
        case .lengthDelimited:
            let range = try lengthDelimited()
            var inner = ProtobufReader(bytes, range: range)
            while !inner.isAtEnd { values.append(try inner.varint()) }
        default:
            throw ProtobufError(offset: field.start, "field \(field.number) should hold integers")
        }
    }

    /// A varint field's value, checking its wire type.
    mutating func varintField(_ field: Field) throws -> UInt64 {
        guard field.wireType == .varint else {
            throw ProtobufError(offset: field.start, "field \(field.number) should be an integer")
        }
        return try varint()
    }

    /// A length-delimited field's content range, checking its wire type.
    mutating func lengthDelimitedField(_ field: Field) throws -> Range<Int> {
        guard field.wireType == .lengthDelimited else {
            throw ProtobufError(offset: field.start, "field \(field.number) should be length-delimited")
        }
        return try lengthDelimited()
    }

    /// Skips a field this reader does not use.
    mutating func skip(_ field: Field) throws {
        switch field.wireType {
        case .varint: _ = try varint()
        case .fixed64: try advance(8, from: field.start)
        case .fixed32: try advance(4, from: field.start)
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup:
            throw ProtobufError(offset: field.start, "groups are not used by profile.proto")
        }
    }

    private mutating func advance(_ count: Int, from start: Int) throws {
        guard end - offset >= count else { throw ProtobufError(offset: start, "truncated field") }
        offset += count
    }
}

/// A protobuf that does not parse, and where.
struct ProtobufError: Error {
    var offset: Int
    var message: String
    init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }
}
