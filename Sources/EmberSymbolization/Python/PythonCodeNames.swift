import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// A Python frame, named: its function's qualified name, file and line.
public struct PythonFrameName: Hashable, Sendable {
    public var function: String
    public var file: String
    /// The line of the frame's instruction; 0 when the line table has none for it.
    public var line: Int
    /// The function's first line.
    public var firstLine: Int

    public init(function: String, file: String, line: Int, firstLine: Int) {
        self.function = function
        self.file = file
        self.line = line
        self.firstLine = firstLine
    }
}

/// Names the code objects of one Python process from its memory, each once: the name, file
/// and line table are read when an address is first seen, and kept. Before a kept entry is
/// used for a new stack, the code object's header is read again and compared (its type,
/// name, file and line-table pointers, first line): a code object freed and another made
/// at its address is read anew (a new generation), not misnamed.
///
/// The cache is bounded (``capacity`` code objects): past it, the least recently used
/// quarter is evicted, and what is read again afterwards is counted.
public final class PythonCodeNames {
    public let runtime: PythonRuntime
    private let memory: ProcessMemory
    public let capacity: Int

    /// What was read of one code object.
    private struct Entry {
        var fingerprint: [UInt64]
        var name: String
        var file: String
        var firstLine: Int
        var lineTable: [UInt8]
        var lastUse: UInt64
    }

    private var entries: [UInt64: Entry] = [:]
    private var evictedAddresses = Set<UInt64>()
    private var clock: UInt64 = 0

    /// Figures for the report.
    public struct Statistics: Sendable, Equatable {
        /// Code objects read, and of those, read again: evicted before, or changed (a new
        /// object at a freed one's address).
        public var codeObjectsRead = 0
        public var rereadAfterEviction = 0
        public var replaced = 0
        public var evicted = 0
        /// Frames whose code object could not be read or was no code object.
        public var unreadable = 0
        /// Frames whose code object was gone when they were named (freed as the process
        /// ended, moments after the sample), named as it was last read at that address.
        public var namedAfterFree = 0
        public init() {}
    }

    public private(set) var statistics = Statistics()

    public init(runtime: PythonRuntime, memory: ProcessMemory, capacity: Int = 65536) {
        self.runtime = runtime
        self.memory = memory
        self.capacity = max(capacity, 4)
    }

    /// The frame of code object `code` at instruction pointer `instruction`; nil if the
    /// object cannot be read or is not a code object (never a guess).
    public func name(code: UInt64, instruction: UInt64) -> PythonFrameName? {
        clock += 1
        var entry: Entry
        // Compared with memory every time (one read of its header): a code object freed and
        // another made at its address moments later must not keep the old name.
        guard let fingerprint = fingerprint(of: code) else {
            // Gone (an interpreter that ends frees its code objects while the last stacks
            // wait to be named): the sample was taken while it lived, and what was last read
            // at its address was it, unless another code object came and went there in the
            // moments between.
            if var known = entries[code] {
                statistics.namedAfterFree += 1
                return frame(of: &known, code: code, instruction: instruction)
            }
            statistics.unreadable += 1
            return nil
        }
        if let known = entries[code], known.fingerprint == fingerprint {
            entry = known
        } else {
            if entries[code] != nil { statistics.replaced += 1 }
            if evictedAddresses.remove(code) != nil { statistics.rereadAfterEviction += 1 }
            guard let read = readEntry(code: code, fingerprint: fingerprint) else {
                statistics.unreadable += 1
                return nil
            }
            statistics.codeObjectsRead += 1
            entry = read
            if entries.count >= capacity { evict() }
        }
        return frame(of: &entry, code: code, instruction: instruction)
    }

    /// The frame of `entry` at `instruction`; marks the entry used.
    private func frame(of entry: inout Entry, code: UInt64, instruction: UInt64) -> PythonFrameName {
        entry.lastUse = clock
        entries[code] = entry
        let layout = runtime.layout
        var line = 0
        switch Self.instructionOffset(instruction, code: code, layout: layout) {
        case let offset? where offset >= 0:
            line = Self.line(at: offset, table: entry.lineTable, firstLine: entry.firstLine, format: layout.lineTableFormat)
                ?? 0
        case .some:
            // Before its first instruction (3.11 and 3.12's prev_instr one code unit before
            // the code): its def line, as CPython's PyCode_Addr2Line says.
            line = entry.firstLine
        case nil where layout.frameChain == .frameObjects:
            line = entry.firstLine  // f_lasti -1: not started either
        case nil:
            break
        }
        return PythonFrameName(function: entry.name, file: entry.file, line: line, firstLine: entry.firstLine)
    }

    /// The byte offset in the code object's instructions of a frame's instruction, as the
    /// kernel recorded it: a pointer into `co_code_adaptive` (3.11+), or (before) `f_lasti`
    /// shifted left by one (bit 0 is the entry mark). Negative before the first instruction.
    static func instructionOffset(_ instruction: UInt64, code: UInt64, layout: PythonLayout) -> Int? {
        switch layout.frameChain {
        case .interpreterFrames:
            let start = code &+ UInt64(layout.codeInstructions ?? 0)
            if instruction == start &- 2 { return -2 }  // a frame just pushed (3.11, 3.12)
            guard instruction >= start, instruction - start < UInt64(1 << 30) else { return nil }
            return Int((instruction - start) / 2) * 2
        case .frameObjects:
            return layout.instructionOffset(lastInstruction: Int32(truncatingIfNeeded: instruction >> 1))
        }
    }

    /// The kernel's record of instruction byte `offset` of code object `code` (what the
    /// walk reads, then shifts), for tests that name a code object without a frame.
    public static func instruction(atOffset offset: Int, code: UInt64, layout: PythonLayout) -> UInt64 {
        switch layout.frameChain {
        case .interpreterFrames: return code &+ UInt64(layout.codeInstructions ?? 0) &+ UInt64(offset)
        case .frameObjects: return UInt64(UInt32(offset / layout.lastInstructionUnit)) << 1
        }
    }

    private func evict() {
        let keep = capacity - capacity / 4
        let sorted = entries.sorted { $0.value.lastUse > $1.value.lastUse }
        for (address, _) in sorted[keep...] {
            entries[address] = nil
            evictedAddresses.insert(address)
            statistics.evicted += 1
        }
        // The addresses remembered as evicted are bounded too.
        if evictedAddresses.count > capacity * 4 { evictedAddresses.removeAll() }
    }

    /// The fields that identify a code object: its type's name pointer, its name, qualified
    /// name, file and line-table pointers, and its first line. nil if it is no code object.
    private func fingerprint(of code: UInt64) -> [UInt64]? {
        let layout = runtime.layout
        let qualifiedName = layout.codeQualifiedName ?? layout.codeName
        let end = Int(max(layout.codeFilename, layout.codeName, qualifiedName, layout.codeLineTable,
                          layout.codeFirstLine)) + 8
        guard code != 0, let header = memory.read(code, count: end) else { return nil }
        func word(_ offset: UInt32) -> UInt64 {
            header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self) }
        }
        let type = word(UInt32(PythonLayout.objectType))
        guard type != 0, isCodeType(type) else { return nil }
        return [type, word(layout.codeFilename), word(layout.codeName), word(qualifiedName),
                word(layout.codeLineTable), word(layout.codeFirstLine) & 0xffff_ffff]
    }

    private var codeTypes: [UInt64: Bool] = [:]

    /// Whether the type object at `type` is named "code".
    private func isCodeType(_ type: UInt64) -> Bool {
        if let known = codeTypes[type] { return known }
        var isCode = false
        if let namePointer = memory.word(type &+ PythonLayout.typeName), let bytes = memory.read(namePointer, count: 5) {
            isCode = bytes == Array("code\0".utf8)
        }
        if codeTypes.count < 64 { codeTypes[type] = isCode }
        return isCode
    }

    private func readEntry(code: UInt64, fingerprint: [UInt64]) -> Entry? {
        guard let file = string(at: fingerprint[1]),
              let name = string(at: fingerprint[3]) ?? string(at: fingerprint[2]),
              let lineTable = bytes(at: fingerprint[4])
        else { return nil }
        return Entry(fingerprint: fingerprint, name: name, file: file,
                     firstLine: Int(Int32(truncatingIfNeeded: fingerprint[5])), lineTable: lineTable, lastUse: clock)
    }

    /// The longest name read (longer ones are cut at this many characters).
    static let maximumStringLength = 1024

    /// A `str` object's text: compact strings only (code objects' names and files are).
    func string(at address: UInt64) -> String? {
        guard address != 0, let header = memory.read(address, count: Int(runtime.layout.compactUnicodeObjectSize))
        else { return nil }
        let length = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(PythonLayout.unicodeLength), as: Int64.self) }
        let state = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(PythonLayout.unicodeState), as: UInt32.self) }
        let kind = Int((state >> 2) & 7), compact = (state >> 5) & 1 == 1, ascii = (state >> 6) & 1 == 1
        guard compact, length >= 0, [1, 2, 4].contains(kind) else { return nil }
        let count = min(Int(length), Self.maximumStringLength)
        let start = address &+ UInt64(ascii ? runtime.layout.asciiObjectSize : runtime.layout.compactUnicodeObjectSize)
        guard let data = memory.read(start, count: count * kind) else { return nil }
        var scalars = String.UnicodeScalarView()
        for index in 0..<count {
            var value: UInt32 = 0
            for byte in 0..<kind { value |= UInt32(data[index * kind + byte]) << (8 * byte) }
            scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
        }
        return String(scalars)
    }

    /// The largest line table read.
    static let maximumLineTable = 1 << 20

    /// A `bytes` object's contents.
    func bytes(at address: UInt64) -> [UInt8]? {
        guard address != 0, let size = memory.word(address &+ PythonLayout.bytesSize),
              size <= UInt64(Self.maximumLineTable)
        else { return nil }
        return memory.read(address &+ PythonLayout.bytesCharacters, count: Int(size))
    }

    /// The line of the instruction at byte offset `offset` from a line table of `format`;
    /// nil where the table gives it none.
    public static func line(at offset: Int, table: [UInt8], firstLine: Int,
                            format: PythonLayout.LineTableFormat) -> Int? {
        switch format {
        case .locations: return line(at: offset, table: table, firstLine: firstLine)
        case .lineTable310: return lineTable310Line(at: offset, table: table, firstLine: firstLine)
        case .lnotab: return lnotabLine(at: offset, table: table, firstLine: firstLine)
        }
    }

    /// 3.8, 3.9's `co_lnotab` (CPython's `PyCode_Addr2Line`): the line changes by each
    /// pair's signed second byte once the offset reaches the sum of the first bytes so far.
    static func lnotabLine(at offset: Int, table: [UInt8], firstLine: Int) -> Int? {
        var line = firstLine, address = 0, position = 0
        while position + 1 < table.count {
            address += Int(table[position])
            if address > offset { break }
            line += Int(Int8(bitPattern: table[position + 1]))
            position += 2
        }
        return line
    }

    /// 3.10's `co_linetable` (its Objects/lnotab_notes.txt, `_PyCode_CheckLineNumber`):
    /// pairs of a range's length in bytes and the signed change of line at its start,
    /// -128 for a range with no line; empty ranges only move the line.
    static func lineTable310Line(at offset: Int, table: [UInt8], firstLine: Int) -> Int? {
        var line = firstLine, start = 0, position = 0
        while position + 1 < table.count {
            let length = Int(table[position])
            let delta = Int8(bitPattern: table[position + 1])
            position += 2
            let hasLine = delta != -128
            if hasLine { line += Int(delta) }
            if offset >= start && offset < start + length { return hasLine ? line : nil }
            start += length
        }
        return nil
    }

    /// The line of the instruction at byte offset `offset` from a 3.11+ `co_linetable`
    /// (CPython's Objects/locations.md): entries of one start byte (bit 7 set; bits 3-6 a
    /// code, bits 0-2 the entry's length in code units, less one) and the code's varints.
    /// nil where the table says the instruction has no line, or does not cover it.
    public static func line(at offset: Int, table: [UInt8], firstLine: Int) -> Int? {
        var position = 0
        var line = firstLine
        var address = 0
        func varint() -> Int? {
            var value = 0, shift = 0
            while position < table.count {
                let byte = Int(table[position])
                position += 1
                value |= (byte & 63) << shift
                if byte & 64 == 0 { return value }
                shift += 6
                if shift > 30 { return nil }
            }
            return nil
        }
        func signedVarint() -> Int? {
            guard let value = varint() else { return nil }
            return value & 1 != 0 ? -(value >> 1) : value >> 1
        }
        while position < table.count {
            let first = Int(table[position])
            guard first & 128 != 0 else { return nil }
            position += 1
            let code = (first >> 3) & 15
            let length = (first & 7) + 1
            var hasLine = true
            switch code {
            case 15:
                hasLine = false
            case 14:
                guard let delta = signedVarint(), varint() != nil, varint() != nil, varint() != nil else { return nil }
                line += delta
            case 13:
                guard let delta = signedVarint() else { return nil }
                line += delta
            case 10...12:
                line += code - 10
                position += 2
            default:
                position += 1
            }
            let end = address + length * 2
            if offset >= address && offset < end { return hasLine ? line : nil }
            address = end
        }
        return nil
    }
}
