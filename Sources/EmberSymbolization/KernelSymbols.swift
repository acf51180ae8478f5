import EmberSystem

/// The kernel's function symbols, from /proc/kallsyms, sorted for binary search.
///
/// kallsyms has over 100k text symbols and ember reads it at every start, so the names stay
/// bytes in one buffer and only the names of sampled addresses become Strings.
public struct KernelSymbols: Sendable {
    struct Symbol {
        var address: UInt64
        /// The name's bytes in `names`: "function" or "function [module]".
        var nameStart: UInt32
        var nameLength: UInt32
    }

    private var symbols: [Symbol]
    private var names: [UInt8]
    /// Whether kallsyms listed addresses; with `kernel.kptr_restrict` set they all read as zero.
    public let addressesVisible: Bool

    /// Parses the text of /proc/kallsyms, keeping text (function) symbols, named as
    /// ``functionName(_:)`` says; of aliases (one address), the first, as the kernel's own
    /// lookup names them.
    public init(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    public init(parsing bytes: [UInt8]) {
        var symbols: [Symbol] = []
        var names: [UInt8] = []
        names.reserveCapacity(bytes.count / 2)
        var sawNonZero = false
        var sorted = true
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
                var digits = 0
                while cursor < lineEnd, let digit = hexValue(buffer[cursor]) {
                    address = address << 4 | UInt64(digit)
                    cursor += 1
                    digits += 1
                }
                guard digits <= 16, cursor + 3 < lineEnd, buffer[cursor] == 32, buffer[cursor + 2] == 32
                else { continue }
                switch buffer[cursor + 1] {
                case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W"): break
                default: continue
                }
                var nameStart = cursor + 3
                var nameEnd = nameStart
                while nameEnd < lineEnd && buffer[nameEnd] != 9 && buffer[nameEnd] != 32 { nameEnd += 1 }
                nameStart += Self.aliasPrefixLength(UnsafeBufferPointer(rebasing: buffer[nameStart..<nameEnd]))
                let name = UnsafeBufferPointer(rebasing: buffer[nameStart..<nameEnd])
                if address != 0 { sawNonZero = true }
                if let last = symbols.last {
                    if last.address == address { continue }
                    if last.address > address { sorted = false }
                }
                let start = names.count
                names.append(contentsOf: name)
                var moduleStart = nameEnd
                while moduleStart < lineEnd && (buffer[moduleStart] == 9 || buffer[moduleStart] == 32) {
                    moduleStart += 1
                }
                if moduleStart < lineEnd {  // "[module]"
                    names.append(32)
                    names.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[moduleStart..<lineEnd]))
                }
                guard names.count <= Int(UInt32.max) else { return }
                symbols.append(Symbol(address: address, nameStart: UInt32(start),
                                      nameLength: UInt32(names.count - start)))
            }
        }
        addressesVisible = sawNonZero
        if !sawNonZero {
            symbols = []
            names = []
        } else if !sorted {
            // Stable: the first alias stays first.
            symbols = symbols.enumerated().sorted { ($0.element.address, $0.offset) < ($1.element.address, $1.offset) }
                .map(\.element)
            var unique: [Symbol] = []
            unique.reserveCapacity(symbols.count)
            for symbol in symbols where unique.last?.address != symbol.address { unique.append(symbol) }
            symbols = unique
        }
        self.symbols = symbols
        self.names = names
    }

    /// The function a kernel symbol stands for. The padding before a function
    /// (`__pfx_name`, where call-depth accounting code runs) and its CFI type hash
    /// (`__cfi_name`) belong to it; `__pi_name` is the early boot code's alias of `name`.
    public static func functionName(_ symbol: String) -> String {
        let length = Array(symbol.utf8).withUnsafeBufferPointer { aliasPrefixLength($0) }
        return length == 0 ? symbol : String(symbol.utf8.dropFirst(length))!
    }

    /// The length of the prefixes ``functionName(_:)`` drops.
    private static func aliasPrefixLength(_ name: UnsafeBufferPointer<UInt8>) -> Int {
        var length = 0
        if hasPrefix(name, "__pfx_", at: 0) || hasPrefix(name, "__cfi_", at: 0) { length = 6 }
        if hasPrefix(name, "__pi_", at: length) { length += 5 }
        return length
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
        guard low > 0 else { return nil }
        let symbol = symbols[low - 1]
        let start = Int(symbol.nameStart)
        return String(decoding: names[start..<start + Int(symbol.nameLength)], as: UTF8.self)
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

private func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: StaticString, at start: Int) -> Bool {
    guard bytes.count - start > prefix.utf8CodeUnitCount else { return false }  // a name remains
    for i in 0..<prefix.utf8CodeUnitCount where bytes[start + i] != prefix.utf8Start[i] { return false }
    return true
}

/// Names kernel addresses another way than /proc/kallsyms: the kernel's own symbol lookup,
/// which a recording reaches through BPF (the Symbolizer does not load BPF programs itself).
public struct KernelNameSource {
    /// What the source says of one address.
    public enum Answer: Equatable, Sendable {
        /// "function" or "function [module]".
        case function(String)
        /// No symbol holds the address.
        case noFunction
        /// The source could not say (kallsyms is asked instead).
        case unanswered
    }

    /// Answers for a batch of addresses, in their order.
    public var names: ([UInt64]) -> [Answer]

    public init(names: @escaping ([UInt64]) -> [Answer]) {
        self.names = names
    }
}
