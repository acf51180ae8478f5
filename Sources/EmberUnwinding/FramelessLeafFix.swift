import CLibElf
#if canImport(Glibc)
import Glibc
#endif

/// An ELF file mapped executable in a process, as the frameless-leaf fix reads it.
public struct CodeFile {
    /// The file's open libelf handle, kept open by whoever supplies it.
    public var elf: OpaquePointer
    /// The same file in every process that maps it.
    public var identity: ObjectIdentifier
    /// The address as the file's own virtual addresses give it.
    public var address: UInt64

    public init(elf: OpaquePointer, identity: ObjectIdentifier, address: UInt64) {
        self.elf = elf
        self.identity = identity
        self.address = address
    }
}

/// Which file each process maps at an address, for live and exited processes alike (the
/// symbolizer keeps both the maps and the files).
public protocol CodeFiles: AnyObject {
    func codeFile(pid: pid_t, address: UInt64) -> CodeFile?
}

/// Tells whether the function at a sampled address had set up its frame, from its file's
/// `.eh_frame`. Each file's table is read once and shared by every process that maps it:
/// a build's thousand shells read libc's once, and nothing stays open per process.
///
/// Owns one `Dwarf_CFI` per file, released in deinit.
public final class FramelessLeafFix {
    private let files: CodeFiles
    private var tables: [ObjectIdentifier: OpaquePointer?] = [:]

    public init(files: CodeFiles) {
        self.files = files
    }

    deinit {
        for case let cfi? in tables.values { dwarf_cfi_end(cfi) }
    }

    /// Where the return address of the function at `pc` is while its frame is not set up
    /// (the CFA is still relative to the stack pointer): the index of the stack word at the
    /// stack pointer that holds it. nil if the frame is set up (CFA relative to rbp) or the
    /// address has no CFI.
    public func returnAddressSlot(pid: pid_t, at pc: UInt64) -> Int? {
        guard let file = files.codeFile(pid: pid, address: pc), let cfi = table(of: file) else { return nil }
        var frame: OpaquePointer? = nil
        guard dwarf_cfi_addrframe(cfi, file.address, &frame) == 0, let frame else { return nil }
        defer { free(UnsafeMutableRawPointer(frame)) }
        var ops: UnsafeMutablePointer<Dwarf_Op>? = nil
        var count = 0
        guard dwarf_frame_cfa(frame, &ops, &count) == 0, let ops, count > 0 else { return nil }
        // A lazy PLT entry: the return address at rsp, or past the entry's push at rsp + 8.
        if let threshold = UnwindTableCompiler.pltThreshold(Array(UnsafeBufferPointer(start: ops, count: count))) {
            return pc & 15 >= UInt64(threshold) ? 1 : 0
        }
        let op = ops.pointee
        guard count == 1, op.atom == 0x92 /* DW_OP_bregx */, op.number == DWARFRegister.rsp else { return nil }
        // The return address is the word just below the CFA: CFA = rsp + offset.
        let offset = Int64(bitPattern: op.number2)
        guard offset >= 8, offset % 8 == 0 else { return nil }
        return Int(offset / 8) - 1
    }

    /// Whether `address` lies in code the process maps from a file (a plausible return address).
    public func isCodeAddress(pid: pid_t, _ address: UInt64) -> Bool {
        files.codeFile(pid: pid, address: address) != nil
    }

    /// Releases the table read from a file that is about to close (its identity may then
    /// stand for another file).
    public func forget(file identity: ObjectIdentifier) {
        if case let cfi?? = tables.removeValue(forKey: identity) { dwarf_cfi_end(cfi) }
    }

    private func table(of file: CodeFile) -> OpaquePointer? {
        if let known = tables[file.identity] { return known }
        let cfi = dwarf_getcfi_elf(file.elf)
        tables[file.identity] = cfi
        return cfi
    }
}
