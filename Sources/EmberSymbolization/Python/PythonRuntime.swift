import CLibElf
import EmberELF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// A CPython interpreter found in a process: its version, where its runtime state is, and
/// the layout of its structures.
public struct PythonRuntime: Sendable, Equatable {
    public var pid: pid_t
    public var major: Int
    public var minor: Int
    /// nil where only the file's name gave the version (3.8-3.10 have no `Py_Version`).
    public var micro: Int?
    /// The file that holds the interpreter: the executable or its libpython3.X.so.
    public var file: String
    /// The address of `_PyRuntime` in the process.
    public var runtimeAddress: UInt64
    public var layout: PythonLayout
    /// 3.13+: fields where the interpreter's own debug offsets disagreed with ember's table
    /// (the debug offsets were used).
    public var debugOffsetMismatches: [String] = []

    public var version: String { micro.map { "\(major).\(minor).\($0)" } ?? "\(major).\(minor)" }
}

/// What a look at a process says about Python in it.
public enum PythonDetection: Sendable, Equatable {
    /// An interpreter whose frames ember can walk.
    case supported(PythonRuntime)
    /// A Python ember cannot walk (a version it has no layout for, a free-threaded build):
    /// its samples keep native frames only; the reason goes in the report.
    case unsupported(file: String, reason: String)
    /// No Python interpreter in the process.
    case none
}

/// What a file says of the interpreter in it, kept by file (device, inode) so that each new
/// process of the same python is not read again: a system-wide recording sees many.
public final class PythonFileCache {
    struct Facts {
        var symbols: [String: UInt64]
        var loadSegments: [GElf_Phdr]
    }

    var files: [String: Facts] = [:]
    public init() {}
}

public enum PythonRuntimeDetector {
    /// Looks for a CPython interpreter in process `pid`: its executable if it is named
    /// python…, and any libpython… it maps. Its version comes from `Py_Version` in its memory
    /// (3.11+), else from the file's name. `memory` is opened only for a process that has one.
    public static func detect(pid: pid_t, map: MemoryMap, memory: @autoclosure () -> ProcessMemory?,
                              procRoot: String = "/proc", cache: PythonFileCache? = nil) -> PythonDetection {
        let executable = executablePath(pid: pid, procRoot: procRoot)
        var candidates: [MemoryMapping] = []
        var seen = Set<String>()
        for mapping in map.mappings where mapping.isFileBacked && !seen.contains(mapping.filePath) {
            let name = mapping.moduleName
            let isLibrary = name.hasPrefix("libpython")
            let isExecutable = mapping.filePath == executable && name.hasPrefix("python")
            guard isLibrary || isExecutable else { continue }
            seen.insert(mapping.filePath)
            candidates.append(mapping)
        }
        // A libpython holds the interpreter when the executable links it.
        candidates.sort { $0.moduleName.hasPrefix("libpython") && !$1.moduleName.hasPrefix("libpython") }
        guard !candidates.isEmpty else { return .none }
        let memory = memory()
        for mapping in candidates {
            let detection = inspect(mapping, pid: pid, map: map, memory: memory, procRoot: procRoot, cache: cache)
            if detection != .none { return detection }
        }
        return .none
    }

    private static func inspect(_ mapping: MemoryMapping, pid: pid_t, map: MemoryMap, memory: ProcessMemory?,
                                procRoot: String, cache: PythonFileCache?) -> PythonDetection {
        let path = mapping.filePath
        let nameVersion = versionInName(mapping.moduleName)
        let key = "\(mapping.device):\(mapping.inode):\(path)"
        let facts: PythonFileCache.Facts
        if let known = cache?.files[key] {
            facts = known
        } else {
            guard let file = try? ELFFile(path: "\(procRoot)/\(pid)/root\(path)") else {
                return nameVersion.map { .unsupported(file: path, reason: "CPython \($0.0).\($0.1): its file could not be read") }
                    ?? .none
            }
            facts = PythonFileCache.Facts(symbols: dataSymbols(file.elf, names: ["_PyRuntime", "Py_Version", "Py_Initialize"]),
                                          loadSegments: loadSegments(file.elf))
            if let cache, cache.files.count < 256 { cache.files[key] = facts }
        }
        let symbols = facts.symbols
        guard let runtimeSymbol = symbols["_PyRuntime"] else {
            // 2.7 and 3.6 have no _PyRuntime. An executable that does not define
            // Py_Initialize links a libpython (perhaps not mapped yet), and a file merely
            // named python… is no interpreter.
            guard symbols["Py_Initialize"] != nil, let nameVersion else { return .none }
            return .unsupported(file: path, reason: notSupported(nameVersion.0, nameVersion.1))
        }
        guard let bias = loadBias(of: path, segments: facts.loadSegments, map: map), let memory else {
            return .unsupported(file: path, reason: "its memory could not be read")
        }
        var version: (Int, Int, Int?)?
        if let symbol = symbols["Py_Version"], let word = memory.word(symbol &+ bias) {
            let hex = word & 0xffff_ffff
            version = (Int(hex >> 24), Int((hex >> 16) & 0xff), Int((hex >> 8) & 0xff))
        } else if let nameVersion {
            version = (nameVersion.0, nameVersion.1, nil)
        }
        guard let version, version.0 == 3 else {
            return .unsupported(file: path, reason: "a Python whose version could not be read")
        }
        guard let table = PythonLayout.table(minor: version.1) else {
            return .unsupported(file: path, reason: notSupported(version.0, version.1))
        }
        let runtimeAddress = runtimeSymbol &+ bias
        var runtime = PythonRuntime(pid: pid, major: version.0, minor: version.1, micro: version.2, file: path,
                                    runtimeAddress: runtimeAddress, layout: table)
        if version.1 >= 13 {
            guard let bytes = memory.read(runtimeAddress, count: PythonLayout.DebugOffsets.size),
                  let offsets = PythonLayout.DebugOffsets(bytes: bytes)
            else { return .unsupported(file: path, reason: "CPython \(runtime.version): no debug offsets in _PyRuntime") }
            if offsets.freeThreaded {
                return .unsupported(file: path, reason: "CPython \(runtime.version) free-threaded builds are not supported")
            }
            runtime.debugOffsetMismatches = table.mismatches(with: offsets)
            if !runtime.debugOffsetMismatches.isEmpty { runtime.layout.apply(offsets) }
        }
        return .supported(runtime)
    }

    private static func notSupported(_ major: Int, _ minor: Int) -> String {
        let known = PythonLayout.knownMinorVersions
        return "CPython \(major).\(minor) is not supported (ember knows 3.\(known.lowerBound)-3.\(known.upperBound))"
    }

    /// (major, minor) from a name like `python3.12`, `libpython3.11.so.1.0`.
    public static func versionInName(_ name: String) -> (Int, Int)? {
        let characters = Array(name.utf8)
        let word = Array("python".utf8)
        guard characters.count > word.count,
              let start = (0...(characters.count - word.count)).first(where: {
                  Array(characters[$0..<($0 + word.count)]) == word
              })
        else { return nil }
        let rest = String(decoding: characters[(start + word.count)...], as: UTF8.self)
        let parts = rest.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]),
              let minor = Int(parts[1].prefix { $0.isNumber }), !parts[1].isEmpty
        else { return nil }
        return (major, minor)
    }

    private static func executablePath(pid: pid_t, procRoot: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("\(procRoot)/\(pid)/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    static func loadSegments(_ elf: OpaquePointer) -> [GElf_Phdr] {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { return [] }
        var segments: [GElf_Phdr] = []
        for index in 0..<count {
            var header = GElf_Phdr()
            if gelf_getphdr(elf, Int32(index), &header) != nil, header.p_type == PT_LOAD { segments.append(header) }
        }
        return segments
    }

    /// The values of the named symbols (objects or functions) in .symtab or .dynsym.
    static func dataSymbols(_ elf: OpaquePointer, names: Set<String>) -> [String: UInt64] {
        var found: [String: UInt64] = [:]
        for table in ELFSymbolSection.all(in: elf) {
            for index in 0..<table.count {
                var symbol = GElf_Sym()
                guard table.read(index, into: &symbol), symbol.st_value != 0, symbol.st_shndx != 0,
                      let cName = table.name(of: symbol),
                      cName.pointee == CChar(UInt8(ascii: "_")) || cName.pointee == CChar(UInt8(ascii: "P"))
                else { continue }
                // Compared as C strings: a libpython's .symtab has tens of thousands of names.
                if let name = names.first(where: { strcmp($0, cName) == 0 }) { found[name] = symbol.st_value }
            }
            if found.count == names.count { break }
        }
        return found
    }

    /// What the file's virtual addresses are moved by in the process: from one of its
    /// mappings and the load segment holding that mapping's file offset.
    static func loadBias(of path: String, segments: [GElf_Phdr], map: MemoryMap) -> UInt64? {
        for mapping in map.mappings where mapping.filePath == path {
            if let segment = segments.first(where: {
                mapping.fileOffset >= $0.p_offset && mapping.fileOffset < $0.p_offset &+ max($0.p_filesz, 1)
            }) {
                let virtualAddress = segment.p_vaddr &+ (mapping.fileOffset &- segment.p_offset)
                return mapping.start &- virtualAddress
            }
        }
        return nil
    }
}

extension PythonLayout {
    /// Takes the fields a running 3.13+ interpreter publishes.
    mutating func apply(_ offsets: DebugOffsets) {
        func field(_ name: String) -> UInt32? { offsets.fields[name].flatMap { UInt32(exactly: $0) } }
        interpretersHead = field("interpretersHead") ?? interpretersHead
        interpreterNext = field("interpreterNext") ?? interpreterNext
        threadsHead = field("threadsHead") ?? threadsHead
        threadNext = field("threadNext") ?? threadNext
        threadFrame = field("threadFrame") ?? threadFrame
        threadID = field("threadID") ?? threadID
        framePrevious = field("framePrevious") ?? framePrevious
        frameCode = field("frameCode") ?? frameCode
        frameInstruction = field("frameInstruction") ?? frameInstruction
        frameOwner = field("frameOwner") ?? frameOwner
        codeFilename = field("codeFilename") ?? codeFilename
        codeName = field("codeName") ?? codeName
        codeQualifiedName = field("codeQualifiedName") ?? codeQualifiedName
        codeLineTable = field("codeLineTable") ?? codeLineTable
        codeFirstLine = field("codeFirstLine") ?? codeFirstLine
        codeInstructions = field("codeInstructions") ?? codeInstructions
    }
}
