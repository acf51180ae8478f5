import CLibDeflate
import CLibElf
#if canImport(Glibc)
import Glibc
#endif

extension ELFFile {
    /// An in-memory image of this file with its zlib-compressed sections (SHF_COMPRESSED,
    /// as Debian's debug packages ship them) already inflated, for libdw to read; nil when
    /// none is compressed or the file is not a 64-bit little-endian ELF file.
    ///
    /// libdw inflates every compressed debug section when a file is opened, with zlib's
    /// streaming inflate. libdeflate, made for whole buffers of known size, inflates them
    /// in well under half the time, and the sections named in `omitting` (location lists,
    /// macros: DWARF that naming frames never reads) are not inflated at all: they become
    /// empty. The debug file of libc alone holds 10 MB of such sections, inflated at every
    /// start that samples a libc frame.
    public func inflatingCompressedSections(omitting omitted: Set<String> = []) -> ELFFile? {
        var fileSize = 0
        guard let raw = elf_rawfile(elf, &fileSize), fileSize > 0 else { return nil }
        let file = UnsafeRawBufferPointer(start: raw, count: fileSize)
        guard fileSize >= 64, file[4] == UInt8(ELFCLASS64), file[5] == UInt8(ELFDATA2LSB) else { return nil }
        var header = GElf_Ehdr()
        var stringIndex = 0
        guard gelf_getehdr(elf, &header) != nil, header.e_shentsize == 64,
              elf_getshdrstrndx(elf, &stringIndex) == 0
        else { return nil }

        struct Inflation {
            var headerOffset: Int  // of the section's header in the file
            var payload: Range<Int>  // the compressed stream, past its Elf64_Chdr
            var size: Int
            var alignment: UInt64
            var omitted: Bool
        }
        var inflations: [Inflation] = []
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var sectionHeader = GElf_Shdr()
            guard gelf_getshdr(current, &sectionHeader) != nil,
                  sectionHeader.sh_flags & UInt64(SHF_COMPRESSED) != 0, sectionHeader.sh_type != SHT_NOBITS
            else { continue }
            // (The index is libelf's, below the file's section count: its multiple fits.)
            let (headerOffset, headerOverflow) = Int(clamping: header.e_shoff)
                .addingReportingOverflow(elf_ndxscn(current) * 64)
            let start = Int(clamping: sectionHeader.sh_offset)
            let (end, overflow) = start.addingReportingOverflow(Int(clamping: sectionHeader.sh_size))
            let chdrSize = MemoryLayout<Elf64_Chdr>.size
            guard !headerOverflow, headerOffset + 64 <= fileSize, !overflow, end <= fileSize,
                  end - start > chdrSize
            else { return nil }
            let chdr = file.loadUnaligned(fromByteOffset: start, as: Elf64_Chdr.self)
            let name = elf_strptr(elf, stringIndex, Int(sectionHeader.sh_name)).map { String(cString: $0) } ?? ""
            let isOmitted = omitted.contains(name)
            // A stream other than zlib (zstd) stays for libdw; DEFLATE inflates at most
            // 1032-fold, so a larger size is a lie.
            guard isOmitted || chdr.ch_type == UInt32(ELFCOMPRESS_ZLIB) else { continue }
            let payload = start + chdrSize..<end
            guard isOmitted || chdr.ch_size <= UInt64(payload.count) * 1032 else { return nil }
            inflations.append(Inflation(headerOffset: headerOffset, payload: payload,
                                        size: isOmitted ? 0 : Int(chdr.ch_size),
                                        alignment: max(chdr.ch_addralign, 1), omitted: isOmitted))
        }
        guard !inflations.isEmpty else { return nil }

        // The image: the file as it is, then each inflated section, 16-byte aligned.
        func aligned(_ offset: Int) -> Int { (offset + 15) & ~15 }
        var imageSize = aligned(fileSize)
        for inflation in inflations {
            let (sum, overflow) = imageSize.addingReportingOverflow(aligned(inflation.size))
            guard !overflow, sum <= 1 << 34 else { return nil }
            imageSize = sum
        }
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: imageSize, alignment: 16)
        image.copyMemory(from: file)
        guard let decompressor = libdeflate_alloc_decompressor() else {
            image.deallocate()
            return nil
        }
        defer { libdeflate_free_decompressor(decompressor) }
        var offset = aligned(fileSize)
        for inflation in inflations {
            var flags = image.loadUnaligned(fromByteOffset: inflation.headerOffset + 8, as: UInt64.self)
            flags &= ~UInt64(SHF_COMPRESSED)
            if inflation.omitted {
                image.storeBytes(of: UInt32(SHT_NOBITS).littleEndian, toByteOffset: inflation.headerOffset + 4,
                                 as: UInt32.self)
            } else {
                var produced = 0
                let result = libdeflate_zlib_decompress(
                    decompressor, file.baseAddress! + inflation.payload.lowerBound, inflation.payload.count,
                    image.baseAddress! + offset, inflation.size, &produced)
                guard result == LIBDEFLATE_SUCCESS, produced == inflation.size else {
                    image.deallocate()
                    return nil
                }
                image.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: inflation.headerOffset + 24,
                                 as: UInt64.self)
                image.storeBytes(of: inflation.alignment.littleEndian, toByteOffset: inflation.headerOffset + 48,
                                 as: UInt64.self)
                offset += aligned(inflation.size)
            }
            image.storeBytes(of: flags.littleEndian, toByteOffset: inflation.headerOffset + 8, as: UInt64.self)
            image.storeBytes(of: UInt64(inflation.size).littleEndian, toByteOffset: inflation.headerOffset + 32,
                             as: UInt64.self)
        }
        return try? ELFFile(ownedImage: image, count: imageSize, name: path)
    }
}
