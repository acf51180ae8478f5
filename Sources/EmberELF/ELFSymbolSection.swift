import CLibElf

/// One symbol table of an ELF file (`.symtab` or `.dynsym`): its symbols by index, and
/// their names. elf_strptr checks that a name lies inside its string section.
public struct ELFSymbolSection {
    /// `SHT_SYMTAB` or `SHT_DYNSYM`.
    public let type: UInt32
    /// How many symbols it holds.
    public let count: Int
    /// The index of the section its names are in.
    public let stringSection: Int
    private let elf: OpaquePointer
    private let data: UnsafeMutablePointer<Elf_Data>

    /// The symbol tables of `elf`, in section order.
    public static func all(in elf: OpaquePointer) -> [ELFSymbolSection] {
        var tables: [ELFSymbolSection] = []
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil,
                  header.sh_type == SHT_SYMTAB || header.sh_type == SHT_DYNSYM, header.sh_entsize > 0,
                  let data = elf_getdata(current, nil)
            else { continue }
            tables.append(ELFSymbolSection(type: header.sh_type, count: Int(header.sh_size / header.sh_entsize),
                                           stringSection: Int(header.sh_link), elf: elf, data: data))
        }
        return tables
    }

    /// Reads symbol `index` into `symbol`; false if it cannot be read.
    public func read(_ index: Int, into symbol: inout GElf_Sym) -> Bool {
        gelf_getsym(data, Int32(index), &symbol) != nil
    }

    /// The name of `symbol`, or nil where it does not lie in the string section.
    public func name(of symbol: GElf_Sym) -> UnsafeMutablePointer<CChar>? {
        elf_strptr(elf, stringSection, Int(symbol.st_name))
    }
}
