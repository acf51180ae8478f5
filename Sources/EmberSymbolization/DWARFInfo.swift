import CLibElf
import EmberELF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// A source position.
public struct SourceLocation: Hashable, Sendable {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// The file's base name and line, `file.c:42`, as folded frames show it.
    public var short: String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return "\(base):\(line)"
    }
}

/// One function of an address's inline chain, as DWARF names it.
struct DWARFFrame {
    /// The linkage name (mangled) when DWARF has one, else the plain name; nil if none.
    var name: String?
    var location: SourceLocation?
}

/// The DWARF of one file, read with libdw: line tables (`dwarf_getsrc_die`) and inline
/// chains. Compilation units are found through a sorted range table built once; each unit's
/// tree of functions and inlined calls is indexed on first use, so an address costs two
/// binary searches and a short descent instead of `dwarf_getscopes`' walk of the whole unit.
final class DWARFInfo {
    private let file: ELFFile  // libdw reads through its Elf handle
    private let dwarf: OpaquePointer

    private struct UnitRange {
        var low: UInt64
        var high: UInt64
        var unit: Int
    }

    private var unitDIEs: [Dwarf_Die] = []
    /// Each unit's compilation directory, which relative file names are relative to.
    private var compilationDirectories: [String?] = []
    private var unitRanges: [UnitRange] = []
    private var indexes: [Int: UnitIndex] = [:]

    /// Sections naming frames never reads, left out when compressed sections are inflated.
    private static let unreadSections: Set<String> = [".debug_loclists", ".debug_loc", ".debug_macro", ".debug_macinfo"]

    init?(file: ELFFile) {
        guard file.hasDWARF else { return nil }
        let file = file.inflatingCompressedSections(omitting: Self.unreadSections) ?? file
        guard let dwarf = dwarf_begin_elf(file.elf, DWARF_C_READ, nil) else { return nil }
        self.file = file
        self.dwarf = dwarf
        readUnits()
    }

    deinit { dwarf_end(dwarf) }

    private func readUnits() {
        var unit: OpaquePointer? = nil
        var next: OpaquePointer? = nil
        var version: Dwarf_Half = 0
        var unitType: UInt8 = 0
        var unitDIE = Dwarf_Die()
        while dwarf_get_units(dwarf, unit, &next, &version, &unitType, &unitDIE, nil) == 0 {
            unit = next
            guard dwarf_tag(&unitDIE) == DW_TAG_compile_unit || dwarf_tag(&unitDIE) == DW_TAG_partial_unit
            else { continue }
            let index = unitDIEs.count
            unitDIEs.append(unitDIE)
            var attribute = Dwarf_Attribute()
            if dwarf_attr(&unitDIE, UInt32(DW_AT_comp_dir), &attribute) != nil, let text = dwarf_formstring(&attribute) {
                compilationDirectories.append(String(cString: text))
            } else {
                compilationDirectories.append(nil)
            }
            for (low, high) in ranges(of: &unitDIE) {
                unitRanges.append(UnitRange(low: low, high: high, unit: index))
            }
        }
        unitRanges.sort { $0.low < $1.low }
    }

    private func ranges(of die: UnsafeMutablePointer<Dwarf_Die>) -> [(UInt64, UInt64)] {
        var result: [(UInt64, UInt64)] = []
        var offset: Int = 0
        var base: Dwarf_Addr = 0
        var start: Dwarf_Addr = 0
        var end: Dwarf_Addr = 0
        while true {
            offset = dwarf_ranges(die, offset, &base, &start, &end)
            if offset <= 0 { break }
            if end > start { result.append((start, end)) }
        }
        return result
    }

    private func unit(containing address: UInt64) -> Int? {
        var low = 0
        var high = unitRanges.count
        while low < high {
            let mid = (low + high) / 2
            if unitRanges[mid].low <= address { low = mid + 1 } else { high = mid }
        }
        // Units rarely overlap; look back a little in case a big one encloses smaller ones.
        var index = low - 1
        while index >= 0 && index >= low - 8 {
            if address < unitRanges[index].high { return unitRanges[index].unit }
            index -= 1
        }
        return nil
    }

    /// The inline chain at `address` (an address as the file's symbols use it), innermost
    /// first, ending with the physical function; each with its source position when
    /// `withLines`. Empty when DWARF does not cover the address.
    func frames(at address: UInt64, withLines: Bool) -> [DWARFFrame] {
        guard let unit = unit(containing: address) else { return [] }
        let index: UnitIndex
        if let known = indexes[unit] {
            index = known
        } else {
            index = UnitIndex(unitDIE: unitDIEs[unit], compilationDirectory: compilationDirectories[unit], owner: self)
            indexes[unit] = index
        }
        let chain = index.chain(at: address)  // outermost (the function) first
        var frames: [DWARFFrame] = []
        frames.reserveCapacity(chain.count)
        // Innermost first: the innermost frame is at the address's own line; each outer one
        // is where the next inner one was inlined (its call site).
        var location: SourceLocation? = withLines ? line(at: address, unit: unit) : nil
        for node in chain.reversed() {
            frames.append(DWARFFrame(name: index.name(of: node), location: location))
            if withLines { location = index.callSite(of: node) }
        }
        if frames.isEmpty && withLines, let location {
            frames.append(DWARFFrame(name: nil, location: location))
        }
        return frames
    }

    private func line(at address: UInt64, unit: Int) -> SourceLocation? {
        var die = unitDIEs[unit]
        guard let line = dwarf_getsrc_die(&die, address) else { return nil }
        var number: Int32 = 0
        guard dwarf_lineno(line, &number) == 0, number > 0,
              let source = dwarf_linesrc(line, nil, nil)
        else { return nil }
        return SourceLocation(file: absolute(String(cString: source), in: compilationDirectories[unit]),
                              line: Int(number))
    }

    fileprivate func dieRanges(_ die: UnsafeMutablePointer<Dwarf_Die>) -> [(UInt64, UInt64)] {
        ranges(of: die)
    }
}

/// A file name from a line table, made absolute with the unit's compilation directory
/// (as llvm-symbolizer and addr2line show it).
func absolute(_ file: String, in directory: String?) -> String {
    guard !file.hasPrefix("/"), let directory, !directory.isEmpty else { return file }
    return directory.hasSuffix("/") ? directory + file : directory + "/" + file
}

/// The functions and inlined calls of one compilation unit as a tree of address ranges.
private final class UnitIndex {
    struct Node {
        var die: Dwarf_Die
        var ranges: [(UInt64, UInt64)]
        var children: [Int32] = []
        var isInlined: Bool
    }

    private var unitDIE: Dwarf_Die
    private var nodes: [Node] = []
    /// Top-level functions' ranges, sorted: (low, high, node).
    private var roots: [(UInt64, UInt64, Int32)] = []
    private var names: [Int32: String?] = [:]
    private var files: OpaquePointer?  // Dwarf_Files, for call-site file numbers
    private var fileNames: [UInt64: String] = [:]

    private let compilationDirectory: String?

    init(unitDIE: Dwarf_Die, compilationDirectory: String?, owner: DWARFInfo) {
        self.unitDIE = unitDIE
        self.compilationDirectory = compilationDirectory
        var child = Dwarf_Die()
        if dwarf_child(&self.unitDIE, &child) == 0 {
            walk(from: child, parent: -1, owner: owner)
        }
        roots.sort { $0.0 < $1.0 }
    }

    /// Visits `first` and its siblings: functions and inlined calls become nodes; other
    /// entries (namespaces, classes, lexical blocks) are looked into for more of them.
    private func walk(from first: Dwarf_Die, parent: Int32, owner: DWARFInfo) {
        var die = first
        while true {
            let tag = dwarf_tag(&die)
            var nextParent = parent
            var descend = dwarf_haschildren(&die) != 0
            if tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine {
                let ranges = owner.dieRanges(&die)
                if ranges.isEmpty {
                    // A declaration or an abstract instance: no code here, nothing inside to find.
                    descend = false
                } else {
                    let index = Int32(nodes.count)
                    nodes.append(Node(die: die, ranges: ranges, isInlined: tag == DW_TAG_inlined_subroutine))
                    // A function (even one nested in another's DIE) has its own code: a root.
                    if parent >= 0 && tag == DW_TAG_inlined_subroutine {
                        nodes[Int(parent)].children.append(index)
                    } else {
                        for (low, high) in ranges { roots.append((low, high, index)) }
                    }
                    nextParent = index
                }
            } else if tag == DW_TAG_variable || tag == DW_TAG_formal_parameter || tag == DW_TAG_base_type
                        || tag == DW_TAG_member || tag == DW_TAG_enumeration_type {
                descend = false
            }
            if descend {
                var child = Dwarf_Die()
                if dwarf_child(&die, &child) == 0 { walk(from: child, parent: nextParent, owner: owner) }
            }
            var sibling = Dwarf_Die()
            guard dwarf_siblingof(&die, &sibling) == 0 else { break }
            die = sibling
        }
    }

    /// The nodes containing `address`, outermost (the physical function) first.
    func chain(at address: UInt64) -> [Int32] {
        var low = 0
        var high = roots.count
        while low < high {
            let mid = (low + high) / 2
            if roots[mid].0 <= address { low = mid + 1 } else { high = mid }
        }
        var found: Int32 = -1
        var index = low - 1
        while index >= 0 && index >= low - 4 {
            if address < roots[index].1 {
                found = roots[index].2
                break
            }
            index -= 1
        }
        guard found >= 0 else { return [] }
        var chain: [Int32] = [found]
        var current = found
        descent: while true {
            for child in nodes[Int(current)].children
            where nodes[Int(child)].ranges.contains(where: { address >= $0.0 && address < $0.1 }) {
                if nodes[Int(child)].isInlined { chain.append(child) }
                current = child
                continue descent
            }
            break
        }
        return chain
    }

    /// The function's linkage name (mangled) or plain name, following abstract origins.
    func name(of node: Int32) -> String? {
        if let known = names[node] { return known }
        var die = nodes[Int(node)].die
        var attribute = Dwarf_Attribute()
        var name: String? = nil
        for code in [DW_AT_linkage_name, DW_AT_MIPS_linkage_name] {
            if dwarf_attr_integrate(&die, UInt32(code), &attribute) != nil,
               let text = dwarf_formstring(&attribute) {
                name = String(cString: text)
                break
            }
        }
        if name == nil, let text = dwarf_diename(&die) { name = String(cString: text) }
        names[node] = name
        return name
    }

    /// Where an inlined call was made: its DW_AT_call_file and DW_AT_call_line.
    func callSite(of node: Int32) -> SourceLocation? {
        guard nodes[Int(node)].isInlined else { return nil }
        var die = nodes[Int(node)].die
        var attribute = Dwarf_Attribute()
        var fileNumber: Dwarf_Word = 0
        var line: Dwarf_Word = 0
        guard dwarf_attr(&die, UInt32(DW_AT_call_file), &attribute) != nil,
              dwarf_formudata(&attribute, &fileNumber) == 0,
              dwarf_attr(&die, UInt32(DW_AT_call_line), &attribute) != nil,
              dwarf_formudata(&attribute, &line) == 0, line > 0
        else { return nil }
        if let known = fileNames[fileNumber] { return SourceLocation(file: known, line: Int(line)) }
        if files == nil {
            var count = 0
            var loaded: OpaquePointer? = nil
            guard dwarf_getsrcfiles(&unitDIE, &loaded, &count) == 0 else { return nil }
            files = loaded
        }
        guard let source = dwarf_filesrc(files, Int(fileNumber), nil, nil) else { return nil }
        let name = absolute(String(cString: source), in: compilationDirectory)
        fileNames[fileNumber] = name
        return SourceLocation(file: name, line: Int(line))
    }
}
