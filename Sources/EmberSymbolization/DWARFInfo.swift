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
struct DWARFFrame: Equatable {
    /// The linkage name (mangled) when DWARF has one, else the plain name; nil if none.
    var name: String?
    var location: SourceLocation?
}

/// The DWARF of one file, read with libdw: line tables (`dwarf_getsrc_die`) and inline
/// chains. Compilation units are found through a sorted range table built once; each unit's
/// tree of functions and inlined calls is indexed on first use, so an address costs two
/// binary searches and a short descent instead of `dwarf_getscopes`' walk of the whole unit.
///
/// Where `.debug_info` is compressed, the range table comes from `.debug_aranges` and a unit
/// is inflated when an address first needs it (``DebugSectionsImage``): the units are not
/// all read to learn their ranges. An address that `.debug_aranges` does not cover, in a
/// code section it covers in part (a unit it leaves out: one built by clang, say, which
/// writes none), has the whole section inflated and every unit's ranges read, as where the
/// file has no `.debug_aranges`. Code sections it does not cover at all (PLT stubs) have no
/// DWARF.
final class DWARFInfo {
    private let file: ELFFile  // libdw reads through its Elf handle
    private let image: DebugSectionsImage?
    private let dwarf: OpaquePointer

    private struct UnitRange {
        var low: UInt64
        var high: UInt64
        var unit: Int
    }

    /// A compilation unit: its DIE once read (nil where it could not be).
    private struct Unit {
        var offset: UInt64  // of its header in .debug_info, where .debug_aranges gave it
        var isRead: Bool
        var die: Dwarf_Die?
        var compilationDirectory: String?  // which relative file names are relative to
    }

    private var units: [Unit] = []
    private var unitRanges: [UnitRange] = []
    private var indexes: [Int: UnitIndex] = [:]
    /// Whether the ranges are `.debug_aranges`' (the units read as needed), and the code
    /// sections they cover in part.
    private var rangesFromAranges = false
    private var arangedCode: [Range<UInt64>] = []

    /// Sections naming frames never reads, left out when compressed sections are inflated.
    private static let unreadSections: Set<String> = [".debug_loclists", ".debug_loc", ".debug_macro", ".debug_macinfo"]
    /// Read only for source positions: the line tables.
    private static let lineSections: Set<String> = [".debug_line", ".debug_line_str"]

    /// `readsLines`: whether source positions will be asked for (`frames(at:withLines: true)`).
    /// `firstPiece`: the bytes of a compressed `.debug_info` inflated at once (see
    /// ``DebugSectionsImage``).
    init?(file: ELFFile, readsLines: Bool = true, firstPiece: Int? = nil) {
        guard file.hasDWARF else { return nil }
        let omitted = readsLines ? Self.unreadSections : Self.unreadSections.union(Self.lineSections)
        let image = DebugSectionsImage(of: file, omitting: omitted, firstPiece: firstPiece)
        guard let dwarf = dwarf_begin_elf((image?.file ?? file).elf, DWARF_C_READ, nil) else { return nil }
        self.file = image?.file ?? file
        self.image = image
        self.dwarf = dwarf
        if let image, image.unitsInflated < image.unitsSize, readAranges() {
            rangesFromAranges = true
        } else {
            readAllUnits()
        }
    }

    deinit { dwarf_end(dwarf) }

    /// How much of a compressed `.debug_info` is inflated: (bytes, of), nil where none is.
    var inflatedUnits: (inflated: Int, size: Int)? { image.map { ($0.unitsInflated, $0.unitsSize) } }

    /// Every unit and its ranges, `.debug_info` inflated whole first.
    private func readAllUnits() {
        rangesFromAranges = false
        if let image, !image.inflateUnits(through: image.unitsSize) { return }  // the units read so far stay
        units = []
        unitRanges = []
        indexes = [:]
        var unit: OpaquePointer? = nil
        var next: OpaquePointer? = nil
        var version: Dwarf_Half = 0
        var unitType: UInt8 = 0
        var unitDIE = Dwarf_Die()
        while dwarf_get_units(dwarf, unit, &next, &version, &unitType, &unitDIE, nil) == 0 {
            unit = next
            guard dwarf_tag(&unitDIE) == DW_TAG_compile_unit || dwarf_tag(&unitDIE) == DW_TAG_partial_unit
            else { continue }
            let index = units.count
            units.append(Unit(offset: 0, isRead: true, die: unitDIE,
                              compilationDirectory: Self.compilationDirectory(of: &unitDIE)))
            for (low, high) in ranges(of: &unitDIE) {
                unitRanges.append(UnitRange(low: low, high: high, unit: index))
            }
        }
        unitRanges.sort { $0.low < $1.low }
    }

    private static func compilationDirectory(of die: UnsafeMutablePointer<Dwarf_Die>) -> String? {
        var attribute = Dwarf_Attribute()
        guard dwarf_attr(die, UInt32(DW_AT_comp_dir), &attribute) != nil, let text = dwarf_formstring(&attribute)
        else { return nil }
        return String(cString: text)
    }

    /// The ranges of `.debug_aranges` (DWARF 2 to 5: version 2 sets, 8-byte addresses), by
    /// hand: libdw's `dwarf_getaranges` reads the units instead in later versions, which a
    /// `.debug_info` inflated in part does not have yet. False where the section is absent,
    /// empty or malformed.
    private func readAranges() -> Bool {
        guard let bytes = file.sectionBytes(named: ".debug_aranges"), !bytes.isEmpty else { return false }
        var unitOfOffset: [UInt64: Int] = [:]
        var ranges: [UnitRange] = []
        func load(_ offset: Int, _ size: Int) -> UInt64? {
            guard offset >= 0, size <= 8, offset <= bytes.count - size else { return nil }
            var value: UInt64 = 0
            for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
            return value
        }
        var setStart = 0
        while setStart < bytes.count {
            guard var length = load(setStart, 4) else { return false }
            var headerEnd = setStart + 4
            var offsetSize = 4
            if length == 0xffff_ffff {
                guard let long = load(setStart + 4, 8) else { return false }
                length = long
                headerEnd += 8
                offsetSize = 8
            }
            guard length <= UInt64(bytes.count - headerEnd) else { return false }
            let setEnd = headerEnd + Int(length)
            guard load(headerEnd, 2) == 2, let unitOffset = load(headerEnd + 2, offsetSize),
                  load(headerEnd + 2 + offsetSize, 1) == 8, load(headerEnd + 3 + offsetSize, 1) == 0
            else { return false }
            // Tuples start at a multiple of their size (16) from the set's start.
            var tuple = setStart + (headerEnd + 4 + offsetSize - setStart + 15) / 16 * 16
            let unit: Int
            if let known = unitOfOffset[unitOffset] {
                unit = known
            } else {
                unit = units.count
                unitOfOffset[unitOffset] = unit
                units.append(Unit(offset: unitOffset, isRead: false))
            }
            while tuple + 16 <= setEnd, let start = load(tuple, 8), let size = load(tuple + 8, 8) {
                tuple += 16
                if start == 0 && size == 0 { break }
                let (end, overflow) = start.addingReportingOverflow(size)
                if size > 0 && !overflow { ranges.append(UnitRange(low: start, high: end, unit: unit)) }
            }
            setStart = setEnd
        }
        guard !ranges.isEmpty else { return false }
        ranges.sort { $0.low < $1.low }
        unitRanges = ranges
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(file.elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_flags & UInt64(SHF_EXECINSTR) != 0 else { continue }
            let (end, overflow) = header.sh_addr.addingReportingOverflow(header.sh_size)
            guard !overflow, end > header.sh_addr else { continue }
            if ranges.contains(where: { $0.low < end && $0.high > header.sh_addr }) { arangedCode.append(header.sh_addr..<end) }
        }
        return true
    }

    /// The unit's DIE, its part of `.debug_info` inflated first where it is not yet.
    private func readUnit(_ index: Int) -> Dwarf_Die? {
        if units[index].isRead { return units[index].die }
        units[index].isRead = true
        guard let image, units[index].offset < UInt64(image.unitsSize) else { return nil }
        let offset = Int(units[index].offset)
        // The unit's length, then the unit: `dwarf_next_unit` reads only what is inflated.
        guard image.inflateUnits(through: offset + 12) else { return nil }
        let inflated = image.inflatedUnits
        guard offset + 4 <= inflated.count else { return nil }
        var length = UInt64(inflated.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        var lengthSize: UInt64 = 4
        if length == 0xffff_ffff {
            guard offset + 12 <= inflated.count else { return nil }
            length = inflated.loadUnaligned(fromByteOffset: offset + 4, as: UInt64.self).littleEndian
            lengthSize = 12
        }
        let (end, overflow) = units[index].offset.addingReportingOverflow(length &+ lengthSize)
        guard !overflow, length < UInt64(image.unitsSize), end <= UInt64(image.unitsSize),
              image.inflateUnits(through: Int(end))
        else { return nil }
        var next: Dwarf_Off = 0
        var headerSize = 0
        var die = Dwarf_Die()
        guard dwarf_next_unit(dwarf, units[index].offset, &next, &headerSize, nil, nil, nil, nil, nil, nil) == 0,
              dwarf_offdie(dwarf, units[index].offset + UInt64(headerSize), &die) != nil,
              dwarf_tag(&die) == DW_TAG_compile_unit || dwarf_tag(&die) == DW_TAG_partial_unit
        else { return nil }
        units[index].die = die
        units[index].compilationDirectory = Self.compilationDirectory(of: &die)
        return die
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
        if let found = searchUnit(containing: address) { return found }
        // A unit `.debug_aranges` leaves out: read them all, once.
        guard rangesFromAranges, arangedCode.contains(where: { $0.contains(address) }) else { return nil }
        readAllUnits()
        return searchUnit(containing: address)
    }

    private func searchUnit(containing address: UInt64) -> Int? {
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
        guard let unit = unit(containing: address), let unitDIE = readUnit(unit) else { return [] }
        let index: UnitIndex
        if let known = indexes[unit] {
            index = known
        } else {
            index = UnitIndex(unitDIE: unitDIE, compilationDirectory: units[unit].compilationDirectory, owner: self)
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
        guard var die = units[unit].die, let line = dwarf_getsrc_die(&die, address) else { return nil }
        var number: Int32 = 0
        guard dwarf_lineno(line, &number) == 0, number > 0,
              let source = dwarf_linesrc(line, nil, nil)
        else { return nil }
        return SourceLocation(file: absolute(String(cString: source), in: units[unit].compilationDirectory),
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
