import EmberELF

/// Everything known about one mapped file: its symbols (merged with those of its debug
/// file and MiniDebugInfo), and its DWARF, from wherever it was found.
final class ObjectFile {
    /// The file itself (its handle is lent to readers of its CFI).
    let file: ELFFile
    /// The file and its separate debug file, if one was found.
    private let sources: [ELFFile]
    /// The symbol table, built on the first address that needs it: a process maps many
    /// libraries whose code is never sampled, and ember reads each new process's files at
    /// once (a short-lived process must be read while it lives) without stalling on a
    /// 200 MB binary's table.
    lazy var symbols: ELFSymbolTable = {
        // MiniDebugInfo only where nothing better names the functions.
        if file.section(named: ".symtab") == nil && sources.count == 1, let mini = MiniDebugInfo.image(of: file) {
            return ELFSymbolTable(files: sources + [mini])
        }
        return ELFSymbolTable(files: sources)
    }()
    /// The file's build id in hexadecimal (empty without one), for profiles' mappings.
    lazy var buildIDText: String = file.buildID?.hexString ?? ""
    /// Frames per address (as the file's symbols use them): each address resolved once.
    var frames: [UInt64: [SymbolizedFrame]] = [:]
    /// Demangled names per symbol index, made on first use.
    var displayNames: [String?] = []
    /// The file holding the DWARF, read on the first address that needs it.
    private let dwarfFile: ELFFile?
    lazy var dwarf: DWARFInfo? = dwarfFile.flatMap { DWARFInfo(file: $0) }

    /// Finds the debug file now, while the process (and its root, for a container) lives.
    init(file: ELFFile, targetPath: String, locator: DebugFileLocator) {
        self.file = file
        if file.hasDWARF {
            sources = [file]
            dwarfFile = file
        } else if let debug = locator.debugFile(for: file, targetPath: targetPath) {
            sources = [file, debug]
            dwarfFile = debug.hasDWARF ? debug : nil
        } else {
            sources = [file]
            dwarfFile = nil
        }
    }
}
