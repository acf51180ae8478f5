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
        var symbols: [Symbol] = []
        var sawNonZero = false
        for line in text.split(separator: "\n") {
            // ffffffff81000000 T _stext
            // ffffffffc0a01000 t ext4_fill_super	[ext4]
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16) else { continue }
            guard let type = fields[1].first, "tTwW".contains(type) else { continue }
            let name = fields[2]
            if name.hasPrefix("__pfx_") || name.hasPrefix("__cfi_") { continue }
            if address != 0 { sawNonZero = true }
            var full = String(name)
            if fields.count >= 4 { full += " " + fields[3] }  // "[module]"
            symbols.append(Symbol(address: address, name: full))
        }
        addressesVisible = sawNonZero
        self.symbols = sawNonZero ? symbols.sorted { $0.address < $1.address } : []
    }

    /// Reads /proc/kallsyms.
    public static func load() -> KernelSymbols {
        KernelSymbols(parsing: (try? readWholeFile("/proc/kallsyms")).map { String(decoding: $0, as: UTF8.self) } ?? "")
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
