import CEmberShim
import CLibElf
import EmberELF
#if canImport(Glibc)
import Glibc
#endif

/// One row of a compiled unwind table: from `pc` (a file virtual address) up to the next
/// row's, how to find the caller's frame. The layout the BPF program reads is
/// `struct ember_unwind_row`.
public struct UnwindRow: Equatable, Hashable, Sendable {
    public enum Rule: UInt8, Sendable {
        /// No CFI here (between FDEs).
        case none = 0
        /// CFA = rsp + cfaOffset.
        case cfaSP = 1
        /// CFA = rbp + cfaOffset.
        case cfaBP = 2
        /// A PLT entry: CFA = rsp + cfaOffset, plus 8 once `pc & 15 >= pltThreshold`.
        case plt = 3
        /// The kernel's signal frame: the interrupted registers are in its ucontext.
        case signal = 4
        /// The return address is undefined: the stack's root.
        case outermost = 5
        /// A rule the kernel's walk lacks (a DWARF expression, a register rule).
        case needsCopy = 6
    }

    public var pc: UInt64
    public var rule: Rule
    public var cfaOffset: Int32 = 0
    /// 0: rbp is unchanged; else rbp is saved at CFA + rbpOffset.
    public var rbpOffset: Int16 = 0
    public var pltThreshold: UInt8 = 0

    public init(pc: UInt64, rule: Rule, cfaOffset: Int32 = 0, rbpOffset: Int16 = 0, pltThreshold: UInt8 = 0) {
        self.pc = pc
        self.rule = rule
        self.cfaOffset = cfaOffset
        self.rbpOffset = rbpOffset
        self.pltThreshold = pltThreshold
    }

    /// The same rule, wherever it starts.
    func sameRule(as other: UnwindRow) -> Bool {
        rule == other.rule && cfaOffset == other.cfaOffset && rbpOffset == other.rbpOffset
            && pltThreshold == other.pltThreshold
    }

    /// As the BPF program reads it.
    public var kernelRow: ember_unwind_row {
        ember_unwind_row(pc: pc, cfa_offset: cfaOffset, rbp_offset: rbpOffset, rule: rule.rawValue,
                         plt_threshold: pltThreshold)
    }
}

/// A file's call frame information compiled to rows sorted by pc, for the BPF program's
/// walk (see ``UnwindTableCompiler``).
public struct UnwindTable: Sendable {
    public var rows: [UnwindRow]
    /// Where the rows came from.
    public var source: Source
    public enum Source: Sendable { case ehFrame, debugFrame }

    /// The row that holds at `pc`; nil before the first row.
    public func row(at pc: UInt64) -> UnwindRow? {
        var low = 0, high = rows.count
        while low < high {
            let middle = (low + high) / 2
            if rows[middle].pc <= pc { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : rows[low - 1]
    }
}

/// Compiles a file's `.eh_frame` (or `.debug_frame`, also from its separate debug file) to
/// an ``UnwindTable`` with libdw, which interprets each FDE's CFA program; this only sorts
/// the rows libdw gives into the few rules x86-64 code uses, and marks anything else as
/// needing a stack copy.
public enum UnwindTableCompiler {
    /// The table of `file`: its `.eh_frame`, where that has no FDE its `.debug_frame`, or
    /// that of `debugFile`, its separate debug file (a file built without unwind tables has
    /// only the C runtime's code in `.eh_frame`). Throws if none has call frame information.
    public static func compile(_ file: ELFFile, debugFile: ELFFile? = nil) throws -> UnwindTable {
        var table: UnwindTable?
        if let starts = ehFrameStarts(file), let cfi = dwarf_getcfi_elf(file.elf) {
            defer { dwarf_cfi_end(cfi) }
            table = UnwindTable(rows: rows(cfi: cfi, fdeStarts: starts), source: .ehFrame)
        }
        for candidate in [file, debugFile].compactMap({ $0 }) {
            guard let starts = debugFrameStarts(candidate), !starts.isEmpty,
                  let dwarf = dwarf_begin_elf(candidate.elf, DWARF_C_READ, nil)
            else { continue }
            defer { dwarf_end(dwarf) }
            // Owned by the Dwarf handle.
            guard let cfi = dwarf_getcfi(dwarf) else { continue }
            let debugRows = rows(cfi: cfi, fdeStarts: starts)
            table = UnwindTable(rows: table.map { filling($0.rows, from: debugRows) } ?? debugRows,
                                source: .debugFrame)
            break
        }
        guard let table, !table.rows.isEmpty else {
            throw UnwindingError("\(file.path): no call frame information")
        }
        return table
    }

    /// `rows`, with the ranges it has no CFI for taken from `other`.
    static func filling(_ rows: [UnwindRow], from other: [UnwindRow]) -> [UnwindRow] {
        let first = UnwindTable(rows: rows, source: .ehFrame), second = UnwindTable(rows: other, source: .ehFrame)
        var merged: [UnwindRow] = []
        for pc in Set(rows.map(\.pc) + other.map(\.pc)).sorted() {
            var row = first.row(at: pc)
            if row == nil || row?.rule == UnwindRow.Rule.none { row = second.row(at: pc) ?? row }
            guard var chosen = row else { continue }
            chosen.pc = pc
            if let last = merged.last, last.sameRule(as: chosen) { continue }
            merged.append(chosen)
        }
        return merged
    }

    /// Walks every FDE's rows in address order. A pc no FDE covers starts a `.none` row that
    /// lasts until the next FDE.
    static func rows(cfi: OpaquePointer, fdeStarts: [UInt64]) -> [UnwindRow] {
        var rows: [UnwindRow] = []
        func append(_ row: UnwindRow) {
            if let last = rows.last {
                if last.sameRule(as: row) { return }
                if last.pc == row.pc { rows.removeLast() }
            }
            rows.append(row)
        }
        var next = 0  // the first FDE start not walked yet
        var pc: UInt64 = fdeStarts.first ?? 0
        while next < fdeStarts.count || pc > 0 {
            var frame: OpaquePointer? = nil
            if pc > 0, dwarf_cfi_addrframe(cfi, pc, &frame) == 0, let frame {
                defer { free(UnsafeMutableRawPointer(frame)) }
                var start: Dwarf_Addr = 0, end: Dwarf_Addr = 0
                var signal = false
                _ = dwarf_frame_info(frame, &start, &end, &signal)
                var row = classify(frame, signal: signal)
                row.pc = pc
                append(row)
                while next < fdeStarts.count, fdeStarts[next] < end { next += 1 }
                pc = end > pc ? end : 0
                continue
            }
            if pc > 0 { append(UnwindRow(pc: pc, rule: .none)) }
            // On to the next FDE past this pc.
            while next < fdeStarts.count, fdeStarts[next] <= pc { next += 1 }
            guard next < fdeStarts.count else { break }
            pc = fdeStarts[next]
            next += 1
        }
        return rows
    }

    private static let bregx: UInt8 = 0x92
    private static let breg7: UInt8 = 0x77
    private static let callFrameCFA: UInt8 = 0x9c
    private static let plusUconst: UInt8 = 0x23
    private static let deref: UInt8 = 0x06
    private static let returnAddressRegister: Int32 = 16

    /// The rule of one row.
    static func classify(_ frame: OpaquePointer, signal: Bool) -> UnwindRow {
        var cfaOps: UnsafeMutablePointer<Dwarf_Op>? = nil
        var cfaCount = 0
        guard dwarf_frame_cfa(frame, &cfaOps, &cfaCount) == 0, let cfaOps, cfaCount > 0 else {
            return UnwindRow(pc: 0, rule: .needsCopy)
        }
        let cfa = Array(UnsafeBufferPointer(start: cfaOps, count: cfaCount))
        // The kernel's rt_sigframe: CFA = *(rsp + 160), the saved rsp in its ucontext.
        if signal || (cfa.count == 2 && cfa[0].atom == breg7 && cfa[0].number == 160 && cfa[1].atom == deref) {
            return UnwindRow(pc: 0, rule: .signal)
        }
        var ops = [Dwarf_Op](repeating: Dwarf_Op(), count: 3)
        var result: UnsafeMutablePointer<Dwarf_Op>? = nil
        var count = 0
        // The return address: undefined at the root, else it must be at CFA - 8.
        guard ops.withUnsafeMutableBufferPointer({
            dwarf_frame_register(frame, returnAddressRegister, $0.baseAddress!, &result, &count)
        }) == 0 else { return UnwindRow(pc: 0, rule: .needsCopy) }
        // (libdw: no ops and OPS_MEM means undefined, no ops and NULL means same value.)
        if count == 0 && result != nil { return UnwindRow(pc: 0, rule: .outermost) }
        guard let offset = savedOffset(result, count), offset == -8 else { return UnwindRow(pc: 0, rule: .needsCopy) }

        var row = UnwindRow(pc: 0, rule: .needsCopy)
        if cfa.count == 1, cfa[0].atom == bregx, cfa[0].number == DWARFRegister.rsp || cfa[0].number == DWARFRegister.rbp,
           let offset = Int32(exactly: Int64(bitPattern: cfa[0].number2)) {
            row.rule = cfa[0].number == DWARFRegister.rsp ? .cfaSP : .cfaBP
            row.cfaOffset = offset
        } else if let threshold = pltThreshold(cfa) {
            row.rule = .plt
            row.cfaOffset = 8
            row.pltThreshold = threshold
        } else {
            return row
        }
        // rbp: unchanged ("same value", x86-64's default for it), or saved at CFA + N.
        result = nil
        count = 0
        guard ops.withUnsafeMutableBufferPointer({
            dwarf_frame_register(frame, Int32(DWARFRegister.rbp), $0.baseAddress!, &result, &count)
        }) == 0 else { return UnwindRow(pc: 0, rule: .needsCopy) }
        if count == 0 && result == nil { return row }
        guard let saved = savedOffset(result, count), saved != 0, let narrow = Int16(exactly: saved) else {
            return UnwindRow(pc: 0, rule: .needsCopy)
        }
        row.rbpOffset = narrow
        return row
    }

    /// N for a register saved at CFA + N (libdw gives `[DW_OP_call_frame_cfa,
    /// DW_OP_plus_uconst N]`); nil for any other rule.
    private static func savedOffset(_ ops: UnsafeMutablePointer<Dwarf_Op>?, _ count: Int) -> Int64? {
        guard let ops else { return nil }
        if count == 1, ops[0].atom == callFrameCFA { return 0 }
        guard count == 2, ops[0].atom == callFrameCFA, ops[1].atom == plusUconst else { return nil }
        return Int64(bitPattern: ops[1].number)
    }

    /// The PLT's CFA expression, `rsp + 8 + ((rip & 15) >= T ? 8 : 0)`: its T.
    static func pltThreshold(_ ops: [Dwarf_Op]) -> UInt8? {
        let lit0: UInt8 = 0x30
        guard ops.count == 9, ops[0].atom == breg7, ops[0].number == 8,
              ops[1].atom == 0x80 /* breg16 (rip) */, ops[1].number == 0,
              ops[2].atom == lit0 + 15, ops[3].atom == 0x1a /* and */,
              ops[4].atom >= lit0, ops[4].atom <= lit0 + 15, ops[5].atom == 0x2a /* ge */,
              ops[6].atom == lit0 + 3, ops[7].atom == 0x24 /* shl */, ops[8].atom == 0x22 /* plus */
        else { return nil }
        return ops[4].atom - lit0
    }

    /// The FDEs' first addresses, from `.eh_frame_hdr`'s sorted search table (every linked
    /// x86-64 file has one; its entries are 4-byte offsets from the header, encoding 0x3b).
    static func ehFrameStarts(_ file: ELFFile) -> [UInt64]? {
        guard let (_, header) = file.section(named: ".eh_frame_hdr"),
              let bytes = file.sectionBytes(named: ".eh_frame_hdr"), bytes.count >= 4, bytes[0] == 1
        else { return nil }
        func size(ofEncoding encoding: UInt8) -> Int? {
            switch encoding & 0x0f {
            case 0x03, 0x0b: return 4
            case 0x04, 0x0c: return 8
            default: return nil
            }
        }
        guard let pointerSize = size(ofEncoding: bytes[1]), bytes[2] == 0x03, bytes[3] == 0x3b,
              bytes.count >= 4 + pointerSize + 4
        else { return nil }
        func word(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
        }
        let countOffset = 4 + pointerSize
        let count = Int(word(countOffset))
        let tableOffset = countOffset + 4
        guard count <= (bytes.count - tableOffset) / 8 else { return nil }
        var starts: [UInt64] = []
        starts.reserveCapacity(count)
        for index in 0..<count {
            let relative = Int64(Int32(bitPattern: word(tableOffset + index * 8)))
            starts.append(UInt64(bitPattern: Int64(bitPattern: header.sh_addr) &+ relative))
        }
        starts.sort()
        return starts
    }

    /// The FDEs' first addresses in `.debug_frame` (absolute 8-byte addresses).
    static func debugFrameStarts(_ file: ELFFile) -> [UInt64]? {
        guard let (section, header) = file.section(named: ".debug_frame"), header.sh_type != SHT_NOBITS,
              header.sh_flags & UInt64(SHF_COMPRESSED) == 0,
              let data = elf_getdata(section, nil), let ident = elf_getident(file.elf, nil)
        else { return nil }
        var starts: [UInt64] = []
        var offset: Dwarf_Off = 0
        var entry = Dwarf_CFI_Entry()
        while true {
            var nextOffset: Dwarf_Off = 0
            let result = ident.withMemoryRebound(to: UInt8.self, capacity: Int(EI_NIDENT)) {
                dwarf_next_cfi($0, data, false, offset, &nextOffset, &entry)
            }
            if result != 0 { break }
            offset = nextOffset
            if entry.CIE_id == UInt64.max { continue }  // a CIE
            let fde = entry.fde
            guard let start = fde.start, let end = fde.end, end - start >= 16 else { continue }
            let raw = UnsafeRawPointer(start)
            let location = raw.loadUnaligned(as: UInt64.self)
            let range = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            if range > 0 { starts.append(location) }
        }
        starts.sort()
        return starts
    }
}
