import CLibElf
#if canImport(Glibc)
import Glibc
#endif

/// Why an ELF file could not be read.
public struct ELFError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(description: String) { self.description = description }
}

/// One open ELF file: owns the descriptor (or the in-memory image) and the libelf handle,
/// and closes both in `deinit`, so every other type just keeps a reference.
public final class ELFFile {
    public let path: String
    /// The libelf handle, valid as long as this object.
    public let elf: OpaquePointer
    private let fd: Int32
    /// For an image decoded in memory (MiniDebugInfo): libelf reads from it, so it lives
    /// as long as the handle.
    private let image: UnsafeMutableRawBufferPointer?

    public convenience init(path: String) throws {
        try self.init(path: path, opening: path)
    }

    /// Opens `file`, a name that reaches the file called `path`.
    private init(path: String, opening file: String) throws {
        _ = elf_version(UInt32(EV_CURRENT))
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ELFError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else {
            close(fd)
            throw ELFError(description: "\(path): \(String(cString: elf_errmsg(-1)))")
        }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            close(fd)
            throw ELFError(description: "\(path): not an ELF file")
        }
        self.path = path
        self.fd = fd
        self.elf = elf
        self.image = nil
    }

    /// An ELF image held in memory (copied, so the caller's bytes may go).
    public convenience init(image bytes: [UInt8], name: String) throws {
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { image.copyMemory(from: $0) }
        try self.init(ownedImage: image, count: bytes.count, name: name)
    }

    /// An ELF image in `image`'s first `count` bytes, which this object now owns (and frees,
    /// also when this throws).
    init(ownedImage image: UnsafeMutableRawBufferPointer, count: Int, name: String) throws {
        _ = elf_version(UInt32(EV_CURRENT))
        guard let elf = elf_memory(image.baseAddress!.assumingMemoryBound(to: CChar.self), count) else {
            image.deallocate()
            throw ELFError(description: "\(name): not an ELF image")
        }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            image.deallocate()
            throw ELFError(description: "\(name): not an ELF image")
        }
        self.path = name
        self.fd = -1
        self.elf = elf
        self.image = image
    }

    /// The same file through a handle of its own, which another thread may read while this
    /// one is used (libelf handles are not shared between threads). Reached through this
    /// one's descriptor, so a file deleted or in a process root that is gone still opens.
    public func reopened() throws -> ELFFile {
        if let image {
            return try ELFFile(image: Array(UnsafeRawBufferPointer(image)), name: path)
        }
        return try ELFFile(path: path, opening: "/proc/self/fd/\(fd)")
    }

    /// Hands back the pages of the file read so far (a whole symbol table, say, once it is
    /// indexed): they would otherwise count in ember's resident memory for as long as the
    /// file is open, and later reads fault back in only what they touch.
    ///
    /// Only where libelf mapped the file (read-only, private): dropping those pages from
    /// ember's page tables leaves them in the page cache, so the next read (or the next
    /// run) finds them there. MADV_PAGEOUT would evict them from the cache too, wherever
    /// ember alone maps them (debug sections, symbol tables), and every later run would
    /// read them from disk again. Where libelf read the file into its heap instead (it does
    /// when it cannot map), MADV_DONTNEED would zero it, so those pages stay.
    public func releaseResidentPages() {
        guard image == nil else { return }
        var size = 0
        guard let start = elf_rawfile(elf, &size), size > 0 else { return }
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let address = UInt(bitPattern: start)
        let first = address & ~(pageSize - 1)
        let end = (address + UInt(size) + pageSize - 1) & ~(pageSize - 1)
        guard Self.isFileMapping(from: first, to: end) else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: first), Int(end - first), MADV_DONTNEED)
    }

    /// Whether [from, to) is exactly one mapping of a file: the kernel names a link for it
    /// in /proc/self/map_files only then.
    private static func isFileMapping(from: UInt, to: UInt) -> Bool {
        let name = "/proc/self/map_files/" + String(from, radix: 16) + "-" + String(to, radix: 16)
        var buffer = [CChar](repeating: 0, count: 2)
        return readlink(name, &buffer, buffer.count) > 0
    }

    deinit {
        elf_end(elf)
        if fd >= 0 { close(fd) }
        image?.deallocate()
    }

    /// The file's device and inode, to recognise one file reached by several paths.
    public var identity: (device: UInt64, inode: UInt64)? {
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// The section called `name`, with its header.
    public func section(named name: String) -> (section: OpaquePointer, header: GElf_Shdr)? {
        var stringIndex = 0
        guard elf_getshdrstrndx(elf, &stringIndex) == 0 else { return nil }
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil,
                  let sectionName = elf_strptr(elf, stringIndex, Int(header.sh_name))
            else { continue }
            if strcmp(sectionName, name) == 0 { return (current, header) }
        }
        return nil
    }

    /// The bytes of a section that has them in the file (not SHT_NOBITS).
    public func sectionBytes(named name: String) -> [UInt8]? {
        guard let (section, header) = section(named: name), header.sh_type != SHT_NOBITS,
              let data = elf_getdata(section, nil), let buffer = data.pointee.d_buf
        else { return nil }
        return Array(UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size))
    }

    /// Whether the file carries DWARF itself (a stripped file keeps no .debug_info, and a
    /// separate debug file has the real one).
    public var hasDWARF: Bool {
        guard let (_, header) = section(named: ".debug_info") else { return false }
        return header.sh_type != SHT_NOBITS && header.sh_size > 0
    }

    /// The GNU build id, from the `.note.gnu.build-id` note (or any note section).
    public lazy var buildID: [UInt8]? = {
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_type == SHT_NOTE,
                  let data = elf_getdata(current, nil)
            else { continue }
            var offset = 0
            var note = GElf_Nhdr()
            var nameOffset = 0
            var descriptorOffset = 0
            while true {
                let next = gelf_getnote(data, offset, &note, &nameOffset, &descriptorOffset)
                if next == 0 { break }
                offset = next
                if note.n_type == UInt32(NT_GNU_BUILD_ID), note.n_namesz == 4,
                   let base = data.pointee.d_buf {
                    let bytes = UnsafeRawBufferPointer(start: base + descriptorOffset, count: Int(note.n_descsz))
                    return Array(bytes)
                }
            }
        }
        return nil
    }()

    /// `.gnu_debuglink`: the debug file's name and the CRC-32 of its contents.
    public var debugLink: (name: String, crc: UInt32)? {
        guard let bytes = sectionBytes(named: ".gnu_debuglink"),
              let zero = bytes.firstIndex(of: 0), zero > 0
        else { return nil }
        let name = String(decoding: bytes[..<zero], as: UTF8.self)
        let crcOffset = (zero + 4) & ~3  // the name, its NUL, padding to 4
        guard crcOffset + 4 <= bytes.count else { return nil }
        let crc = bytes[crcOffset..<crcOffset + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (name, crc)
    }

    /// The CRC-32 of the whole file, as `.gnu_debuglink` records it.
    public func contentsCRC() -> UInt32? {
        guard fd >= 0 else { return nil }
        var crc = crc32(0, nil, 0)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count < 0 { return nil }
            if count == 0 { break }
            crc = buffer.withUnsafeBytes { crc32(crc, $0.bindMemory(to: Bytef.self).baseAddress, uInt(count)) }
            offset += off_t(count)
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}

extension Array where Element == UInt8 {
    /// The bytes in lower-case hexadecimal (a build id as paths and tools spell it).
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
