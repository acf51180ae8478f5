import EmberSystem

/// The kernel's function symbols, from /proc/kallsyms, sorted for binary search.
public struct KernelSymbols: Sendable {
    struct Symbol {
        var address: UInt64
        var name: String
    }

    private var symbols: [Symbol]
    /// Whether kallsyms listed addresses; with `kernel.kptr_restrict` set they all read as zero.
    public let addressesVisible: Bool

    /// Parses the text of /proc/kallsyms, keeping text (function) symbols and skipping the
    /// `__pfx_`/`__cfi_` padding symbols the kernel adds before functions.
    public init(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    /// Parses kallsyms bytes: about 120k lines here, so no String is made for the lines
    /// that are skipped.
    public init(parsing bytes: [UInt8]) {
        var symbols: [Symbol] = []
        var sawNonZero = false
        bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            let end = buffer.count
            while index < end {
                var lineEnd = index
                while lineEnd < end && buffer[lineEnd] != 10 { lineEnd += 1 }
                defer { index = lineEnd + 1 }
                // ffffffff81000000 T _stext
                // ffffffffc0a01000 t ext4_fill_super\t[ext4]
                var cursor = index
                var address: UInt64 = 0
                while cursor < lineEnd, let digit = hexValue(buffer[cursor]) {
                    address = address << 4 | UInt64(digit)
                    cursor += 1
                }
                guard cursor + 3 < lineEnd, buffer[cursor] == 32, buffer[cursor + 2] == 32 else { continue }
                switch buffer[cursor + 1] {
                case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W"): break
                default: continue
                }
                let nameStart = cursor + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && buffer[nameEnd] != 9 && buffer[nameEnd] != 32 { nameEnd += 1 }
                let name = UnsafeBufferPointer(rebasing: buffer[nameStart..<nameEnd])
                if hasPrefix(name, "__pfx_") || hasPrefix(name, "__cfi_") { continue }
                if address != 0 { sawNonZero = true }
                var full = String(decoding: name, as: UTF8.self)
                var moduleStart = nameEnd
                while moduleStart < lineEnd && (buffer[moduleStart] == 9 || buffer[moduleStart] == 32) {
                    moduleStart += 1
                }
                if moduleStart < lineEnd {  // "[module]"
                    full += " " + String(decoding: UnsafeBufferPointer(rebasing: buffer[moduleStart..<lineEnd]),
                                         as: UTF8.self)
                }
                symbols.append(Symbol(address: address, name: full))
            }
        }
        addressesVisible = sawNonZero
        self.symbols = sawNonZero ? symbols.sorted { $0.address < $1.address } : []
    }

    /// Reads /proc/kallsyms.
    public static func load() -> KernelSymbols {
        KernelSymbols(parsing: (try? FileContents.read("/proc/kallsyms")) ?? [])
    }

    public var count: Int { symbols.count }

    /// The function containing `address` (the nearest symbol at or below it).
    public func name(of address: UInt64) -> String? {
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        return low > 0 ? symbols[low - 1].name : nil
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

private func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
    guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
    for i in 0..<prefix.utf8CodeUnitCount where bytes[i] != prefix.utf8Start[i] { return false }
    return true
}
