import CLibElf
import EmberELF
#if canImport(Glibc)
import Glibc
#endif

/// Tells whether a binary was built with frame pointers, from its functions' prologues:
/// `push %rbp; mov %rsp,%rbp` (after an optional `endbr64`). Used by `--unwind auto` to
/// pick frame-pointer stacks (cheap, counted in the kernel) where they are complete and
/// DWARF unwinding where they are not.
public enum FramePointerDetector {
    /// The share of the binary's sized functions that set up a frame pointer, or nil if it
    /// cannot be read or has no function symbols.
    public static func framePointerShare(path: String) -> Double? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = elf_version(UInt32(EV_CURRENT))
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else { return nil }
        defer { elf_end(elf) }

        var functions = 0
        var framed = 0
        for table in ELFSymbolSection.all(in: elf) {
            var symbol = GElf_Sym()
            for index in 0..<table.count {
                guard table.read(index, into: &symbol),
                      Int32(symbol.st_info & 0xf) == STT_FUNC, symbol.st_size >= 16,
                      symbol.st_shndx != SHN_UNDEF, Int32(symbol.st_shndx) < Int32(SHN_LORESERVE),
                      let name = table.name(of: symbol),
                      !startupCode.contains(String(cString: name)),
                      let prologue = bytes(elf, section: Int(symbol.st_shndx), address: symbol.st_value)
                else { continue }
                functions += 1
                if setsUpFramePointer(prologue) { framed += 1 }
            }
            if table.type == SHT_SYMTAB && functions > 0 { break }  // .dynsym repeats it
        }
        return functions > 0 ? Double(framed) / Double(functions) : nil
    }

    /// Whether a binary's functions mostly keep frame pointers (gcc's leaves never do, so
    /// a frame-pointer build shows well under 100%).
    public static func usesFramePointers(path: String) -> Bool? {
        framePointerShare(path: path).map { $0 >= 0.3 }
    }

    /// The C runtime's start-up code linked into every executable, built without frame
    /// pointers whatever the program's flags: left out so small programs are judged by
    /// their own code.
    static let startupCode: Set<String> = [
        "_start", "_init", "_fini", "deregister_tm_clones", "register_tm_clones",
        "__do_global_dtors_aux", "frame_dummy", "__libc_csu_init", "__libc_csu_fini",
    ]

    /// `push %rbp` first, then `mov %rsp,%rbp` within the next few instructions (gcc
    /// schedules argument set-up between them). With -fomit-frame-pointer, rbp is an
    /// ordinary register that may be pushed first too, but is not then set from rsp.
    public static func setsUpFramePointer(_ code: [UInt8]) -> Bool {
        var code = code[...]
        if code.starts(with: [0xf3, 0x0f, 0x1e, 0xfa]) { code = code.dropFirst(4) }  // endbr64
        guard code.first == 0x55 else { return false }  // push %rbp
        let rest = Array(code.dropFirst())
        let move: [UInt8] = [0x48, 0x89, 0xe5]  // mov %rsp,%rbp
        return rest.indices.contains { rest[$0...].starts(with: move) }
    }

    private static let prologueBytes: UInt64 = 16

    private static func bytes(_ elf: OpaquePointer, section index: Int, address: UInt64) -> [UInt8]? {
        guard let section = elf_getscn(elf, index) else { return nil }
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil, header.sh_type == SHT_PROGBITS,
              address >= header.sh_addr, address + prologueBytes <= header.sh_addr + header.sh_size,
              let data = elf_getdata(section, nil), let buffer = data.pointee.d_buf
        else { return nil }
        let offset = Int(address - header.sh_addr)
        guard offset + Int(prologueBytes) <= data.pointee.d_size else { return nil }
        return Array(UnsafeRawBufferPointer(start: buffer + offset, count: Int(prologueBytes)))
    }
}
