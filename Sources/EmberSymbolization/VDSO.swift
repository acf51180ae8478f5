import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// The vDSO: an ELF image the kernel maps into every process (`[vdso]` in its maps), with
/// no file behind it. Its functions (`__vdso_clock_gettime`, ...) are named from its own
/// symbols, read from a copy of the image.
///
/// The copy is the target's own, read through /proc/PID/mem while it lives. Where that
/// cannot be read (the process is gone, or ember may not read its memory), ember's own
/// vDSO (`getauxval(AT_SYSINFO_EHDR)`) stands in, but only when it is as large as the
/// target's mapping: one kernel maps one image into every process of an ABI, and a
/// process of another ABI (32-bit, x32) gets an image of another size.
enum VDSO {
    /// The name of the mapping in /proc/PID/maps.
    static let mappingName = "[vdso]"

    /// ember's own vDSO image (the mapping `getauxval(AT_SYSINFO_EHDR)` points at), or nil
    /// where the kernel maps none.
    static let ownImage: [UInt8]? = {
        guard let maps = try? FileContents.read("/proc/self/maps"),
              let mapping = MemoryMap(bytes: maps).mappings.first(where: { $0.path == mappingName }),
              let start = UnsafeRawPointer(bitPattern: UInt(mapping.start))
        else { return nil }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(mapping.end - mapping.start)))
    }()

    /// The bytes of `mapping` (a process's `[vdso]`) read from the process's memory, or nil.
    static func image(of mapping: MemoryMapping, procRoot: String, pid: pid_t) -> [UInt8]? {
        let length = Int(mapping.end - mapping.start)
        // A vDSO is a few pages; anything larger is not one.
        guard length > 0, length <= 1 << 20, mapping.start <= UInt64(Int64.max) else { return nil }
        let fd = open("\(procRoot)/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: length)
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(mapping.start)) }
        return read == length ? bytes : nil
    }
}
