import CLibDeflate
import CLibElf
import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// An in-memory ELF image of a file's DWARF for libdw, its zlib-compressed sections
/// (SHF_COMPRESSED, as Debian's debug packages ship them) inflated.
///
/// libdw inflates every compressed debug section when a file is opened, with zlib's
/// streaming inflate. Here:
/// - libdeflate, made for whole buffers of known size, inflates them in well under half the
///   time;
/// - the sections named in `omitting` (location lists, macros; line tables when no line is
///   asked for) are not inflated at all: they become SHT_NOBITS;
/// - `.debug_info`, most of the bytes, is inflated only as far as ``inflateUnits(through:)``
///   is asked (libdw reads its units in order, so a prefix of it is valid DWARF). A profile
///   names libc's start-up code, in its third unit, in nearly every stack, and often little
///   else of libc;
/// - only the debug sections, the notes and the section names are copied in: the rest of
///   the file (its symbol table, say) is left out as SHT_NOBITS.
public final class DebugSectionsImage {
    /// The image, for libdw.
    public let file: ELFFile
    /// `.debug_info`'s size once inflated (0 without one).
    public let unitsSize: Int
    /// How much of `.debug_info` libdw can read so far: all of it unless it was compressed.
    public private(set) var unitsInflated: Int
    /// The original file, whose compressed `.debug_info` is inflated from as it is needed.
    private let original: ELFFile
    private let deferred: DeferredUnits?

    /// `.debug_info` still (partly) compressed: where its stream is and where it goes.
    private struct DeferredUnits {
        var payload: UnsafeRawBufferPointer  // in the original file's bytes
        var destination: UnsafeMutableRawPointer  // in the image
        var data: UnsafeMutablePointer<Elf_Data>  // libelf's (and libdw's) view: its d_size grows
        var stream: UnsafeMutablePointer<z_stream>
    }

    /// Past this share of `.debug_info`, the rest is inflated whole by libdeflate rather
    /// than streamed by zlib, which is about twice as slow per byte.
    private static let streamedShare = 0.3
    /// The most inflated at first, by default: libdw ignores an empty section, and the first
    /// units are libc's start-up code. An eighth where that is less, so that small files
    /// take the same path as large ones.
    public static let firstPiece = 64 << 10

    /// nil when no debug section is compressed, the file is not a 64-bit little-endian
    /// executable or shared object, or a compressed section cannot be inflated.
    /// `firstPiece`: the bytes of a compressed `.debug_info` inflated at once (all of it
    /// with `.max`); by default ``firstPiece`` or an eighth of the section, the less.
    public init?(of original: ELFFile, omitting omitted: Set<String> = [], firstPiece: Int? = nil) {
        guard let layout = Self.layout(of: original, omitting: omitted) else { return nil }
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.imageSize, alignment: 16)
        let source = layout.file
        // The header, without program headers, its section headers at 64.
        image.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<64]))
        image.storeBytes(of: UInt64(0), toByteOffset: 32, as: UInt64.self)  // e_phoff
        image.storeBytes(of: UInt64(64).littleEndian, toByteOffset: 40, as: UInt64.self)  // e_shoff
        image.storeBytes(of: UInt16(0), toByteOffset: 56, as: UInt16.self)  // e_phnum
        let headers = layout.headerTableOffset..<layout.headerTableOffset + layout.sections * 64
        UnsafeMutableRawBufferPointer(rebasing: image[64..<64 + layout.sections * 64])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[headers]))

        guard let decompressor = libdeflate_alloc_decompressor() else {
            image.deallocate()
            return nil
        }
        defer { libdeflate_free_decompressor(decompressor) }
        var deferredUnits: (payload: Range<Int>, offset: Int)?
        for placed in layout.placements {
            let header = 64 + placed.index * 64
            func store<T: FixedWidthInteger>(_ value: T, at field: Int) {
                image.storeBytes(of: value.littleEndian, toByteOffset: header + field, as: T.self)
            }
            switch placed.content {
            case .absent:
                store(UInt32(SHT_NOBITS), at: 4)
                store(placed.flags & ~UInt64(SHF_COMPRESSED), at: 8)
                continue
            case .copied(let bytes):
                UnsafeMutableRawBufferPointer(rebasing: image[placed.offset..<placed.offset + bytes.count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[bytes]))
            case .inflated(let payload, _):
                if placed.name == ".debug_info" {
                    deferredUnits = (payload, placed.offset)
                } else {
                    var produced = 0
                    let result = libdeflate_zlib_decompress(
                        decompressor, source.baseAddress! + payload.lowerBound, payload.count,
                        image.baseAddress! + placed.offset, placed.size, &produced)
                    guard result == LIBDEFLATE_SUCCESS, produced == placed.size else {
                        image.deallocate()
                        return nil
                    }
                }
            }
            store(UInt64(placed.offset), at: 24)
            store(UInt64(placed.size), at: 32)
            if case .inflated(_, let alignment) = placed.content {
                store(placed.flags & ~UInt64(SHF_COMPRESSED), at: 8)
                store(alignment, at: 48)
            }
        }
        guard let imageFile = try? ELFFile(ownedImage: image, count: layout.imageSize, name: original.path) else {
            return nil
        }
        self.file = imageFile
        self.original = original
        self.unitsSize = layout.unitsSize
        guard let (payload, offset) = deferredUnits else {
            self.deferred = nil
            self.unitsInflated = layout.unitsSize
            return
        }
        guard let (section, _) = imageFile.section(named: ".debug_info"), let data = elf_getdata(section, nil),
              data.pointee.d_buf == UnsafeMutableRawPointer(image.baseAddress! + offset)
        else { return nil }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit_(stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress!.assumingMemoryBound(to: UInt8.self))
            + payload.lowerBound
        self.deferred = DeferredUnits(payload: UnsafeRawBufferPointer(rebasing: source[payload]),
                                      destination: image.baseAddress! + offset, data: data, stream: stream)
        self.unitsInflated = 0
        data.pointee.d_size = 0
        let first = firstPiece ?? min(Self.firstPiece, max(layout.unitsSize / 8, 1))
        guard inflateUnits(through: first), unitsInflated > 0 else { return nil }
    }

    deinit {
        if let deferred {
            inflateEnd(deferred.stream)
            deferred.stream.deallocate()
        }
    }

    /// Makes `.debug_info` readable through byte `end` (or its end), inflating what is not
    /// yet; false where its stream turned out corrupt (what was inflated before stays).
    @discardableResult
    public func inflateUnits(through end: Int) -> Bool {
        let target = min(max(end, 0), unitsSize)
        guard target > unitsInflated, let deferred else { return true }
        let stream = deferred.stream
        guard stream.pointee.state != nil else { return false }  // ended early: corrupt
        if Double(target) > Double(unitsSize) * Self.streamedShare { return inflateAllUnits(deferred) }
        while unitsInflated < target {
            if stream.pointee.avail_in == 0 {
                let read = deferred.payload.baseAddress!.distance(to: UnsafeRawPointer(stream.pointee.next_in!))
                stream.pointee.avail_in = UInt32(min(deferred.payload.count - read, 1 << 30))
            }
            stream.pointee.next_out = (deferred.destination + unitsInflated).assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(min(target - unitsInflated, 1 << 30))
            let room = Int(stream.pointee.avail_out)
            let result = inflate(stream, Z_NO_FLUSH)
            let produced = room - Int(stream.pointee.avail_out)
            unitsInflated += produced
            guard result == Z_OK, produced > 0 || stream.pointee.avail_in > 0 else { break }
        }
        deferred.data.pointee.d_size = unitsInflated
        guard unitsInflated == target else {
            inflateEnd(stream)  // corrupt, or shorter than its header said
            return false
        }
        return true
    }

    /// The rest at once, by libdeflate (the part already inflated is written again, the same).
    private func inflateAllUnits(_ deferred: DeferredUnits) -> Bool {
        inflateEnd(deferred.stream)
        guard let decompressor = libdeflate_alloc_decompressor() else { return false }
        defer { libdeflate_free_decompressor(decompressor) }
        var produced = 0
        let result = libdeflate_zlib_decompress(decompressor, deferred.payload.baseAddress!, deferred.payload.count,
                                                deferred.destination, unitsSize, &produced)
        guard result == LIBDEFLATE_SUCCESS, produced == unitsSize else { return false }
        unitsInflated = unitsSize
        deferred.data.pointee.d_size = unitsSize
        return true
    }

    /// `.debug_info`'s bytes inflated so far.
    public var inflatedUnits: UnsafeRawBufferPointer {
        guard let deferred else {
            guard let (section, _) = file.section(named: ".debug_info"), let data = elf_getdata(section, nil),
                  let buffer = data.pointee.d_buf
            else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)
        }
        return UnsafeRawBufferPointer(start: deferred.destination, count: unitsInflated)
    }

    // MARK: Layout

    private enum Content {
        case absent
        case copied(Range<Int>)
        case inflated(payload: Range<Int>, alignment: UInt64)
    }

    private struct Placement {
        var index: Int
        var name: String
        var flags: UInt64
        var content: Content
        var offset = 0
        var size = 0
    }

    private struct Layout {
        var file: UnsafeRawBufferPointer
        var headerTableOffset: Int
        var sections: Int
        var placements: [Placement]
        var imageSize: Int
        var unitsSize: Int
    }

    /// What goes where in the image; nil where nothing is compressed or the file is not one
    /// this reads.
    private static func layout(of original: ELFFile, omitting omitted: Set<String>) -> Layout? {
        let elf = original.elf
        var fileSize = 0
        guard let raw = elf_rawfile(elf, &fileSize), fileSize >= 64 else { return nil }
        let file = UnsafeRawBufferPointer(start: raw, count: fileSize)
        var header = GElf_Ehdr()
        var stringIndex = 0
        var sectionCount = 0
        guard file[4] == UInt8(ELFCLASS64), file[5] == UInt8(ELFDATA2LSB), gelf_getehdr(elf, &header) != nil,
              header.e_type == ET_EXEC || header.e_type == ET_DYN,  // no relocations to apply
              header.e_shentsize == 64, elf_getshdrstrndx(elf, &stringIndex) == 0,
              elf_getshdrnum(elf, &sectionCount) == 0, sectionCount > 0
        else { return nil }
        let (tableEnd, tableOverflow) = Int(clamping: header.e_shoff).addingReportingOverflow(sectionCount * 64)
        guard !tableOverflow, tableEnd <= fileSize else { return nil }

        var placements: [Placement] = []
        var anyCompressed = false
        var debugSections: Set<String> = []
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var sectionHeader = GElf_Shdr()
            guard gelf_getshdr(current, &sectionHeader) != nil else { return nil }
            let index = elf_ndxscn(current)
            guard index < sectionCount else { return nil }
            let name = elf_strptr(elf, stringIndex, Int(sectionHeader.sh_name)).map { String(cString: $0) } ?? ""
            var placement = Placement(index: index, name: name, flags: sectionHeader.sh_flags, content: .absent)
            let isDebug = name.hasPrefix(".debug_") || name.hasPrefix(".zdebug_")
            // Two sections of one name: which one libdw reads is its choice, not this image's.
            if isDebug && !debugSections.insert(name).inserted { return nil }
            let isKept = isDebug || name == ".gnu_debugaltlink" || sectionHeader.sh_type == SHT_NOTE || index == stringIndex
            if sectionHeader.sh_type != SHT_NOBITS && isKept && !omitted.contains(name) {
                let start = Int(clamping: sectionHeader.sh_offset)
                let (end, overflow) = start.addingReportingOverflow(Int(clamping: sectionHeader.sh_size))
                guard !overflow, end <= fileSize else { return nil }
                if sectionHeader.sh_flags & UInt64(SHF_COMPRESSED) != 0 {
                    let chdrSize = MemoryLayout<Elf64_Chdr>.size
                    guard end - start > chdrSize else { return nil }
                    let chdr = file.loadUnaligned(fromByteOffset: start, as: Elf64_Chdr.self)
                    // A stream other than zlib (zstd) is copied for libdw; DEFLATE inflates at
                    // most 1032-fold, so a larger size is a lie.
                    if chdr.ch_type == UInt32(ELFCOMPRESS_ZLIB) {
                        guard chdr.ch_size <= UInt64(end - start - chdrSize) * 1032 else { return nil }
                        anyCompressed = true
                        placement.content = .inflated(payload: start + chdrSize..<end, alignment: max(chdr.ch_addralign, 1))
                        placement.size = Int(chdr.ch_size)
                    } else {
                        placement.content = .copied(start..<end)
                        placement.size = end - start
                    }
                } else {
                    placement.content = .copied(start..<end)
                    placement.size = end - start
                }
            } else if sectionHeader.sh_flags & UInt64(SHF_COMPRESSED) != 0 && omitted.contains(name) {
                anyCompressed = true
            }
            placements.append(placement)
        }
        guard anyCompressed else { return nil }

        func aligned(_ offset: Int) -> Int { (offset + 15) & ~15 }
        var imageSize = aligned(64 + sectionCount * 64)
        var unitsSize = 0
        for index in placements.indices {
            if case .absent = placements[index].content { continue }
            placements[index].offset = imageSize
            let (sum, overflow) = imageSize.addingReportingOverflow(aligned(placements[index].size))
            guard !overflow, sum <= 1 << 34 else { return nil }
            imageSize = sum
            if placements[index].name == ".debug_info" { unitsSize = placements[index].size }
        }
        return Layout(file: file, headerTableOffset: Int(header.e_shoff), sections: sectionCount,
                      placements: placements, imageSize: imageSize, unitsSize: unitsSize)
    }
}
