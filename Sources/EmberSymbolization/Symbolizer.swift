#if canImport(Glibc)
import Glibc
#endif

/// A symbolized frame.
public struct Frame: Hashable, Sendable {
    /// The function name, or `module+0xOFFSET` / `[unknown]` when it could not be named.
    public var name: String
    /// Whether a symbol was found.
    public var isResolved: Bool

    public init(name: String, isResolved: Bool) {
        self.name = name
        self.isResolved = isResolved
    }
}

/// What the symbolizer could not name, for the end-of-run report.
public struct SymbolizationStatistics: Sendable, Equatable {
    /// Distinct user addresses looked up, and how many stayed unresolved.
    public var userAddresses = 0
    public var unresolvedUserAddresses = 0
    /// Distinct kernel addresses looked up, and how many stayed unresolved.
    public var kernelAddresses = 0
    public var unresolvedKernelAddresses = 0
    /// Files whose symbols could not be read.
    public var unreadableFiles: [String] = []
    public init() {}
}

/// Turns sampled addresses into function names, from the sources a process's addresses
/// come from: its memory map, the ELF files mapped into it, and the kernel's symbols.
///
/// Each file is read once per run (keyed by device and inode), and each distinct address
/// is resolved once. Memory maps are read with ``refresh(process:)`` while the process
/// lives, so a process that exits before the end is still symbolized.
public final class Symbolizer {
    private var memoryMaps: [pid_t: MemoryMap] = [:]
    private var processNames: [pid_t: String] = [:]
    private var files: [FileKey: ELFSymbolTable?] = [:]
    private var kernel: KernelSymbols?
    private var userCache: [UserAddressKey: Frame] = [:]
    private var kernelCache: [UInt64: Frame] = [:]
    private let procRoot: String
    public private(set) var statistics = SymbolizationStatistics()

    struct FileKey: Hashable {
        var device: String
        var inode: UInt64
        var path: String
    }

    struct UserAddressKey: Hashable {
        var file: FileKey?
        var address: UInt64  // file-relative when `file` is set, absolute otherwise
        var pid: pid_t
    }

    /// - Parameter procRoot: where procfs is mounted (tests may point elsewhere).
    public init(procRoot: String = "/proc") {
        self.procRoot = procRoot
    }

    // MARK: Processes

    /// Reads (again) the memory map and name of `pid`, and the symbols of every executable
    /// file it maps that were not read yet. Returns false if the process is gone.
    @discardableResult
    public func refresh(process pid: pid_t) -> Bool {
        guard let bytes = try? readWholeFile("\(procRoot)/\(pid)/maps") else { return false }
        let map = MemoryMap(parsing: String(decoding: bytes, as: UTF8.self))
        if let comm = try? readWholeFile("\(procRoot)/\(pid)/comm") {
            let name = String(decoding: comm, as: UTF8.self).trimmingCharacters(in: "\n")
            if !name.isEmpty { processNames[pid] = name }
        }
        if memoryMaps[pid] == nil {
            memoryMaps[pid] = map
        } else {
            memoryMaps[pid]!.update(with: map)
        }
        for mapping in map.mappings where mapping.isExecutable && mapping.isFileBacked {
            _ = symbols(for: mapping, pid: pid)
        }
        return true
    }

    /// Adds a memory map read elsewhere (for tests and for replaying saved maps).
    public func setMemoryMap(_ map: MemoryMap, for pid: pid_t, name: String? = nil) {
        memoryMaps[pid] = map
        if let name { processNames[pid] = name }
    }

    /// The process's name as /proc/PID/comm gave it at the last refresh.
    public func processName(_ pid: pid_t) -> String? { processNames[pid] }

    // MARK: Symbolization

    /// Names the frames of a user stack of `pid`, innermost first as the kernel records it.
    /// Every frame but the first is a return address, looked up one byte earlier so that a
    /// call at the very end of a function names that function and not the next one.
    public func userFrames(pid: pid_t, stack: [UInt64]) -> [Frame] {
        stack.enumerated().map { index, address in
            userFrame(pid: pid, address: index == 0 ? address : address &- 1)
        }
    }

    /// Names the frames of a kernel stack, innermost first.
    public func kernelFrames(stack: [UInt64]) -> [Frame] {
        stack.enumerated().map { index, address in
            kernelFrame(address: index == 0 ? address : address &- 1)
        }
    }

    private func userFrame(pid: pid_t, address: UInt64) -> Frame {
        guard let mapping = memoryMaps[pid]?.mapping(containing: address) else {
            return cachedUser(UserAddressKey(file: nil, address: address, pid: pid)) {
                Frame(name: "[unknown]", isResolved: false)
            }
        }
        let fileOffset = address - mapping.start + mapping.fileOffset
        guard mapping.isFileBacked else {
            let key = UserAddressKey(file: nil, address: address, pid: pid)
            return cachedUser(key) {
                let module = mapping.path.isEmpty ? "[anon]" : mapping.path
                return Frame(name: "\(module)+0x\(String(address - mapping.start, radix: 16))",
                             isResolved: false)
            }
        }
        let fileKey = FileKey(device: mapping.device, inode: mapping.inode, path: mapping.filePath)
        return cachedUser(UserAddressKey(file: fileKey, address: fileOffset, pid: 0)) {
            guard let table = symbols(for: mapping, pid: pid) else {
                return Frame(name: "\(mapping.moduleName)+0x\(String(fileOffset, radix: 16))",
                             isResolved: false)
            }
            let elfAddress = table.virtualAddress(forFileOffset: fileOffset) ?? fileOffset
            if let symbol = table.lookup(elfAddress) {
                return Frame(name: symbol.name, isResolved: true)
            }
            return Frame(name: "\(mapping.moduleName)+0x\(String(elfAddress, radix: 16))",
                         isResolved: false)
        }
    }

    private func cachedUser(_ key: UserAddressKey, _ resolve: () -> Frame) -> Frame {
        if let frame = userCache[key] { return frame }
        let frame = resolve()
        userCache[key] = frame
        statistics.userAddresses += 1
        if !frame.isResolved { statistics.unresolvedUserAddresses += 1 }
        return frame
    }

    private func kernelFrame(address: UInt64) -> Frame {
        if let frame = kernelCache[address] { return frame }
        if kernel == nil { kernel = KernelSymbols.load() }
        let frame: Frame
        if let name = kernel?.name(of: address) {
            frame = Frame(name: name, isResolved: true)
        } else {
            frame = Frame(name: "[kernel]+0x\(String(address, radix: 16))", isResolved: false)
        }
        kernelCache[address] = frame
        statistics.kernelAddresses += 1
        if !frame.isResolved { statistics.unresolvedKernelAddresses += 1 }
        return frame
    }

    /// Reads /proc/kallsyms now rather than at the first kernel address.
    public func loadKernelSymbols() {
        if kernel == nil { kernel = KernelSymbols.load() }
    }

    /// Whether /proc/kallsyms shows addresses (false when kptr_restrict hides them).
    public var kernelSymbolsVisible: Bool {
        if kernel == nil { kernel = KernelSymbols.load() }
        return kernel?.addressesVisible ?? false
    }

    /// The symbol table of the file behind `mapping`, read once. The file is opened through
    /// /proc/PID/map_files (works for deleted or replaced files), then /proc/PID/root
    /// (the process's own filesystem, for containers), then the path as is.
    private func symbols(for mapping: MemoryMapping, pid: pid_t) -> ELFSymbolTable? {
        let key = FileKey(device: mapping.device, inode: mapping.inode, path: mapping.filePath)
        if let known = files[key] { return known }
        let candidates = [
            "\(procRoot)/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))",
            "\(procRoot)/\(pid)/root\(mapping.filePath)",
            mapping.filePath,
        ]
        var table: ELFSymbolTable? = nil
        for path in candidates {
            if let opened = try? ELFSymbolTable(path: path) {
                table = opened
                break
            }
        }
        if table == nil { statistics.unreadableFiles.append(mapping.filePath) }
        files[key] = table
        return table
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var result = Substring(self)
        while result.last == set { result = result.dropLast() }
        while result.first == set { result = result.dropFirst() }
        return String(result)
    }
}
