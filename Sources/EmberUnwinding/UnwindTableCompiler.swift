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
/// an ``UnwindTable``: ``CallFrameInterpreter`` runs each FDE's CFA program and sorts its
/// rows into the few rules x86-64 code uses, marking anything else as needing a stack copy.
public enum UnwindTableCompiler {
    /// The table of `file`: its `.eh_frame`, where that has no FDE its `.debug_frame`, or
    /// that of `debugFile`, its separate debug file (a file built without unwind tables has
    /// only the C runtime's code in `.eh_frame`). Throws if none has call frame information.
    public static func compile(_ file: ELFFile, debugFile: ELFFile? = nil) throws -> UnwindTable {
        var table: UnwindTable?
        if let rows = rows(of: file, section: ".eh_frame", format: .ehFrame), !rows.isEmpty {
            table = UnwindTable(rows: rows, source: .ehFrame)
        }
        for candidate in [file, debugFile].compactMap({ $0 }) {
            guard let debugRows = rows(of: candidate, section: ".debug_frame", format: .debugFrame),
                  !debugRows.isEmpty
            else { continue }
            table = UnwindTable(rows: table.map { filling($0.rows, from: debugRows) } ?? debugRows,
                                source: .debugFrame)
            break
        }
        guard let table, !table.rows.isEmpty else {
            throw UnwindingError("\(file.path): no call frame information")
        }
        return table
    }

    /// The rows of `file`'s section `name`; nil if it has none in the file (absent,
    /// SHT_NOBITS in a stripped file, or compressed).
    static func rows(of file: ELFFile, section name: String, format: CallFrameInterpreter.Format) -> [UnwindRow]? {
        guard let (section, header) = file.section(named: name), header.sh_type != SHT_NOBITS,
              header.sh_flags & UInt64(SHF_COMPRESSED) == 0,
              let data = elf_getdata(section, nil), let buffer = data.pointee.d_buf
        else { return nil }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)
        return CallFrameInterpreter(bytes: bytes, sectionAddress: header.sh_addr, format: format).rows()
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

    /// The PLT's CFA expression, `rsp + 8 + ((rip & 15) >= T ? 8 : 0)`: its T.
    static func pltThreshold(_ ops: [Dwarf_Op]) -> UInt8? {
        let lit0: UInt8 = 0x30
        guard ops.count == 9, ops[0].atom == 0x77 /* breg7 (rsp) */, ops[0].number == 8,
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
}
