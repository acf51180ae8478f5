/// The strings of a profile, each stored once as bytes and named by its index, as pprof's
/// `string_table` does (index 0 is the empty string). Names come from anywhere (symbol
/// tables, other tools' files), so they are bytes, not necessarily UTF-8; they are interned
/// straight from input buffers without making a `String` for each.
public struct StringTable: Sendable {
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]
    private var lengths: [Int32] = [0]
    private var hashes: [UInt32] = [0]
    /// Open addressing: `(id + 1) << 32 | hash` per slot, 0 when empty, so that a probe
    /// reads the strings' bytes only when the hashes match.
    private var slots = [UInt64](repeating: 0, count: 1024)

    public init() {
        insertIntoSlots(0)
    }

    /// The number of strings (the empty string included).
    public var count: Int { starts.count }

    /// The id of the string made of `text`'s bytes, added if new.
    public mutating func intern(_ text: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let base = text.baseAddress, !text.isEmpty else { return 0 }
        let hash = UInt32(truncatingIfNeeded: ByteString.hash(base, text.count))
        if let existing = find(base, text.count, hash: hash) { return existing }
        let id = Int32(starts.count)
        starts.append(bytes.count)
        lengths.append(Int32(text.count))
        hashes.append(hash)
        bytes.append(contentsOf: text)
        if (starts.count + 1) * 2 > slots.count { grow() } else { insertIntoSlots(id) }
        return id
    }

    /// The id of `text`, added if new.
    public mutating func intern(_ text: String) -> Int32 {
        var text = text
        return text.withUTF8 { intern($0) }
    }

    /// The id of `text` if it is in the table.
    public func id(of text: String) -> Int32? {
        var text = text
        return text.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, !utf8.isEmpty else { return 0 }
            return find(base, utf8.count, hash: UInt32(truncatingIfNeeded: ByteString.hash(base, utf8.count)))
        }
    }

    /// The string `id` names as text; bytes that are not UTF-8 are shown as `\xNN`.
    public subscript(id: Int32) -> String {
        withBytes(of: id) { ByteString.text(of: $0) }
    }

    /// Calls `body` with the bytes of string `id`.
    @inline(__always)
    public func withBytes<R>(of id: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let start = starts[Int(id)]
        let count = Int(lengths[Int(id)])
        return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<start + count])) }
    }

    /// The length of string `id` in bytes.
    public func byteCount(of id: Int32) -> Int { Int(lengths[Int(id)]) }

    private func find(_ text: UnsafePointer<UInt8>, _ count: Int, hash: UInt32) -> Int32? {
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var slot = Self.slot(of: hash, mask: mask)
            while true {
                let entry = slots[slot]
                if entry == 0 { return nil }
                if UInt32(truncatingIfNeeded: entry) == hash {
                    let id = Int(entry >> 32) - 1
                    if Int(lengths[id]) == count,
                       bytes.withUnsafeBufferPointer({ ByteString.equal($0.baseAddress! + starts[id], text, count) }) {
                        return Int32(id)
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(__always)
    private static func slot(of hash: UInt32, mask: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(hash) &* 0x9E37_79B9_7F4A_7C15 >> 32) & mask
    }

    private mutating func insertIntoSlots(_ id: Int32) {
        let mask = slots.count - 1
        let hash = hashes[Int(id)]
        var slot = Self.slot(of: hash, mask: mask)
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = UInt64(id + 1) << 32 | UInt64(hash)
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        for id in 0..<Int32(starts.count) { insertIntoSlots(id) }
    }
}
