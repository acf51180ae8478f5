import Dispatch
import EmberELF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// A frame as the symbolizer names it: one function of an address's inline chain.
public struct SymbolizedFrame: Hashable, Sendable {
    /// What kind of code a frame is in.
    public enum Kind: Hashable, Sendable {
        /// A function with its own code (or an address that could not be named).
        case function
        /// A function inlined into the next frame out; it has no code of its own.
        case inlined
        /// Generated code named by a perf map.
        case jit
    }

    /// The function name, or `module+0xOFFSET` / `[unknown]` when it could not be named.
    public var name: String
    /// Whether a symbol was found.
    public var isResolved: Bool
    public var kind: Kind
    /// The source position, when `SymbolizerOptions.lines` is on and DWARF knows it.
    public var location: SourceLocation?

    public init(name: String, isResolved: Bool, kind: Kind = .function, location: SourceLocation? = nil) {
        self.name = name
        self.isResolved = isResolved
        self.kind = kind
        self.location = location
    }
}

/// A file mapped into a process, as profiles record it.
public struct ModuleMapping: Hashable, Sendable {
    public var start: UInt64
    public var end: UInt64
    /// The offset in the file of the byte at `start`.
    public var fileOffset: UInt64
    /// The path in the process's view.
    public var path: String
    /// The GNU build id in hexadecimal, or empty.
    public var buildID: String

    public init(start: UInt64, end: UInt64, fileOffset: UInt64, path: String, buildID: String) {
        self.start = start
        self.end = end
        self.fileOffset = fileOffset
        self.path = path
        self.buildID = buildID
    }
}

/// How the symbolizer names frames.
public struct SymbolizerOptions: Sendable {
    /// Add source positions (`--lines`).
    public var lines = false
    /// Extra roots to search for debug files, before the target's /usr/lib/debug (`--debug-dir`).
    public var debugDirectories: [String] = []
    /// Demangle C++, Rust and Swift names (`--no-demangle` turns it off).
    public var demangle = true
    /// Resolve inlined calls from DWARF.
    public var inlines = true

    public init(lines: Bool = false, debugDirectories: [String] = [], demangle: Bool = true, inlines: Bool = true) {
        self.lines = lines
        self.debugDirectories = debugDirectories
        self.demangle = demangle
        self.inlines = inlines
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
    /// Files whose symbols could not be read (the first thousand paths).
    public var unreadableFiles: Set<String> = []
    public init() {}
}

/// Turns sampled addresses into frames, from the sources a process's addresses come from:
/// its memory map, the ELF files mapped into it (with their separate debug files and
/// MiniDebugInfo), their DWARF (inlined calls, lines), perf maps of JIT code, and the
/// kernel's symbols.
///
/// Each file is read once per run (keyed by device and inode), and each distinct address
/// is resolved once. Memory maps are read with ``refresh(process:)`` while the process
/// lives, so a process that exits before the end is still symbolized.
public final class Symbolizer {
    public let options: SymbolizerOptions
    // Copies of the options read for every address (reading them through the struct
    // retains and releases its array each time).
    private let demangle: Bool
    private let lines: Bool
    private let inlines: Bool
    private var memoryMaps: [pid_t: MemoryMap] = [:]
    private var processNames: [pid_t: String] = [:]
    private var files: [FileKey: ObjectFile?] = [:]
    private var perfMaps: [pid_t: PerfMapSource] = [:]
    /// Each process's vDSO (nil: it has none that can be read), and the images seen, so
    /// that processes of one kernel share one.
    private var vdsoObjects: [pid_t: ObjectFile?] = [:]
    private var vdsoImages: [[UInt8]: ObjectFile] = [:]
    private var kernel: KernelSymbols?
    /// Kernel addresses' names from the kernel's own lookup, where a recording gives one;
    /// /proc/kallsyms is read only where it does not answer.
    public var kernelNames: KernelNameSource?
    /// Frames of addresses in no ELF file (anonymous memory, JIT code), per process.
    private var userCache: [pid_t: [UInt64: [SymbolizedFrame]]] = [:]
    private var kernelCache: [UInt64: SymbolizedFrame] = [:]
    private var demangled: [String: String] = [:]
    private var lastInFile: (path: String, object: ObjectFile)?
    /// The last mapping's file, so that consecutive frames in one file skip the hashing.
    private var lastFile: (key: FileKey, object: ObjectFile?)?
    private let procRoot: String
    public private(set) var statistics = SymbolizationStatistics()
    /// Files whose tables are being read on `readingQueue`.
    private var reading: [ObjectIdentifier: (object: ObjectFile, work: BackgroundWork<ObjectFile.Prepared>)] = [:]
    /// One file at a time: reading ahead must not take the CPUs of the processes watched.
    private let readingQueue = DispatchQueue(label: "ember.symbolizer.reading")
    /// Since when no process known here maps each open file (see ``releaseIdleFiles``).
    private var unmappedSince: [FileKey: Double] = [:]
    /// Files let go of because no process mapped them any more.
    public private(set) var releasedFiles = 0
    /// Times a file's DWARF was let go of because no new address needed it.
    public private(set) var releasedDWARF = 0

    /// A file as the kernel knows it: device and inode, whatever path reached it (a file
    /// mapped by several processes, or through several names, is read once). `path` is
    /// only used for files named on the command line (inode 0).
    struct FileKey: Hashable {
        var device: String
        var inode: UInt64
        var path: String

        init(device: String, inode: UInt64, path: String) {
            self.device = device
            self.inode = inode
            self.path = inode == 0 ? path : ""
        }
    }

    struct UserAddressKey: Hashable {
        var file: FileKey?
        var address: UInt64  // file-relative when `file` is set, absolute otherwise
        var pid: pid_t
    }

    /// - Parameter procRoot: where procfs is mounted (tests may point elsewhere).
    public init(options: SymbolizerOptions = SymbolizerOptions(), procRoot: String = "/proc") {
        self.options = options
        demangle = options.demangle
        lines = options.lines
        inlines = options.inlines
        self.procRoot = procRoot
    }

    // MARK: Processes

    /// Reads (again) the memory map and name of `pid`, its perf map, and the symbols of
    /// every executable file it maps that were not read yet. Returns false if the process is gone.
    @discardableResult
    public func refresh(process pid: pid_t) -> Bool {
        guard let bytes = try? FileContents.read("\(procRoot)/\(pid)/maps") else { return false }
        let map = MemoryMap(bytes: bytes)
        if let comm = try? FileContents.read("\(procRoot)/\(pid)/comm") {
            let name = String(decoding: comm, as: UTF8.self).trimmingCharacters(in: "\n")
            if !name.isEmpty { processNames[pid] = name }
        }
        if memoryMaps[pid] == nil {
            memoryMaps[pid] = map
        } else {
            memoryMaps[pid]!.update(with: map)
        }
        for mapping in map.mappings where mapping.isExecutable && mapping.isFileBacked {
            _ = objectFile(for: mapping, pid: pid)
        }
        if vdsoObjects[pid] == nil, let vdso = map.mappings.first(where: { $0.path == VDSO.mappingName }) {
            _ = vdsoObject(for: vdso, pid: pid)
        }
        perfMap(for: pid)?.reloadIfGrown()
        return true
    }

    /// Lets go of a process that is gone and whose samples are named (or that had none):
    /// its map, names and the frames of its addresses in no file. Its files stay, for the
    /// other processes that map them (see ``releaseIdleFiles(unusedFor:now:closing:)``).
    public func forget(process pid: pid_t) {
        memoryMaps[pid] = nil
        processNames[pid] = nil
        perfMaps[pid] = nil
        userCache[pid] = nil
        vdsoObjects[pid] = nil
    }

    /// Closes the files that no process known here has mapped for `age` seconds, with their
    /// symbol tables, DWARF and named addresses: on a host that rebuilds and reruns
    /// programs all day, every build makes new files (new inodes), and keeping each one
    /// would grow without end. The grace period keeps a file that one short process after
    /// another maps (a shell loop's `grep`) from being read again each time. Files still
    /// mapped whose DWARF named no new address for `age` seconds let go of the DWARF.
    ///
    /// `closing` gets each file's identity (as ``elfFile(pid:address:)`` gave it) just
    /// before its handles close, for readers that keep something derived from them.
    /// Returns the number of files closed.
    @discardableResult
    public func releaseIdleFiles(unusedFor age: Double, now: Double,
                                 closing: (ObjectIdentifier) -> Void = { _ in }) -> Int {
        var mapped = Set<FileKey>()
        for map in memoryMaps.values {
            for mapping in map.mappings where mapping.isFileBacked {
                mapped.insert(FileKey(device: mapping.device, inode: mapping.inode, path: mapping.path))
            }
        }
        var released = 0
        for (key, object) in files where key.inode != 0 {
            if mapped.contains(key) {
                unmappedSince[key] = nil
                if let object, object.holdsDWARF, now - object.lastDWARFUse >= age,
                   reading[ObjectIdentifier(object)] == nil {
                    object.releaseDWARF()
                    releasedDWARF += 1
                }
                continue
            }
            guard let since = unmappedSince[key] else {
                unmappedSince[key] = now
                continue
            }
            guard now - since >= age else { continue }
            if let object {
                // A file still being read on the other thread is let go of next time.
                guard reading[ObjectIdentifier(object)] == nil else { continue }
                closing(ObjectIdentifier(object))
            }
            files[key] = nil
            unmappedSince[key] = nil
            released += 1
        }
        if released > 0 {
            lastFile = nil
            releasedFiles += released
        }
        return released
    }

    /// Adds a memory map read elsewhere (for tests and for replaying saved maps).
    public func setMemoryMap(_ map: MemoryMap, for pid: pid_t, name: String? = nil) {
        memoryMaps[pid] = map
        if let name { processNames[pid] = name }
    }

    /// The process's name as /proc/PID/comm gave it at the last refresh.
    public func processName(_ pid: pid_t) -> String? { processNames[pid] }

    /// The process's memory map as last read (with mappings gone since kept).
    public func memoryMap(pid: pid_t) -> MemoryMap? { memoryMaps[pid] }

    // MARK: Symbolization

    /// Names the frames of a user stack of `pid`, innermost first as the kernel records it.
    /// Every address but the first is a return address, looked up one byte earlier so that a
    /// call at the very end of a function names that function and not the next one.
    ///
    /// An address inside inlined code gives several frames: the inlined functions, innermost
    /// first, then the function they were inlined into. So the result read backwards is
    /// still root first.
    public func userFrames(pid: pid_t, stack: [UInt64]) -> [SymbolizedFrame] {
        var frames: [SymbolizedFrame] = []
        frames.reserveCapacity(stack.count)
        for (index, address) in stack.enumerated() {
            frames += userFrame(pid: pid, address: index == 0 ? address : address &- 1)
        }
        return frames
    }

    /// The mapping of `pid` that holds `address`, with its file's build id when it is ELF.
    public func moduleMapping(pid: pid_t, address: UInt64) -> ModuleMapping? {
        guard let mapping = memoryMaps[pid]?.mapping(containing: address) else { return nil }
        let buildID = mapping.isFileBacked ? objectFile(for: mapping, pid: pid)?.buildIDText ?? ""
            : mapping.path == VDSO.mappingName ? vdsoObject(for: mapping, pid: pid)?.buildIDText ?? "" : ""
        return ModuleMapping(start: mapping.start, end: mapping.end, fileOffset: mapping.fileOffset,
                             path: mapping.path.isEmpty ? "[anon]" : mapping.filePath, buildID: buildID)
    }

    /// The executable file mapped lowest in `pid`'s address space: its program (libraries,
    /// the vDSO and the stack lie above it).
    public func mainExecutable(pid: pid_t) -> ModuleMapping? {
        guard let mapping = memoryMaps[pid]?.mappings.first(where: { $0.isExecutable && $0.isFileBacked }) else { return nil }
        return moduleMapping(pid: pid, address: mapping.start)
    }

    /// Names the frames of a kernel stack, innermost first.
    public func kernelFrames(stack: [UInt64]) -> [SymbolizedFrame] {
        stack.enumerated().map { index, address in
            kernelFrame(address: index == 0 ? address : address &- 1)
        }
    }

    /// Names the code at `address` in an ELF file that need not be mapped anywhere (the
    /// address as the file's symbols use them): for `ember symbolize --elf`.
    public func frames(inFile path: String, address: UInt64) throws -> [SymbolizedFrame] {
        let object: ObjectFile
        if let last = lastInFile, last.path == path {
            object = last.object
        } else {
            let key = FileKey(device: "file", inode: 0, path: path)
            if let known = files[key], let known {
                object = known
            } else {
                let file = try ELFFile(path: path)
                object = ObjectFile(file: file, targetPath: path, locator: locator(root: ""), readsLines: lines)
                files[key] = object
            }
            lastInFile = (path, object)
        }
        return cached(in: object, address: address, moduleName: baseName(path))
    }

    private func userFrame(pid: pid_t, address: UInt64) -> [SymbolizedFrame] {
        guard let mapping = memoryMaps[pid]?.mapping(containing: address) else {
            return cachedUser(UserAddressKey(file: nil, address: address, pid: pid)) {
                jitFrame(pid: pid, address: address) ?? [SymbolizedFrame(name: "[unknown]", isResolved: false)]
            }
        }
        let fileOffset = address - mapping.start + mapping.fileOffset
        if mapping.path == VDSO.mappingName, let vdso = vdsoObject(for: mapping, pid: pid) {
            let offset = address - mapping.start
            return cached(in: vdso, address: vdso.symbols.virtualAddress(forFileOffset: offset) ?? offset,
                          moduleName: VDSO.mappingName)
        }
        guard mapping.isFileBacked else {
            let key = UserAddressKey(file: nil, address: address, pid: pid)
            return cachedUser(key) {
                if let jit = jitFrame(pid: pid, address: address) { return jit }
                let module = mapping.path.isEmpty ? "[anon]" : mapping.path
                return [SymbolizedFrame(name: "\(module)+0x\(String(address - mapping.start, radix: 16))",
                              isResolved: false)]
            }
        }
        guard let object = objectFile(for: mapping, pid: pid) else {
            // Not ELF: perhaps JIT code in a file-backed mapping (memfd, a JIT's code cache
            // file), which only the perf map names.
            return cachedUser(UserAddressKey(file: nil, address: address, pid: pid)) {
                jitFrame(pid: pid, address: address)
                    ?? [SymbolizedFrame(name: "\(mapping.moduleName)+0x\(String(fileOffset, radix: 16))", isResolved: false)]
            }
        }
        let elfAddress = object.symbols.virtualAddress(forFileOffset: fileOffset) ?? fileOffset
        return cached(in: object, address: elfAddress, moduleName: mapping.moduleName)
    }

    /// The ELF file mapped executable at `address` in `pid`: its libelf handle (open as
    /// long as this symbolizer), an object that stands for the file in every process, and
    /// the address as the file's own virtual addresses give it. For readers of the file's
    /// CFI; nil where no ELF file is mapped.
    public func elfFile(pid: pid_t, address: UInt64) -> (elf: OpaquePointer, file: AnyObject, address: UInt64)? {
        guard let mapping = memoryMaps[pid]?.mapping(containing: address),
              mapping.isExecutable, mapping.isFileBacked,
              let object = objectFile(for: mapping, pid: pid) else { return nil }
        let fileOffset = address - mapping.start + mapping.fileOffset
        return (object.file.elf, object, object.symbols.virtualAddress(forFileOffset: fileOffset) ?? fileOffset)
    }

    /// The frames of `address` in `object`, resolved on first use. A file keeps the frames
    /// of its first ``maximumCachedAddresses`` addresses only: hours of a big binary reach
    /// ever new ones, and the profile keeps what it needs of them; past that, a new address
    /// is resolved each time it is asked for (and counted each time).
    private func cached(in object: ObjectFile, address: UInt64, moduleName: @autoclosure () -> String) -> [SymbolizedFrame] {
        if let frames = object.frames[address] { return frames }
        let frames = resolve(in: object, address: address, moduleName: moduleName)
        if object.frames.count < Self.maximumCachedAddresses { object.frames[address] = frames }
        statistics.userAddresses += 1
        if frames.last?.isResolved != true { statistics.unresolvedUserAddresses += 1 }
        return frames
    }

    static let maximumCachedAddresses = 32_768

    /// The frames of one address in one file: the DWARF inline chain (innermost first) and
    /// the physical function, named by the symbol table.
    private func resolve(in object: ObjectFile, address: UInt64, moduleName: () -> String) -> [SymbolizedFrame] {
        let symbol = object.symbols.index(containing: address)
        var chain: [DWARFFrame] = []
        if inlines || lines, let dwarf = object.dwarf {
            chain = dwarf.frames(at: address, withLines: lines)
            if !inlines, let last = chain.last { chain = [last] }
        }
        var frames: [SymbolizedFrame] = []
        for (index, link) in chain.enumerated() where index < chain.count - 1 {
            frames.append(SymbolizedFrame(name: link.name.map(displayName) ?? "[inlined]", isResolved: true,
                                kind: .inlined, location: link.location))
        }
        if let symbol {
            frames.append(SymbolizedFrame(name: displayName(of: symbol, in: object), isResolved: true,
                                location: chain.last?.location))
        } else if let name = chain.last?.name {
            frames.append(SymbolizedFrame(name: displayName(name), isResolved: true, location: chain.last?.location))
        } else {
            frames.append(SymbolizedFrame(name: "\(moduleName())+0x\(String(address, radix: 16))", isResolved: false,
                                location: chain.last?.location))
        }
        return frames
    }

    /// A symbol's name as shown, demangled once per symbol.
    private func displayName(of symbol: Int, in object: ObjectFile) -> String {
        guard demangle else { return object.symbols.name(at: symbol) }
        if object.displayNames.isEmpty {
            object.displayNames = Array(repeating: nil, count: object.symbols.count)
        }
        if let known = object.displayNames[symbol] { return known }
        let name = Demangler.demangle(object.symbols.name(at: symbol))
        object.displayNames[symbol] = name
        return name
    }

    private func displayName(_ name: String) -> String {
        guard demangle else { return name }
        if let known = demangled[name] { return known }
        let result = Demangler.demangle(name)
        demangled[name] = result
        return result
    }

    private func jitFrame(pid: pid_t, address: UInt64) -> [SymbolizedFrame]? {
        guard let source = perfMap(for: pid) else { return nil }
        var name = source.map.lookup(address)
        if name == nil && source.reloadIfGrown() { name = source.map.lookup(address) }
        return name.map { [SymbolizedFrame(name: $0, isResolved: true, kind: .jit)] }
    }

    /// The perf map of `pid`: /tmp/perf-NSPID.map inside the process's root, NSPID being its
    /// pid in its own namespace. Checked again at each refresh and on a miss.
    @discardableResult
    private func perfMap(for pid: pid_t) -> PerfMapSource? {
        if let known = perfMaps[pid] { return known }
        guard let status = try? FileContents.read("\(procRoot)/\(pid)/status") else { return nil }
        var namespacePid = pid
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("NSpid:") {
            if let last = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last, let value = pid_t(last) {
                namespacePid = value
            }
        }
        let source = PerfMapSource(path: "\(procRoot)/\(pid)/root/tmp/perf-\(namespacePid).map")
        perfMaps[pid] = source
        return source
    }

    private func cachedUser(_ key: UserAddressKey, _ resolve: () -> [SymbolizedFrame]) -> [SymbolizedFrame] {
        if let frames = userCache[key.pid]?[key.address] { return frames }
        let frames = resolve()
        userCache[key.pid, default: [:]][key.address] = frames
        statistics.userAddresses += 1
        if frames.last?.isResolved != true { statistics.unresolvedUserAddresses += 1 }
        return frames
    }

    private func kernelFrame(address: UInt64) -> SymbolizedFrame {
        if let frame = kernelCache[address] { return frame }
        nameKernelAddresses([address])
        return kernelCache[address] ?? SymbolizedFrame(name: "[kernel]", isResolved: false)
    }

    /// Names kernel addresses (each as ``kernelFrames(stack:)`` will look it up) before they
    /// are asked for one at a time: the kernel's lookup answers a batch at one system call.
    public func nameKernelAddresses(_ addresses: [UInt64]) {
        let new = Array(Set(addresses.filter { kernelCache[$0] == nil }))
        guard !new.isEmpty else { return }
        let answers = kernelNames?.names(new) ?? []
        for (index, address) in new.enumerated() {
            var name: String?
            switch index < answers.count ? answers[index] : .unanswered {
            case .function(let function): name = KernelSymbols.functionName(function)
            case .noFunction: name = nil
            case .unanswered:
                if kernel == nil { kernel = KernelSymbols.load() }
                name = kernel?.name(of: address)
            }
            let frame = name.map { SymbolizedFrame(name: $0, isResolved: true) }
                ?? SymbolizedFrame(name: "[kernel]+0x\(String(address, radix: 16))", isResolved: false)
            kernelCache[address] = frame
            statistics.kernelAddresses += 1
            if !frame.isResolved { statistics.unresolvedKernelAddresses += 1 }
        }
    }

    /// Reads /proc/kallsyms now rather than at the first kernel address, unless the kernel
    /// names addresses itself.
    public func loadKernelSymbols() {
        if kernel == nil, kernelNames == nil { kernel = KernelSymbols.load() }
    }

    /// Whether kernel addresses can be named: by the kernel itself, or by /proc/kallsyms
    /// where it shows addresses (not when kptr_restrict hides them).
    public var kernelSymbolsVisible: Bool {
        if kernelNames != nil { return true }
        if kernel == nil { kernel = KernelSymbols.load() }
        return kernel?.addressesVisible ?? false
    }

    /// Says why kernel frames are unnamed when they are, for reports; nil when they are not.
    public var kernelSymbolsNote: String? {
        kernelSymbolsVisible ? nil
            : "kernel symbols hidden: /proc/kallsyms shows zero addresses (kernel.kptr_restrict is set "
              + "or ember lacks CAP_SYSLOG); kernel frames are unnamed"
    }

    private func locator(root: String) -> DebugFileLocator {
        DebugFileLocator(root: root, extraDirectories: options.debugDirectories)
    }

    // MARK: Reading ahead

    /// Whether naming these addresses of `pid` now would pause for nothing: every file they
    /// lie in has its symbol table (and its DWARF, where lines or inlines are named) read.
    /// Files not read yet start reading on another thread; ask again later. For a recording,
    /// whose thread must keep reading samples and new processes' maps: libc's DWARF index
    /// alone takes tens of milliseconds to read.
    public func filesAreRead(pid: pid_t, addresses: some Sequence<UInt64>) -> Bool {
        takeFinishedReading()
        let needsDWARF = lines || inlines
        guard let map = memoryMaps[pid] else { return true }
        var allRead = true
        var seen = Set<ObjectIdentifier>()
        for address in addresses {
            guard let mapping = map.mapping(containing: address), mapping.isFileBacked,
                  let object = objectFile(for: mapping, pid: pid),
                  seen.insert(ObjectIdentifier(object)).inserted,
                  !object.isRead(needsDWARF: needsDWARF)
            else { continue }
            allRead = false
            guard reading[ObjectIdentifier(object)] == nil else { continue }
            guard let preparation = object.preparation(needsDWARF: needsDWARF) else {
                // Cannot be opened again: read it here, once.
                _ = object.symbols
                if needsDWARF { _ = object.dwarf }
                continue
            }
            reading[ObjectIdentifier(object)] = (object, BackgroundWork(on: readingQueue) {
                // At the lowest priority (Linux's nice is per thread): the processes watched
                // come first.
                let priority = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
                defer { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, priority) }
                return preparation.run()
            })
        }
        return allRead
    }

    private func takeFinishedReading() {
        for (key, entry) in reading where entry.work.isFinished {
            if let prepared = try? entry.work.wait() { entry.object.install(prepared) }
            reading[key] = nil
        }
    }

    /// The vDSO mapped at `mapping` in `pid`, read once per process (see ``VDSO``).
    private func vdsoObject(for mapping: MemoryMapping, pid: pid_t) -> ObjectFile? {
        if let known = vdsoObjects[pid] { return known }
        let ownSize = VDSO.ownImage.map { UInt64($0.count) }
        guard let image = VDSO.image(of: mapping, procRoot: procRoot, pid: pid)
                ?? (ownSize == mapping.end - mapping.start ? VDSO.ownImage : nil)
        else {
            vdsoObjects[pid] = .some(nil)
            return nil
        }
        if let known = vdsoImages[image] {
            vdsoObjects[pid] = known
            return known
        }
        let object = (try? ELFFile(image: image, name: VDSO.mappingName))
            .map { ObjectFile(file: $0, targetPath: VDSO.mappingName, locator: locator(root: ""), readsLines: lines) }
        if let object { vdsoImages[image] = object }
        vdsoObjects[pid] = .some(object)
        return object
    }

    /// The file behind `mapping`, read once. It is opened through /proc/PID/map_files
    /// (works for deleted or replaced files), then /proc/PID/root (the process's own
    /// filesystem, for containers), then the path as is; debug files are looked for
    /// inside the process's root.
    private func objectFile(for mapping: MemoryMapping, pid: pid_t) -> ObjectFile? {
        if let last = lastFile, last.key.inode == mapping.inode, last.key.device == mapping.device {
            return last.object
        }
        let key = FileKey(device: mapping.device, inode: mapping.inode, path: mapping.path)
        if let known = files[key] {
            lastFile = (key, known)
            return known
        }
        let root = "\(procRoot)/\(pid)/root"
        let candidates = [
            "\(procRoot)/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))",
            root + mapping.filePath,
            mapping.filePath,
        ]
        var object: ObjectFile? = nil
        for path in candidates {
            if let file = try? ELFFile(path: path) {
                let debugRoot = access(root + "/", F_OK) == 0 ? root : ""
                object = ObjectFile(file: file, targetPath: mapping.filePath, locator: locator(root: debugRoot), readsLines: lines)
                break
            }
        }
        // A data file (a mapped cache or module file that a stray stack word points into)
        // has no symbols to miss.
        if object == nil && mapping.isExecutable && statistics.unreadableFiles.count < 1000 {
            statistics.unreadableFiles.insert(mapping.filePath)
        }
        files[key] = object
        lastFile = (key, object)
        return object
    }
}

func baseName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var result = Substring(self)
        while result.last == set { result = result.dropLast() }
        while result.first == set { result = result.dropFirst() }
        return String(result)
    }
}
