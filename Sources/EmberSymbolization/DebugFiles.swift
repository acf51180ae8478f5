import CLibElf
#if canImport(Glibc)
import Glibc
#endif

/// Finds the debug information that belongs to an ELF file wherever distributions put it:
/// by build id under `.build-id/xx/rest.debug`, by `.gnu_debuglink` (CRC-checked) next to
/// the file, in its `.debug/` directory and under the debug roots. Paths are the target's:
/// `root` (such as /proc/PID/root) is put in front of them, so containers work.
struct DebugFileLocator {
    /// The target's root directory ("" for the host's).
    var root: String
    /// Extra debug roots (`--debug-dir`), host paths, searched first.
    var extraDirectories: [String]

    private var debugRoots: [String] { extraDirectories + [root + "/usr/lib/debug"] }

    /// The separate debug file of `file`, whose path in the target is `targetPath`.
    func debugFile(for file: ELFFile, targetPath: String) -> ELFFile? {
        let ownIdentity = file.identity
        func isItself(_ candidate: ELFFile) -> Bool {
            guard let own = ownIdentity, let other = candidate.identity else { return false }
            return own == other
        }
        if let buildID = file.buildID, buildID.count >= 2 {
            let hex = buildID.hexString
            let relative = "/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            for directory in debugRoots {
                guard let candidate = try? ELFFile(path: directory + relative), !isItself(candidate),
                      candidate.buildID == buildID, candidate.hasDWARF || hasSymbols(candidate)
                else { continue }
                return candidate
            }
        }
        if let link = file.debugLink {
            let directory = targetPath.lastIndex(of: "/").map { String(targetPath[..<$0]) } ?? ""
            var candidates = [
                root + directory + "/" + link.name,
                root + directory + "/.debug/" + link.name,
            ]
            for debugRoot in debugRoots {
                candidates.append(debugRoot + directory + "/" + link.name)
            }
            for extra in extraDirectories { candidates.append(extra + "/" + link.name) }
            for path in candidates {
                guard let candidate = try? ELFFile(path: path), !isItself(candidate) else { continue }
                // The CRC says it is the debug file of this very build, not of another version.
                guard candidate.contentsCRC() == link.crc else { continue }
                return candidate
            }
        }
        return nil
    }

    private func hasSymbols(_ file: ELFFile) -> Bool {
        file.section(named: ".symtab") != nil
    }
}

/// MiniDebugInfo: an xz-compressed ELF in `.gnu_debugdata` holding the `.symtab` entries
/// that `.dynsym` lacks (Fedora and others ship binaries this way).
enum MiniDebugInfo {
    static func image(of file: ELFFile) -> ELFFile? {
        guard let compressed = file.sectionBytes(named: ".gnu_debugdata"),
              let bytes = decompressXZ(compressed)
        else { return nil }
        return try? ELFFile(image: bytes, name: file.path + "[.gnu_debugdata]")
    }

    /// Decodes an .xz stream with liblzma; nil if it is not one or is damaged.
    static func decompressXZ(_ input: [UInt8]) -> [UInt8]? {
        var stream = lzma_stream()  // all zero is LZMA_STREAM_INIT
        guard lzma_stream_decoder(&stream, UInt64.max, 0) == LZMA_OK else { return nil }
        defer { lzma_end(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return input.withUnsafeBufferPointer { source -> [UInt8]? in
            stream.next_in = source.baseAddress
            stream.avail_in = source.count
            while true {
                let result: lzma_ret = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = buffer.count
                    return lzma_code(&stream, LZMA_FINISH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - stream.avail_out)])
                if result == LZMA_STREAM_END { return output }
                guard result == LZMA_OK, output.count < 1 << 30 else { return nil }
            }
        }
    }
}

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
    /// Frames per address (as the file's symbols use them): each address resolved once.
    var frames: [UInt64: [Frame]] = [:]
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
