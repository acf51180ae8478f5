#if canImport(Glibc)
import Glibc
#endif

/// Reads another process's memory through /proc/PID/mem (root, or ptrace rights over it):
/// one descriptor, owned here and closed on deinit. Every read is bounded and may fail
/// (the process changed or ended): callers treat what they read as untrusted.
public final class ProcessMemory {
    public let pid: pid_t
    private let descriptor: Int32

    /// The largest single read allowed.
    public static let maximumRead = 1 << 20

    public init?(pid: pid_t, procRoot: String = "/proc") {
        let descriptor = open("\(procRoot)/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.pid = pid
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// `count` bytes at `address`, or nil if they cannot all be read.
    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, count <= Self.maximumRead, address <= UInt64(Int64.max) - UInt64(count) else { return nil }
        if count == 0 { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(address)) }
        return read == count ? bytes : nil
    }

    /// A 64-bit word at `address`.
    public func word(_ address: UInt64) -> UInt64? {
        var value: UInt64 = 0
        guard address <= UInt64(Int64.max) - 8 else { return nil }
        let read = withUnsafeMutableBytes(of: &value) { pread(descriptor, $0.baseAddress, 8, off_t(address)) }
        return read == 8 ? value : nil
    }
}
