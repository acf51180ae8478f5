#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-string helpers for the hot paths of reading and tree building (hashing and comparing
/// names that live in input buffers, without making Strings).
public enum ByteString {
    /// Bytes as text: valid UTF-8 as is, each invalid byte shown as `\xNN`, so that distinct
    /// names stay distinct and nothing is silently lost.
    public static func text(of bytes: UnsafeBufferPointer<UInt8>) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var name = ""
        var index = 0
        while index < bytes.count {
            if let (scalar, length) = UTF8Scalar.decode(bytes, at: index) {
                name.unicodeScalars.append(Unicode.Scalar(scalar)!)
                index += length
            } else {
                name += UTF8Scalar.escaped(bytes[index])
                index += 1
            }
        }
        return name
    }

    /// A fast 64-bit hash of `count` bytes at `start`, eight bytes per step.
    @inline(__always)
    public static func hash(_ start: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        let raw = UnsafeRawPointer(start)
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
        var offset = 0
        while offset + 8 <= count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            hash = (hash ^ word) &* 0xFF51_AFD7_ED55_8CCD
            hash ^= hash >> 29
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < count {
            tail |= UInt64(start[offset]) << shift
            shift += 8
            offset += 1
        }
        hash = (hash ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 32
        return hash
    }

    /// Equality of two byte ranges of the same length, compared inline a word at a time
    /// (names are short: a call to memcmp costs more than the comparison).
    @inline(__always)
    public static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        var offset = 0
        while offset + 8 <= count {
            if rawA.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                != rawB.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            {
                return false
            }
            offset += 8
        }
        while offset < count {
            if a[offset] != b[offset] { return false }
            offset += 1
        }
        return true
    }

    /// The length of the common prefix of two byte ranges.
    @inline(__always)
    public static func commonPrefix(
        _ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int
    ) -> Int {
        let limit = min(aCount, bCount)
        let rawA = UnsafeRawPointer(a)
        let rawB = UnsafeRawPointer(b)
        var index = 0
        while index + 8 <= limit {
            let x = rawA.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let y = rawB.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if x != y {
                #if _endian(big)
                return index + (x ^ y).leadingZeroBitCount / 8
                #else
                return index + (x ^ y).trailingZeroBitCount / 8
                #endif
            }
            index += 8
        }
        while index < limit, a[index] == b[index] { index += 1 }
        return index
    }

    /// Byte-wise ordering, shorter first on a tie (the order `sort` gives folded lines).
    @inline(__always)
    public static func precedes(
        _ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int
    ) -> Bool {
        let shared = min(aCount, bCount)
        if shared > 0 {
            let order = memcmp(a, b, shared)
            if order != 0 { return order < 0 }
        }
        return aCount < bCount
    }

    /// The order of stacks frame by frame, as ember writes them (other tools sort by bytes):
    /// byte-wise, except that `;` (the end of a frame) comes before every other byte.
    @inline(__always)
    public static func stackPrecedes(
        _ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int
    ) -> Bool {
        let shared = commonPrefix(a, aCount, b, bCount)
        if shared == aCount || shared == bCount { return aCount < bCount }
        let x = a[shared], y = b[shared]
        if x == UInt8(ascii: ";") || y == UInt8(ascii: ";") { return x == UInt8(ascii: ";") }
        return x < y
    }
}
