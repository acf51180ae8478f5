import EmberELF
import EmberSymbolization
import EmberUnwinding
import FuzzSupport
#if canImport(Glibc)
import Glibc
#endif

/// An ELF file (seeded with real binaries and mutated) through what `ember symbolize --elf`
/// does: symbol tables, debug links, DWARF inline chains and lines (compressed sections
/// inflated), at addresses across the file; and through `ember unwind-table`'s compile of
/// its call frame information. libelf and libdw read from a file, so each input is written
/// to one first.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = "/dev/shm/ember-fuzz-elf-\(getpid())"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    var written = 0
    while written < size {
        let count = write(fd, data! + written, size - written)
        if count <= 0 { break }
        written += count
    }
    close(fd)
    defer { unlink(path) }
    let symbolizer = Symbolizer(options: SymbolizerOptions(lines: true, inlines: true))
    for address in stride(from: UInt64(0), to: UInt64(max(size, 1)), by: max(size / 16, 1)) {
        _ = try? symbolizer.frames(inFile: path, address: address)
        _ = try? symbolizer.frames(inFile: path, address: address + 0x1000)
    }
    if let file = try? ELFFile(path: path) { _ = try? UnwindTableCompiler.compile(file) }
    return 0
}

runFuzzer(fuzzOne)
