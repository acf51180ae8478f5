import EmberELF
import EmberSystem

/// Everything known about one mapped file: its symbols (merged with those of its debug
/// file and MiniDebugInfo), and its DWARF, from wherever it was found.
final class ObjectFile {
    /// The file itself (its handle is lent to readers of its CFI).
    let file: ELFFile
    /// The file and its separate debug file, if one was found.
    private let sources: [ELFFile]
    /// The file holding the DWARF.
    private let dwarfFile: ELFFile?
    private var readSymbols: ELFSymbolTable?
    private var readDWARF: DWARFInfo??
    /// Whether source positions are named: the DWARF's line tables are read only then.
    private let readsLines: Bool

    /// The symbol table, built on the first address that needs it (or by a ``Preparation``):
    /// a process maps many libraries whose code is never sampled, and ember reads each new
    /// process's files at once (a short-lived process must be read while it lives) without
    /// stalling on a 200 MB binary's table.
    var symbols: ELFSymbolTable {
        if let readSymbols { return readSymbols }
        let table = Self.symbolTable(of: sources)
        readSymbols = table
        sources.forEach { $0.releaseResidentPages() }
        return table
    }

    /// The DWARF's index of units, read on the first address that needs it (or by a
    /// ``Preparation``).
    var dwarf: DWARFInfo? {
        lastDWARFUse = Clock.monotonicSeconds()
        if let readDWARF { return readDWARF }
        let info = dwarfFile.flatMap { DWARFInfo(file: $0, readsLines: readsLines) }
        readDWARF = .some(info)
        dwarfFile?.releaseResidentPages()
        return info
    }

    /// When the DWARF was last read or asked for (monotonic seconds).
    private(set) var lastDWARFUse = 0.0

    /// Whether DWARF was read and is held.
    var holdsDWARF: Bool {
        if case .some(.some) = readDWARF { return true }
        return false
    }

    /// Lets go of the DWARF (libdw's caches of every unit it read grow with the addresses
    /// named: tens of megabytes in a large binary); the next address that needs it reads
    /// it again. Addresses named so far keep their frames.
    func releaseDWARF() {
        readDWARF = nil
    }

    /// The file's build id in hexadecimal (empty without one), for profiles' mappings.
    lazy var buildIDText: String = file.buildID?.hexString ?? ""
    /// Frames per address (as the file's symbols use them): each address resolved once.
    var frames: [UInt64: [SymbolizedFrame]] = [:]
    /// Demangled names per symbol index, made on first use.
    var displayNames: [String?] = []

    /// Finds the debug file now, while the process (and its root, for a container) lives.
    init(file: ELFFile, targetPath: String, locator: DebugFileLocator, readsLines: Bool) {
        self.file = file
        self.readsLines = readsLines
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

    private static func symbolTable(of sources: [ELFFile]) -> ELFSymbolTable {
        // MiniDebugInfo only where nothing better names the functions.
        if let file = sources.first, file.section(named: ".symtab") == nil && sources.count == 1,
           let mini = MiniDebugInfo.image(of: file) {
            return ELFSymbolTable(files: sources + [mini])
        }
        return ELFSymbolTable(files: sources)
    }

    // MARK: Reading on another thread

    /// Whether naming an address here still has to read the symbol table, or the DWARF
    /// (when `needsDWARF`): the costly part of the first address in a big file.
    func isRead(needsDWARF: Bool) -> Bool {
        readSymbols != nil && (!needsDWARF || dwarfFile == nil || readDWARF != nil)
    }

    /// The reading of the file's symbol table and DWARF index through handles of its own,
    /// for another thread; nil if the files cannot be opened again.
    func preparation(needsDWARF: Bool) -> Preparation? {
        guard let sources = try? sources.map({ try $0.reopened() }) else { return nil }
        var dwarfSource: ELFFile?
        if needsDWARF, let dwarfFile {
            dwarfSource = dwarfFile === file ? sources.first : sources.count > 1 ? sources[1] : nil
        }
        return Preparation(sources: sources, dwarfFile: dwarfSource, readsSymbols: readSymbols == nil,
                           readsDWARF: needsDWARF && readDWARF == nil, readsLines: readsLines)
    }

    /// Takes what a preparation read, unless the file was read meanwhile.
    func install(_ prepared: Prepared) {
        if readSymbols == nil, let symbols = prepared.symbols { readSymbols = symbols }
        if readDWARF == nil, let dwarf = prepared.dwarf {
            readDWARF = .some(dwarf)
            lastDWARFUse = Clock.monotonicSeconds()
        }
    }

    /// Reads a file's tables on a thread of its own: every handle it reads is its own.
    struct Preparation: @unchecked Sendable {
        fileprivate let sources: [ELFFile]
        fileprivate let dwarfFile: ELFFile?
        fileprivate let readsSymbols: Bool
        fileprivate let readsDWARF: Bool
        fileprivate let readsLines: Bool

        func run() -> Prepared {
            let dwarf = readsDWARF ? DWARFInfo??.some(dwarfFile.flatMap { DWARFInfo(file: $0, readsLines: readsLines) }) : nil
            let prepared = Prepared(symbols: readsSymbols ? ObjectFile.symbolTable(of: sources) : nil, dwarf: dwarf)
            sources.forEach { $0.releaseResidentPages() }
            return prepared
        }
    }

    /// What a ``Preparation`` read, handed back to the symbolizer's thread.
    struct Prepared: @unchecked Sendable {
        fileprivate let symbols: ELFSymbolTable?
        fileprivate let dwarf: DWARFInfo??
    }
}
