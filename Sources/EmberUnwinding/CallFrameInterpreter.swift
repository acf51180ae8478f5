import CLibElf

/// Runs the CFA program of every FDE of an `.eh_frame` or `.debug_frame` section once,
/// start to end, and gives each row it defines in the kernel's few rules
/// (``UnwindRow/Rule``).
///
/// Written by hand because libdw answers one address at a time: `dwarf_cfi_addrframe`
/// finds the FDE and reruns its program up to that address, so a whole table through it
/// costs a program run (and allocations) per row, which made tables for a process's
/// libraries a large part of ember's start. Only what rows need is tracked: the CFA rule,
/// the return address's and rbp's rules; the other registers' instructions are read past.
/// Tests check every row against binutils' interpretation (`readelf
/// --debug-dump=frames-interp`).
struct CallFrameInterpreter {
    enum Format { case ehFrame, debugFrame }

    /// The section's bytes, valid while this value is used.
    let bytes: UnsafeRawBufferPointer
    /// The section's address (`sh_addr`), which pc-relative pointers are relative to.
    let sectionAddress: UInt64
    let format: Format

    /// One FDE: the code it covers and where its instructions are.
    struct Entry {
        var start: UInt64
        var end: UInt64
        var cieOffset: Int
        var instructions: Range<Int>
    }

    /// What a CIE gives its FDEs.
    struct CommonEntry {
        var codeAlignment: UInt64
        var dataAlignment: Int64
        var returnAddressRegister: UInt64
        var pointerEncoding: UInt8
        var addressSize: Int
        var hasAugmentationData: Bool
        var isSignalFrame: Bool
        var instructions: Range<Int>
    }

    /// The rows of every FDE in address order, a `.none` row where no FDE covers the code
    /// (from an FDE's end to the next one's start), consecutive equal rules merged.
    func rows() -> [UnwindRow] {
        var commonEntries: [Int: CommonEntry?] = [:]
        var entries: [Entry] = []
        var offset = 0
        while let record = record(at: offset) {
            offset = record.end
            guard !record.isCommonEntry, let cieOffset = record.cieOffset, cieOffset >= 0, cieOffset < bytes.count
            else { continue }
            if commonEntries[cieOffset] == nil { commonEntries[cieOffset] = .some(commonEntry(at: cieOffset)) }
            guard case let cie?? = commonEntries[cieOffset],
                  let entry = entry(record, cie: cie, cieOffset: cieOffset), entry.end > entry.start
            else { continue }
            entries.append(entry)
        }
        entries.sort { $0.start < $1.start }

        var rows: [UnwindRow] = []
        rows.reserveCapacity(entries.count * 4)
        func append(_ row: UnwindRow) {
            if let last = rows.last {
                if last.sameRule(as: row) { return }
                if last.pc == row.pc { rows.removeLast() }
            }
            rows.append(row)
        }
        var coveredUntil: UInt64 = 0
        for (index, entry) in entries.enumerated() {
            // An FDE inside one already walked (they should not overlap) adds only its rows
            // past that one's end.
            guard entry.end > coveredUntil, case let cie?? = commonEntries[entry.cieOffset] else { continue }
            run(entry, cie: cie) { start, end, row in
                guard end > coveredUntil else { return }
                var row = row
                row.pc = max(start, coveredUntil)
                append(row)
            }
            coveredUntil = entry.end
            let next = entries[(index + 1)...].first { $0.end > coveredUntil }
            if next.map({ $0.start > coveredUntil }) ?? true {
                append(UnwindRow(pc: coveredUntil, rule: .none))
            }
        }
        return rows
    }

    // MARK: Records

    struct Record {
        var isCommonEntry: Bool
        /// For an FDE: its CIE's offset in the section.
        var cieOffset: Int?
        /// Past the CIE id or CIE pointer.
        var body: Int
        var end: Int
    }

    /// The CIE or FDE at `offset`; nil at the section's end or its terminator.
    func record(at offset: Int) -> Record? {
        var reader = SectionReader(bytes: bytes, cursor: offset, end: bytes.count)
        guard let length32 = reader.u32(), length32 != 0 else { return nil }
        var length = UInt64(length32)
        var idSize = 4
        if length32 == 0xffff_ffff {
            guard let length64 = reader.u64() else { return nil }
            length = length64
            idSize = 8
        }
        let idOffset = reader.cursor
        guard length <= UInt64(bytes.count - idOffset), Int(length) >= idSize else { return nil }
        let end = idOffset + Int(length)
        guard let id = idSize == 4 ? reader.u32().map(UInt64.init) : reader.u64() else { return nil }
        switch format {
        case .ehFrame:
            // The CIE pointer counts back from itself.
            if id == 0 { return Record(isCommonEntry: true, body: reader.cursor, end: end) }
            let cie = id <= UInt64(idOffset) ? idOffset - Int(id) : nil
            return Record(isCommonEntry: false, cieOffset: cie, body: reader.cursor, end: end)
        case .debugFrame:
            if id == (idSize == 4 ? 0xffff_ffff : UInt64.max) {
                return Record(isCommonEntry: true, body: reader.cursor, end: end)
            }
            return Record(isCommonEntry: false, cieOffset: id < UInt64(bytes.count) ? Int(id) : nil,
                          body: reader.cursor, end: end)
        }
    }

    func commonEntry(at offset: Int) -> CommonEntry? {
        guard let record = record(at: offset), record.isCommonEntry else { return nil }
        var reader = SectionReader(bytes: bytes, cursor: record.body, end: record.end)
        guard let version = reader.u8(), [1, 3, 4].contains(version) else { return nil }
        var augmentation: [UInt8] = []
        while let byte = reader.u8(), byte != 0 { augmentation.append(byte) }
        var addressSize = 8
        if version >= 4 {
            guard let size = reader.u8(), size == 4 || size == 8, reader.u8() == 0 else { return nil }
            addressSize = Int(size)
        }
        guard let codeAlignment = reader.uleb(), let dataAlignment = reader.sleb(),
              let returnAddressRegister = version == 1 ? reader.u8().map(UInt64.init) : reader.uleb()
        else { return nil }
        var cie = CommonEntry(codeAlignment: codeAlignment, dataAlignment: dataAlignment,
                              returnAddressRegister: returnAddressRegister,
                              pointerEncoding: 0x00 /* DW_EH_PE_absptr */, addressSize: addressSize,
                              hasAugmentationData: false, isSignalFrame: false, instructions: 0..<0)
        if augmentation.first == UInt8(ascii: "z") {
            guard let length = reader.uleb(), length <= UInt64(record.end - reader.cursor) else { return nil }
            let dataEnd = reader.cursor + Int(length)
            cie.hasAugmentationData = true
            characters: for character in augmentation.dropFirst() {
                switch character {
                case UInt8(ascii: "R"):
                    guard let encoding = reader.u8() else { return nil }
                    cie.pointerEncoding = encoding
                case UInt8(ascii: "P"):
                    // The personality routine's pointer, often indirect: only read past.
                    guard let encoding = reader.u8(),
                          reader.encodedPointer(encoding & 0x0f, addressSize: addressSize, base: 0) != nil
                    else { return nil }
                case UInt8(ascii: "L"):
                    guard reader.u8() != nil else { return nil }
                case UInt8(ascii: "S"):
                    cie.isSignalFrame = true
                case UInt8(ascii: "B"), UInt8(ascii: "G"):
                    break
                default:
                    break characters  // the data's length lets the rest be skipped
                }
            }
            reader.cursor = dataEnd
        } else if !augmentation.isEmpty {
            return nil  // without "z" an unknown augmentation cannot be read past
        }
        cie.instructions = reader.cursor..<record.end
        return cie
    }

    func entry(_ record: Record, cie: CommonEntry, cieOffset: Int) -> Entry? {
        var reader = SectionReader(bytes: bytes, cursor: record.body, end: record.end)
        let start: UInt64, range: UInt64
        if format == .ehFrame {
            let encoding = cie.pointerEncoding
            guard let first = reader.encodedPointer(encoding, addressSize: 8, base: sectionAddress),
                  let size = reader.encodedPointer(encoding & 0x0f, addressSize: 8, base: 0)
            else { return nil }
            start = first
            range = size
        } else {
            guard let first = reader.address(size: cie.addressSize), let size = reader.address(size: cie.addressSize)
            else { return nil }
            start = first
            range = size
        }
        if cie.hasAugmentationData {
            guard let length = reader.uleb(), length <= UInt64(record.end - reader.cursor) else { return nil }
            reader.cursor += Int(length)
        }
        let (end, overflow) = start.addingReportingOverflow(range)
        guard !overflow else { return nil }
        return Entry(start: start, end: end, cieOffset: cieOffset, instructions: reader.cursor..<record.end)
    }

    // MARK: The CFA program

    enum RegisterRule: Equatable {
        /// The caller's value is this frame's (x86-64's rule for callee-saved registers).
        case sameValue
        case undefined
        /// Saved at CFA + N.
        case savedAt(Int64)
        /// Any other rule (in a register, a value, an expression).
        case other
    }

    enum CFARule: Equatable {
        case register(UInt64, Int64)
        /// The expression's bytes in the section.
        case expression(Range<Int>)
        case unknown
    }

    struct State: Equatable {
        var cfa: CFARule
        var returnAddress: RegisterRule
        var rbp: RegisterRule
    }

    /// The x86-64 ABI's rules before a CIE says anything (as libdw's backend sets them):
    /// CFA = rsp + 8, the return address at CFA - 8, rbp unchanged.
    static let abiState = State(cfa: .register(DWARFRegister.rsp, 8), returnAddress: .savedAt(-8), rbp: .sameValue)

    /// Calls `emit(start, end, row)` for each row of `entry`, in order. An instruction
    /// that cannot be read ends the FDE's rows with one that needs a stack copy.
    func run(_ entry: Entry, cie: CommonEntry, emit: (UInt64, UInt64, UnwindRow) -> Void) {
        var state = Self.abiState
        var initial = state
        var location = entry.start
        var rowStart = entry.start
        var saved: [State] = []

        /// Interprets `range`; false where it stops on something it cannot read.
        func interpret(_ range: Range<Int>, isCommonEntry: Bool) -> Bool {
            var reader = SectionReader(bytes: bytes, cursor: range.lowerBound, end: range.upperBound)
            func advance(to next: UInt64) -> Bool {
                guard !isCommonEntry, next >= location else { return false }
                if next > location {
                    if rowStart < entry.end { emit(rowStart, min(next, entry.end), classify(state, cie: cie)) }
                    rowStart = next
                    location = next
                }
                return true
            }
            func setRule(_ register: UInt64, _ rule: RegisterRule) {
                if register == cie.returnAddressRegister { state.returnAddress = rule }
                if register == DWARFRegister.rbp { state.rbp = rule }
            }
            func restore(_ register: UInt64) {
                if register == cie.returnAddressRegister { state.returnAddress = initial.returnAddress }
                if register == DWARFRegister.rbp { state.rbp = initial.rbp }
            }
            func factored(_ value: Int64) -> Int64? {
                let (product, overflow) = value.multipliedReportingOverflow(by: cie.dataAlignment)
                return overflow ? nil : product
            }
            while reader.cursor < reader.end {
                guard let opcode = reader.u8() else { return false }
                let operand = UInt64(opcode & 0x3f)
                switch opcode >> 6 {
                case 1:  // DW_CFA_advance_loc
                    guard advance(to: location &+ operand &* cie.codeAlignment) else { return false }
                    continue
                case 2:  // DW_CFA_offset
                    guard let offset = reader.uleb(), offset <= UInt64(Int64.max), let value = factored(Int64(offset))
                    else { return false }
                    setRule(operand, .savedAt(value))
                    continue
                case 3:  // DW_CFA_restore
                    restore(operand)
                    continue
                default:
                    break
                }
                switch opcode {
                case 0x00:  // DW_CFA_nop
                    break
                case 0x01:  // DW_CFA_set_loc
                    let next = format == .ehFrame
                        ? reader.encodedPointer(cie.pointerEncoding, addressSize: 8, base: sectionAddress)
                        : reader.address(size: cie.addressSize)
                    guard let next, advance(to: next) else { return false }
                case 0x02, 0x03, 0x04:  // DW_CFA_advance_loc1, 2, 4
                    let delta: UInt64?
                    switch opcode {
                    case 0x02: delta = reader.u8().map(UInt64.init)
                    case 0x03: delta = reader.u16().map(UInt64.init)
                    default: delta = reader.u32().map(UInt64.init)
                    }
                    guard let delta, advance(to: location &+ delta &* cie.codeAlignment) else { return false }
                case 0x05, 0x11, 0x2f:  // DW_CFA_offset_extended, _sf, DW_CFA_GNU_negative_offset_extended
                    guard let register = reader.uleb() else { return false }
                    let offset: Int64?
                    switch opcode {
                    case 0x05: offset = reader.uleb().flatMap { $0 <= UInt64(Int64.max) ? Int64($0) : nil }
                    case 0x11: offset = reader.sleb()
                    default: offset = reader.uleb().flatMap { $0 <= UInt64(Int64.max) ? -Int64($0) : nil }
                    }
                    guard let offset, let value = factored(offset) else { return false }
                    setRule(register, .savedAt(value))
                case 0x06:  // DW_CFA_restore_extended
                    guard let register = reader.uleb() else { return false }
                    restore(register)
                case 0x07, 0x08:  // DW_CFA_undefined, DW_CFA_same_value
                    guard let register = reader.uleb() else { return false }
                    setRule(register, opcode == 0x07 ? .undefined : .sameValue)
                case 0x09:  // DW_CFA_register
                    guard let register = reader.uleb(), reader.uleb() != nil else { return false }
                    setRule(register, .other)
                case 0x0a:  // DW_CFA_remember_state
                    guard saved.count < 64 else { return false }
                    saved.append(state)
                case 0x0b:  // DW_CFA_restore_state
                    guard let last = saved.popLast() else { return false }
                    state = last
                case 0x0c, 0x12:  // DW_CFA_def_cfa, _sf
                    guard let register = reader.uleb() else { return false }
                    if opcode == 0x0c {
                        guard let offset = reader.uleb(), offset <= UInt64(Int64.max) else { return false }
                        state.cfa = .register(register, Int64(offset))
                    } else {
                        guard let offset = reader.sleb().flatMap(factored) else { return false }
                        state.cfa = .register(register, offset)
                    }
                case 0x0d:  // DW_CFA_def_cfa_register
                    guard let register = reader.uleb() else { return false }
                    if case .register(_, let offset) = state.cfa {
                        state.cfa = .register(register, offset)
                    } else {
                        state.cfa = .unknown
                    }
                case 0x0e, 0x13:  // DW_CFA_def_cfa_offset, _sf
                    let offset = opcode == 0x0e
                        ? reader.uleb().flatMap { $0 <= UInt64(Int64.max) ? Int64($0) : nil }
                        : reader.sleb().flatMap(factored)
                    guard let offset else { return false }
                    if case .register(let register, _) = state.cfa {
                        state.cfa = .register(register, offset)
                    } else {
                        state.cfa = .unknown
                    }
                case 0x0f:  // DW_CFA_def_cfa_expression
                    guard let length = reader.uleb(), length <= UInt64(reader.end - reader.cursor) else { return false }
                    state.cfa = .expression(reader.cursor..<reader.cursor + Int(length))
                    reader.cursor += Int(length)
                case 0x10, 0x16:  // DW_CFA_expression, DW_CFA_val_expression
                    guard let register = reader.uleb(), let length = reader.uleb(),
                          length <= UInt64(reader.end - reader.cursor)
                    else { return false }
                    reader.cursor += Int(length)
                    setRule(register, .other)
                case 0x14, 0x15:  // DW_CFA_val_offset, _sf
                    guard let register = reader.uleb() else { return false }
                    let offsetRead = opcode == 0x14 ? reader.uleb() != nil : reader.sleb() != nil
                    guard offsetRead else { return false }
                    setRule(register, .other)
                case 0x2e:  // DW_CFA_GNU_args_size
                    guard reader.uleb() != nil else { return false }
                default:
                    return false
                }
            }
            return true
        }

        guard interpret(cie.instructions, isCommonEntry: true) else {
            emit(entry.start, entry.end, UnwindRow(pc: 0, rule: .needsCopy))
            return
        }
        initial = state
        if !interpret(entry.instructions, isCommonEntry: false) {
            state.cfa = .unknown
        }
        if rowStart < entry.end { emit(rowStart, entry.end, classify(state, cie: cie)) }
    }

    // MARK: Rules

    /// The kernel's rule for a row (see `UnwindTableCompiler`): the CFA from rsp or rbp, the
    /// return address just below it, rbp unchanged or saved; the PLT's and the kernel
    /// signal frame's expressions; else a stack copy.
    func classify(_ state: State, cie: CommonEntry) -> UnwindRow {
        var cfaOps: [Dwarf_Op]?
        switch state.cfa {
        case .unknown:
            return UnwindRow(pc: 0, rule: .needsCopy)
        case .expression(let range):
            guard let ops = operations(range) else { return UnwindRow(pc: 0, rule: .needsCopy) }
            cfaOps = ops
        case .register:
            break
        }
        // The kernel's rt_sigframe: CFA = *(rsp + 160), the saved rsp in its ucontext.
        if cie.isSignalFrame {
            return UnwindRow(pc: 0, rule: .signal)
        }
        if let ops = cfaOps, ops.count == 2, ops[0].atom == 0x77 /* breg7 */, ops[0].number == 160,
           ops[1].atom == 0x06 /* deref */ {
            return UnwindRow(pc: 0, rule: .signal)
        }
        switch state.returnAddress {
        case .undefined: return UnwindRow(pc: 0, rule: .outermost)
        case .savedAt(-8): break
        default: return UnwindRow(pc: 0, rule: .needsCopy)
        }
        var row = UnwindRow(pc: 0, rule: .needsCopy)
        switch state.cfa {
        case .register(let register, let offset)
            where register == DWARFRegister.rsp || register == DWARFRegister.rbp:
            guard let narrow = Int32(exactly: offset) else { return row }
            row.rule = register == DWARFRegister.rsp ? .cfaSP : .cfaBP
            row.cfaOffset = narrow
        case .expression:
            guard let ops = cfaOps, let threshold = UnwindTableCompiler.pltThreshold(ops) else { return row }
            row.rule = .plt
            row.cfaOffset = 8
            row.pltThreshold = threshold
        default:
            return row
        }
        switch state.rbp {
        case .sameValue:
            return row
        case .savedAt(let offset) where offset != 0:
            guard let narrow = Int16(exactly: offset) else { return UnwindRow(pc: 0, rule: .needsCopy) }
            row.rbpOffset = narrow
            return row
        default:
            return UnwindRow(pc: 0, rule: .needsCopy)
        }
    }

    /// A CFA expression's operations, as far as the rules above need them (registers plus
    /// offsets, literals, arithmetic); nil on any other operation.
    func operations(_ range: Range<Int>) -> [Dwarf_Op]? {
        var reader = SectionReader(bytes: bytes, cursor: range.lowerBound, end: range.upperBound)
        var ops: [Dwarf_Op] = []
        while reader.cursor < reader.end {
            guard let atom = reader.u8(), ops.count < 16 else { return nil }
            var op = Dwarf_Op()
            op.atom = atom
            switch atom {
            case 0x70...0x8f:  // DW_OP_breg0..31
                guard let offset = reader.sleb() else { return nil }
                op.number = UInt64(bitPattern: offset)
            case 0x92:  // DW_OP_bregx
                guard let register = reader.uleb(), let offset = reader.sleb() else { return nil }
                op.number = register
                op.number2 = UInt64(bitPattern: offset)
            case 0x23:  // DW_OP_plus_uconst
                guard let value = reader.uleb() else { return nil }
                op.number = value
            case 0x30...0x4f, 0x06, 0x1a, 0x22, 0x24, 0x2a:  // lit0..31, deref, and, plus, shl, ge
                break
            default:
                return nil
            }
            ops.append(op)
        }
        return ops
    }
}

/// Bounds-checked little-endian reads of a section: nil past its end.
struct SectionReader {
    let bytes: UnsafeRawBufferPointer
    var cursor: Int
    let end: Int

    init(bytes: UnsafeRawBufferPointer, cursor: Int, end: Int) {
        self.bytes = bytes
        self.cursor = cursor
        self.end = min(end, bytes.count)
    }

    mutating func u8() -> UInt8? {
        guard cursor < end else { return nil }
        defer { cursor += 1 }
        return bytes[cursor]
    }

    mutating func u16() -> UInt16? { fixed(UInt16.self) }
    mutating func u32() -> UInt32? { fixed(UInt32.self) }
    mutating func u64() -> UInt64? { fixed(UInt64.self) }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard cursor >= 0, end - cursor >= size else { return nil }
        defer { cursor += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: T.self))
    }

    mutating func uleb() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = u8() {
            if shift < 64 { value |= UInt64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }

    mutating func sleb() -> Int64? {
        var value: Int64 = 0
        var shift: Int64 = 0
        while let byte = u8() {
            if shift < 64 { value |= Int64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 {
                if shift < 64, byte & 0x40 != 0 { value |= -1 << shift }
                return value
            }
        }
        return nil
    }

    mutating func address(size: Int) -> UInt64? {
        size == 4 ? u32().map(UInt64.init) : u64()
    }

    /// A pointer in a `DW_EH_PE_*` encoding; `base` is the section's address, for
    /// pc-relative pointers. nil for encodings CFI on x86-64 does not use for code
    /// addresses (indirect, text-, data- or function-relative).
    mutating func encodedPointer(_ encoding: UInt8, addressSize: Int, base: UInt64) -> UInt64? {
        guard encoding != 0xff else { return nil }
        let fieldAddress = base &+ UInt64(cursor)
        let value: UInt64?
        switch encoding & 0x0f {
        case 0x00: value = address(size: addressSize)
        case 0x01: value = uleb()
        case 0x02: value = u16().map(UInt64.init)
        case 0x03: value = u32().map(UInt64.init)
        case 0x04: value = u64()
        case 0x09: value = sleb().map { UInt64(bitPattern: $0) }
        case 0x0a: value = u16().map { UInt64(bitPattern: Int64(Int16(bitPattern: $0))) }
        case 0x0b: value = u32().map { UInt64(bitPattern: Int64(Int32(bitPattern: $0))) }
        case 0x0c: value = u64()
        default: return nil
        }
        guard let value else { return nil }
        switch encoding & 0xf0 {
        case 0x00: return value
        case 0x10: return fieldAddress &+ value
        default: return nil
        }
    }
}
