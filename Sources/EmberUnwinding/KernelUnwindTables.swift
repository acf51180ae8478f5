import CEmberShim
import CLibElf
import Dispatch
import EmberELF
import EmberSampling
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// Feeds the BPF program's CFI walk: each file a watched process maps is compiled to an
/// ``UnwindTable`` once (by device and inode, shared by every process that maps it) on a
/// background queue, loaded into the sampler's rows map within its budget, and each
/// process's executable mappings are written with the table each one uses. Until a file's
/// table is loaded its mappings are marked pending, and their samples take the user-space
/// path (a stack copy), counted.
public final class KernelUnwindTables {
    /// What was loaded, for the report.
    public struct Statistics: Sendable, Equatable {
        /// Files whose tables were loaded, and their rows.
        public var tablesLoaded = 0
        public var rowsLoaded = 0
        /// Files without call frame information (unwound by frame pointers).
        public var filesWithoutCFI = 0
        /// Files whose tables did not fit the budget (their samples are stack copies), the
        /// first few by name.
        public var tablesOverBudget = 0
        public var overBudgetNames: [String] = []
        /// Processes with more executable mappings than the kernel's entry holds (unwound in
        /// user space).
        public var processesWithTooManyMappings = 0
        /// CPU seconds spent compiling tables.
        public var compileSeconds = 0.0
        /// Tables let go of because no process mapped their file any more, and their rows.
        public var tablesReleased = 0
        public var rowsReleased = 0
        public init() {}
    }

    /// A file's table, compiled off the sampling path.
    struct CompiledFile {
        var rows: [ember_unwind_row]
        /// PT_LOAD segments: file offset, virtual address, size in the file.
        var segments: [(offset: UInt64, address: UInt64, size: UInt64)]
        var seconds: Double
    }

    private enum FileState {
        case compiling(BackgroundWork<CompiledFile>, name: String)
        case loaded(table: UInt32, rows: Range<Int>, segments: [(offset: UInt64, address: UInt64, size: UInt64)])
        case withoutTable
        /// Did not fit with `rows` rows; compiled again once that many are free.
        case overBudget(rows: Int)
    }

    /// One executable mapping of a process, as /proc/PID/maps gives it.
    struct Mapping: Equatable {
        var start: UInt64
        var end: UInt64
        var offset: UInt64
        /// Device and inode ("vdso" for the vDSO); nil for anonymous code (JIT).
        var file: String?
        var path: String
    }

    /// The most executable mappings a process may have to be walked in the kernel.
    public static let mappingLimit = Int(EMBER_MAX_MAPPINGS)

    private let sampler: Sampler
    private let debugDirectories: [String]
    private let queue = DispatchQueue(label: "ember.unwind-tables", qos: .utility)
    private var files: [String: FileState] = [:]
    /// The files whose tables are being compiled (polled until done).
    private var compiling: Set<String> = []
    /// Each watched process's executable mappings, the maps text they were read from (a refresh
    /// that reads the same text parses nothing), and the entries the BPF program was given.
    private var processes: [pid_t: (mappings: [Mapping], text: String, written: [ember_mapping])] = [:]
    private var rows: RowSpace
    private var freeTables: [UInt32] = []
    private var nextTable: UInt32 = 0
    /// Since when no watched process maps each file (see ``releaseUnmappedFiles``).
    private var unmappedSince: [String: Double] = [:]
    /// Files counted as not fitting (a file compiled again when rows are freed is counted once).
    private var countedOverBudget: Set<String> = []
    public private(set) var statistics = Statistics()

    /// Files whose tables are being compiled.
    var compilingCount: Int { compiling.count }
    /// Rows taken by loaded tables.
    var rowsInUse: Int { rows.used }
    /// The kinds last written for a process's mappings (EMBER_MAPPING_*).
    func mappingKinds(of pid: pid_t) -> [UInt32] { processes[pid]?.written.map { UInt32($0.kind) } ?? [] }
    /// Whether some of a process's files have no table loaded yet: its samples in them take
    /// the ring buffer to the user-space unwinder meanwhile.
    public func isWaitingForTables(_ pid: pid_t) -> Bool {
        processes[pid]?.written.contains { $0.kind == EMBER_MAPPING_PENDING.rawValue } ?? false
    }

    public init(sampler: Sampler, debugDirectories: [String] = []) {
        self.sampler = sampler
        self.debugDirectories = debugDirectories
        rows = RowSpace(capacity: sampler.unwindRowCapacity)
    }

    /// Reads the process's executable mappings (again: libraries loaded since), starts
    /// compiling the tables of files not seen yet, and gives the BPF program its mappings.
    /// Returns false if the process cannot be walked in the kernel (gone, or too many
    /// mappings).
    /// - Parameter anew: the process forked or exec'd since it was last watched: its
    ///   mappings are written even if they read as before (the kernel dropped them at exec).
    ///   The BPF program's entry is replaced, never removed first: until new mappings are
    ///   written a sample would fall back to frame pointers, and through a library without
    ///   them its Python frames would stand under no native frame at all.
    @discardableResult
    public func watch(_ pid: pid_t, anew: Bool = false) -> Bool {
        guard let text = try? FileContents.text("/proc/\(pid)/maps") else {
            forget(pid)
            return false
        }
        let mappings: [Mapping]
        if !anew, let known = processes[pid], known.text == text {
            mappings = known.mappings
        } else {
            mappings = Self.executableMappings(text)
        }
        for mapping in mappings {
            guard let file = mapping.file, files[file] == nil else { continue }
            startCompiling(file: file, mapping: mapping, pid: pid)
        }
        processes[pid] = (mappings, text, anew ? [] : processes[pid]?.written ?? [])
        return write(pid)
    }

    /// Starts compiling the tables of libc and the dynamic loader as ember itself maps them:
    /// nearly every target maps the same files, and their tables are then ready when the
    /// first target is watched (libstdc++ and the rest wait for a process that maps them).
    public func prepareCommonLibraries() {
        guard let text = try? FileContents.text("/proc/self/maps") else { return }
        let common = ["libc.so", "ld-linux"]
        for mapping in Self.executableMappings(text) {
            guard let file = mapping.file, files[file] == nil, mapping.path.hasPrefix("/lib") || mapping.path.hasPrefix("/usr/lib"),
                  let name = mapping.path.split(separator: "/").last, common.contains(where: { name.hasPrefix($0) })
            else { continue }
            startCompiling(file: file, mapping: mapping, pid: getpid())
        }
    }

    /// Stops walking a process in the kernel (it ended, or exec'd).
    public func forget(_ pid: pid_t) {
        guard processes.removeValue(forKey: pid) != nil else { return }
        sampler.removeProcessMappings(pid)
    }

    /// Loads the tables compiled since the last call, and rewrites the mappings of the
    /// processes that map their files. Cheap when nothing is new.
    public func poll() {
        let ready = compiling.filter { file in
            if case .compiling(let work, _)? = files[file] { return work.isFinished }
            return true
        }
        guard !ready.isEmpty else { return }
        compiling.subtract(ready)
        for file in ready {
            guard case .compiling(let work, let name)? = files[file] else { continue }
            guard let compiled = try? work.wait() else {
                files[file] = .withoutTable
                statistics.filesWithoutCFI += 1
                continue
            }
            statistics.compileSeconds += compiled.seconds
            let table = freeTables.last ?? nextTable
            guard table < EMBER_MAX_UNWIND_TABLES, let range = rows.allocate(compiled.rows.count) else {
                files[file] = .overBudget(rows: compiled.rows.count)
                if countedOverBudget.insert(file).inserted {
                    statistics.tablesOverBudget += 1
                    if statistics.overBudgetNames.count < 3 { statistics.overBudgetNames.append(name) }
                }
                continue
            }
            do {
                try sampler.loadUnwindTable(Int(table), rows: compiled.rows, at: range.lowerBound)
            } catch {
                rows.free(range)
                files[file] = .overBudget(rows: compiled.rows.count)
                continue
            }
            if freeTables.last == table { freeTables.removeLast() } else { nextTable += 1 }
            files[file] = .loaded(table: table, rows: range, segments: compiled.segments)
            statistics.tablesLoaded += 1
            statistics.rowsLoaded += compiled.rows.count
        }
        let changed = Set(ready)
        for (pid, process) in processes where process.mappings.contains(where: { $0.file.map(changed.contains) ?? false }) {
            write(pid)
        }
    }

    /// Lets go of the tables (and what is known) of files no watched process has mapped for
    /// `age` seconds, so that hours of rebuilt binaries do not fill the budget: their rows and
    /// table numbers are used again. No process's mappings name such a table, so the BPF
    /// program cannot be reading it. Files that did not fit are compiled again once enough
    /// rows are free.
    public func releaseUnmappedFiles(unusedFor age: Double, now: Double) {
        var mapped = Set<String>()
        for process in processes.values {
            for mapping in process.mappings { if let file = mapping.file { mapped.insert(file) } }
        }
        for file in files.keys where !mapped.contains(file) && !compiling.contains(file) {
            guard let since = unmappedSince[file] else {
                unmappedSince[file] = now
                continue
            }
            guard now - since >= age else { continue }
            unmappedSince[file] = nil
            countedOverBudget.remove(file)
            if case .loaded(let table, let range, _)? = files.removeValue(forKey: file) {
                rows.free(range)
                freeTables.append(table)
                statistics.tablesReleased += 1
                statistics.rowsReleased += range.count
            }
        }
        for file in mapped { unmappedSince[file] = nil }
        let largest = rows.largestFree
        for (file, state) in files {
            if case .overBudget(let needed) = state, needed <= largest, !freeTables.isEmpty || nextTable < EMBER_MAX_UNWIND_TABLES {
                files[file] = nil  // the next watch of a process that maps it compiles it again
            }
        }
    }

    @discardableResult
    private func write(_ pid: pid_t) -> Bool {
        guard let process = processes[pid] else { return false }
        let entries = process.mappings.map(entry)
        guard entries.count <= Self.mappingLimit else {
            statistics.processesWithTooManyMappings += 1
            forget(pid)
            return false
        }
        if !process.written.isEmpty, process.written.elementsEqual(entries, by: Self.same) { return true }
        do {
            try sampler.setProcessMappings(pid, entries)
        } catch {
            return false
        }
        processes[pid]?.written = entries
        return true
    }

    private static func same(_ a: ember_mapping, _ b: ember_mapping) -> Bool {
        a.start == b.start && a.end == b.end && a.bias == b.bias && a.table == b.table && a.kind == b.kind
    }

    private func entry(for mapping: Mapping) -> ember_mapping {
        var entry = ember_mapping(start: mapping.start, end: mapping.end, bias: 0, table: 0,
                                  kind: EMBER_MAPPING_PENDING.rawValue)
        guard let file = mapping.file else {
            // Anonymous code (a JIT's) has no CFI: frame pointers, as JITs keep them.
            entry.kind = EMBER_MAPPING_FRAME_POINTER.rawValue
            return entry
        }
        switch files[file] {
        case .loaded(let table, _, let segments)?:
            entry.kind = EMBER_MAPPING_TABLE.rawValue
            entry.table = table
            entry.bias = Self.bias(of: mapping, segments: segments)
        case .withoutTable?:
            entry.kind = EMBER_MAPPING_FRAME_POINTER.rawValue
        case .compiling?, .overBudget?, nil:
            break
        }
        return entry
    }

    /// What to subtract from a pc in `mapping` to get the file's virtual address: the
    /// segment the mapping's file offset lies in says where that offset is linked.
    static func bias(of mapping: Mapping, segments: [(offset: UInt64, address: UInt64, size: UInt64)]) -> UInt64 {
        let segment = segments.first { $0.offset & ~4095 == mapping.offset }
            ?? segments.first { $0.offset <= mapping.offset && mapping.offset < $0.offset + max($0.size, 1) }
        guard let segment else { return mapping.start &- mapping.offset }
        return mapping.start &- mapping.offset &+ segment.offset &- segment.address
    }

    private func startCompiling(file: String, mapping: Mapping, pid: pid_t) {
        let elf: ELFFile?
        if file == "vdso" {
            elf = Self.ownVDSO()
        } else {
            // Through map_files: the very file mapped, even if deleted or in another root.
            let range = String(mapping.start, radix: 16) + "-" + String(mapping.end, radix: 16)
            elf = (try? ELFFile(path: "/proc/\(pid)/map_files/\(range)"))
                ?? (try? ELFFile(path: "/proc/\(pid)/root\(mapping.path)"))
        }
        guard let elf else {
            files[file] = .withoutTable
            statistics.filesWithoutCFI += 1
            return
        }
        let locator = DebugFileLocator(root: "/proc/\(pid)/root", extraDirectories: debugDirectories)
        let path = mapping.path
        compiling.insert(file)
        files[file] = .compiling(BackgroundWork(on: queue) {
            try Self.compile(elf, path: path, locator: locator)
        }, name: (path.split(separator: "/").last).map(String.init) ?? path)
    }

    static func compile(_ elf: ELFFile, path: String, locator: DebugFileLocator) throws -> CompiledFile {
        let started = Clock.threadCPUSeconds()
        // A file built without unwind tables keeps only the C runtime's FDEs in .eh_frame,
        // its own code's CFI in .debug_frame, perhaps in its separate debug file.
        var debugFile: ELFFile?
        if elf.section(named: ".debug_frame") == nil, (UnwindTableCompiler.ehFrameStarts(elf)?.count ?? 0) < 16 {
            debugFile = locator.debugFile(for: elf, targetPath: path, accepting: DebugFileLocator.hasFrameTable)
        }
        let table = try UnwindTableCompiler.compile(elf, debugFile: debugFile)
        var segments: [(offset: UInt64, address: UInt64, size: UInt64)] = []
        var count = 0
        if elf_getphdrnum(elf.elf, &count) == 0 {
            for index in 0..<count {
                var header = GElf_Phdr()
                guard gelf_getphdr(elf.elf, Int32(index), &header) != nil, header.p_type == PT_LOAD else { continue }
                segments.append((header.p_offset, header.p_vaddr, header.p_filesz))
            }
        }
        return CompiledFile(rows: table.rows.map(\.kernelRow), segments: segments,
                            seconds: Clock.threadCPUSeconds() - started)
    }

    /// The executable mappings in the text of /proc/PID/maps, sorted by start.
    static func executableMappings(_ text: String) -> [Mapping] {
        var mappings: [Mapping] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].count >= 3, fields[1].dropFirst(2).first == "x" else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  let offset = UInt64(fields[2], radix: 16)
            else { continue }
            let path = fields.count > 5 ? String(fields[5].drop(while: { $0 == " " })) : ""
            var file: String?
            if path == "[vdso]" {
                file = "vdso"
            } else if path.hasPrefix("/"), fields[4] != "0" {
                file = "\(fields[3]):\(fields[4])"
            } else if path.hasPrefix("[") {
                continue  // [vsyscall] and the like: not user code the walk reaches
            }
            mappings.append(Mapping(start: start, end: end, offset: offset, file: file, path: path))
        }
        return mappings.sorted { $0.start < $1.start }
    }

    /// ember's own vDSO, the same image the kernel maps in every process.
    static func ownVDSO() -> ELFFile? {
        guard let text = try? FileContents.text("/proc/self/maps"),
              let line = text.split(separator: "\n").first(where: { $0.hasSuffix("[vdso]") }),
              let range = line.split(separator: " ").first?.split(separator: "-"), range.count == 2,
              let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start,
              let base = UnsafeRawPointer(bitPattern: start)
        else { return nil }
        let bytes = Array(UnsafeRawBufferPointer(start: base, count: Int(end - start)))
        return try? ELFFile(image: bytes, name: "[vdso]")
    }
}

/// The rows map's space: tables take contiguous ranges, first fit, and give them back when
/// their file is let go of. Adjacent free ranges merge, so the space a long recording
/// churns through does not splinter into pieces no table fits.
struct RowSpace {
    let capacity: Int
    /// Free ranges below `end`, sorted, none adjacent.
    private(set) var free: [Range<Int>] = []
    /// Everything from here up is free.
    private(set) var end = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
    }

    var used: Int { end - free.reduce(0) { $0 + $1.count } }
    var largestFree: Int { max(capacity - end, free.map(\.count).max() ?? 0) }

    mutating func allocate(_ count: Int) -> Range<Int>? {
        guard count > 0 else { return end..<end }
        if let index = free.firstIndex(where: { $0.count >= count }) {
            let range = free[index]
            if range.count == count { free.remove(at: index) } else { free[index] = (range.lowerBound + count)..<range.upperBound }
            return range.lowerBound..<(range.lowerBound + count)
        }
        guard capacity - end >= count else { return nil }
        end += count
        return (end - count)..<end
    }

    mutating func free(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        var merged = range
        let index = free.firstIndex { $0.lowerBound > range.lowerBound } ?? free.count
        var insertAt = index
        if index < free.count, free[index].lowerBound == merged.upperBound {
            merged = merged.lowerBound..<free[index].upperBound
            free.remove(at: index)
        }
        if index > 0, free[index - 1].upperBound == merged.lowerBound {
            merged = free[index - 1].lowerBound..<merged.upperBound
            free.remove(at: index - 1)
            insertAt = index - 1
        }
        if merged.upperBound == end {
            end = merged.lowerBound
        } else {
            free.insert(merged, at: insertAt)
        }
    }
}
