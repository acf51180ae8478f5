import CLibElf
import EmberELF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// The function symbols of one ELF file (`.symtab` and `.dynsym`), sorted by address,
/// and its loadable segments, which map file offsets to the addresses symbols use.
///
/// libdw's `dwfl_module_addrname` scans every symbol on each call; this table is read
/// once with libelf and binary-searched instead.
///
/// Names stay in the files' string tables (read through libelf's mapping of the file, so
/// the table keeps its files open) and become Strings only for the symbols asked for: a
/// large C++ or Swift binary has hundreds of thousands of long function names, of which a
/// profile names a few hundred, and a String each costs several times the name's bytes.
public final class ELFSymbolTable: @unchecked Sendable {
    struct Symbol {
        var address: UInt64
        var size: UInt64
        var name: NameReference
        /// Lower is preferred among aliases: global, then weak, then local.
        var rank: UInt8
    }

    /// Where a symbol's name is: which of the table's files, its string table's section
    /// index, and the offset in it; a PLT entry's is its target's, named `target@plt`.
    struct NameReference {
        var file: UInt16
        var section: UInt32
        var offset: UInt32
        var isPLTEntry = false
    }

    struct Segment {
        var fileOffset: UInt64
        var fileSize: UInt64
        var virtualAddress: UInt64
        var memorySize: UInt64
    }

    // Parallel arrays: the binary search touches only the contiguous addresses, not
    // structures holding Strings (which cost a retain and a cache miss per probe).
    private let addresses: [UInt64]
    /// Every 32nd address: small enough to stay in cache, it narrows the search to one
    /// stretch of 32 before `addresses` itself is touched (about 4 cache misses, not 18).
    private let sparse: [UInt64]
    private static let stride = 32
    private let sizes: [UInt64]
    private let names: [NameReference]
    private let segments: [Segment]
    /// The files the names are read from.
    private let files: [ELFFile]

    /// The number of function symbols.
    public var count: Int { addresses.count }

    /// Reads the ELF file at `path`.
    public convenience init(path: String) throws {
        self.init(files: [try ELFFile(path: path)])
    }

    /// Reads the ELF file open at `fileDescriptor` (which stays open; the caller owns it).
    public convenience init(fileDescriptor: Int32, name: String) throws {
        try self.init(path: "/proc/self/fd/\(fileDescriptor)")
    }

    /// The symbols of a file and of the files that complete it (a separate debug file's
    /// .symtab, MiniDebugInfo's), merged; segments come from the first file, the one mapped.
    init(files: [ELFFile]) {
        segments = files.first.map { Self.readLoadSegments($0.elf) } ?? []
        self.files = files
        var all: [Symbol] = []
        for (index, file) in files.enumerated() where index <= Int(UInt16.max) {
            all += Self.readFunctionSymbols(file.elf, file: UInt16(index))
        }
        // The PLT is code of the mapped file only (a debug file's is NOBITS).
        if let first = files.first { all += PLTEntries.symbols(of: first, file: 0) }
        let symbols = Self.uniqued(all, files: files)
        let addresses = symbols.map(\.address)
        self.addresses = addresses
        sparse = Swift.stride(from: 0, to: addresses.count, by: Self.stride).map { addresses[$0] }
        sizes = symbols.map(\.size)
        names = symbols.map(\.name)
    }

    private static func readLoadSegments(_ elf: OpaquePointer) -> [Segment] {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { return [] }
        var segments: [Segment] = []
        for index in 0..<count {
            var header = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(index), &header) != nil, header.p_type == PT_LOAD else { continue }
            segments.append(Segment(fileOffset: header.p_offset, fileSize: header.p_filesz,
                                    virtualAddress: header.p_vaddr, memorySize: header.p_memsz))
        }
        return segments
    }

    private static func readFunctionSymbols(_ elf: OpaquePointer, file: UInt16) -> [Symbol] {
        var symbols: [Symbol] = []
        for table in ELFSymbolSection.all(in: elf) {
            symbols.reserveCapacity(symbols.count + table.count)
            var symbol = GElf_Sym()
            for index in 0..<table.count {
                guard table.read(index, into: &symbol) else { continue }
                let type = Int32(symbol.st_info & 0xf)
                // elf_strptr checks that the name lies inside its section, ending there.
                guard type == STT_FUNC || type == STT_GNU_IFUNC,
                      symbol.st_shndx != SHN_UNDEF, symbol.st_value != 0,
                      let name = table.name(of: symbol),
                      name.pointee != 0
                else { continue }
                let binding = Int32(symbol.st_info >> 4)
                let rank: UInt8 = binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2
                let reference = NameReference(file: file, section: UInt32(table.stringSection), offset: symbol.st_name)
                symbols.append(Symbol(address: symbol.st_value, size: symbol.st_size, name: reference, rank: rank))
            }
        }
        return symbols
    }

    private static func uniqued(_ input: [Symbol], files: [ELFFile]) -> [Symbol] {
        var symbols = input
        // .symtab and .dynsym repeat each other, and aliases share addresses: keep one
        // symbol per address, preferring one with a size, then the most visible binding,
        // then the first name in byte order.
        symbols.sort {
            if $0.address != $1.address { return $0.address < $1.address }
            if ($0.size > 0) != ($1.size > 0) { return $0.size > 0 }
            if $0.rank != $1.rank { return $0.rank < $1.rank }
            guard let first = namePointer($0.name, in: files), let second = namePointer($1.name, in: files) else {
                return false
            }
            return strcmp(first, second) < 0
        }
        var unique: [Symbol] = []
        unique.reserveCapacity(symbols.count)
        for symbol in symbols where unique.last?.address != symbol.address {
            unique.append(symbol)
        }
        return unique
    }

    /// The address symbols use for the byte at `fileOffset` in the file, from the PT_LOAD
    /// segment containing it (this is where the load bias comes from).
    public func virtualAddress(forFileOffset fileOffset: UInt64) -> UInt64? {
        for segment in segments
        where fileOffset >= segment.fileOffset && fileOffset < segment.fileOffset + max(segment.fileSize, 1) {
            return fileOffset - segment.fileOffset + segment.virtualAddress
        }
        return nil
    }

    /// The function containing `address` (an address as the file's symbols use them),
    /// and how far into it the address is.
    public func lookup(_ address: UInt64) -> (name: String, offset: UInt64)? {
        guard let index = index(containing: address) else { return nil }
        return (name(at: index), address - addresses[index])
    }

    /// The index of the symbol containing `address`, for callers that cache per symbol.
    func index(containing address: UInt64) -> Int? {
        let found: Int = addresses.withUnsafeBufferPointer { table in
            // The stretch: the last sparse entry at or below the address.
            var low = 0
            var high = sparse.count
            sparse.withUnsafeBufferPointer { coarse in
                while low < high {
                    let mid = (low + high) &>> 1
                    if coarse[mid] <= address { low = mid + 1 } else { high = mid }
                }
            }
            guard low > 0 else { return -1 }
            high = min(low * Self.stride, table.count)
            low = (low - 1) * Self.stride
            while low < high {
                let mid = (low + high) &>> 1
                if table[mid] <= address { low = mid + 1 } else { high = mid }
            }
            return low - 1
        }
        guard found >= 0 else { return nil }
        let offset = address - addresses[found]
        let size = sizes[found]
        // A sized symbol must contain the address; an unsized one (hand-written assembly)
        // covers up to the next symbol, but not past the end of its segment.
        if size > 0 {
            if offset >= size { return nil }
        } else if let segment = segments.first(where: {
            addresses[found] >= $0.virtualAddress && addresses[found] < $0.virtualAddress + $0.memorySize
        }), address >= segment.virtualAddress + segment.memorySize {
            return nil
        }
        return found
    }

    func name(at index: Int) -> String {
        let name = Self.namePointer(names[index], in: files).map { String(cString: $0) } ?? ""
        return names[index].isPLTEntry ? name + "@plt" : name
    }

    private static func namePointer(_ name: NameReference, in files: [ELFFile]) -> UnsafeMutablePointer<CChar>? {
        elf_strptr(files[Int(name.file)].elf, Int(name.section), Int(name.offset))
    }
}
