import CLibElf
import EmberELF
#if canImport(Glibc)
import Glibc
#endif

/// Symbols for an x86-64 file's PLT entries, which have none of their own: without them a
/// sample in a call's PLT stub is named after the symbol before the PLT (`_init`, the end
/// of `.init`). Each entry is named `target@plt`, as perf names it.
///
/// An entry is recognised by what it does, not by its position: `jmp *GOT(%rip)` (after an
/// `endbr64` and a `bnd` prefix in `.plt.sec`), and the GOT slot it jumps through is the
/// target of a relocation (`R_X86_64_JUMP_SLOT` for `.plt` and `.plt.sec`, `GLOB_DAT` for
/// `.plt.got`) that names the symbol. This holds for lazy and eager binding, with and
/// without IBT, whatever order the linker laid the entries in. `.plt`'s first entry (the
/// resolver's) and IBT's `.plt` entries (which jump to it) match no relocation: unnamed.
enum PLTEntries {
    static let sections = [".plt", ".plt.sec", ".plt.got"]

    static func symbols(of file: ELFFile, file index: UInt16) -> [ELFSymbolTable.Symbol] {
        var header = GElf_Ehdr()
        guard gelf_getehdr(file.elf, &header) != nil, header.e_machine == EM_X86_64 else { return [] }
        let slots = relocatedSlots(file.elf)
        guard !slots.isEmpty else { return [] }
        var symbols: [ELFSymbolTable.Symbol] = []
        for name in sections {
            guard let (section, sectionHeader) = file.section(named: name), sectionHeader.sh_type == SHT_PROGBITS,
                  let data = elf_getdata(section, nil), let buffer = data.pointee.d_buf
            else { continue }
            let bytes = UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)
            let entrySize = [8, 16].contains(sectionHeader.sh_entsize) ? Int(sectionHeader.sh_entsize) : 16
            for start in stride(from: 0, to: bytes.count - entrySize + 1, by: entrySize) {
                let address = sectionHeader.sh_addr &+ UInt64(start)
                guard let slot = jumpSlot(bytes, entry: start, size: entrySize, address: address),
                      var reference = slots[slot]
                else { continue }
                reference.file = index
                symbols.append(ELFSymbolTable.Symbol(address: address, size: UInt64(entrySize), name: reference, rank: 3))
            }
        }
        return symbols
    }

    /// The GOT slot an entry jumps through: the first `ff 25 disp32` in its first bytes
    /// (after `endbr64`, `bnd`), relative to the next instruction.
    static func jumpSlot(_ bytes: UnsafeRawBufferPointer, entry: Int, size: Int, address: UInt64) -> UInt64? {
        for position in 0...min(size - 6, 5) {
            guard bytes[entry + position] == 0xff, bytes[entry + position + 1] == 0x25 else { continue }
            var displacement: Int32 = 0
            for byte in 0..<4 { displacement |= Int32(bytes[entry + position + 2 + byte]) << (8 * byte) }
            return (address &+ UInt64(position + 6)) &+ UInt64(bitPattern: Int64(displacement))
        }
        return nil
    }

    /// GOT slot → the name of the symbol its relocation binds (JUMP_SLOT, GLOB_DAT).
    static func relocatedSlots(_ elf: OpaquePointer) -> [UInt64: ELFSymbolTable.NameReference] {
        var slots: [UInt64: ELFSymbolTable.NameReference] = [:]
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_type == SHT_RELA, header.sh_entsize > 0,
                  let data = elf_getdata(current, nil),
                  let symbolSection = elf_getscn(elf, Int(header.sh_link))
            else { continue }
            var symbolHeader = GElf_Shdr()
            guard gelf_getshdr(symbolSection, &symbolHeader) != nil, symbolHeader.sh_type == SHT_DYNSYM,
                  let symbolData = elf_getdata(symbolSection, nil)
            else { continue }
            var relocation = GElf_Rela()
            var symbol = GElf_Sym()
            for index in 0..<Int(header.sh_size / header.sh_entsize) {
                guard gelf_getrela(data, Int32(index), &relocation) != nil else { continue }
                let type = UInt32(truncatingIfNeeded: relocation.r_info)
                guard type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT,
                      gelf_getsym(symbolData, Int32(truncatingIfNeeded: relocation.r_info >> 32), &symbol) != nil,
                      symbol.st_name != 0
                else { continue }
                slots[relocation.r_offset] = ELFSymbolTable.NameReference(
                    file: 0, section: symbolHeader.sh_link, offset: symbol.st_name, isPLTEntry: true)
            }
        }
        return slots
    }
}
