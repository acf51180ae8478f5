#if canImport(Glibc)
import Glibc
#endif

/// A failure of a system call on a named file, as one line: "cannot open X: reason".
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// "`action` `path`: strerror(code)".
    public init(_ action: String, _ path: String, errno code: Int32 = errno) {
        description = "cannot \(action) \(path): \(String(cString: strerror(code)))"
    }
}

/// Reads whole files: /proc and /sys files (whose size reads as 0) and small inputs.
public enum FileContents {
    /// The names in a directory, "." and ".." left out; empty if it cannot be read.
    public static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The bytes of the file at `path`, read to its end. A file larger than `limit` bytes is
    /// an error rather than a reason to run out of memory.
    public static func read(_ path: String, limit: Int = 1 << 30) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path) }
        defer { close(fd) }
        return try read(fileDescriptor: fd, name: path, limit: limit)
    }

    /// The bytes `fd` gives until its end (standard input, a pipe).
    public static func read(fileDescriptor fd: Int32, name: String, limit: Int = 1 << 30) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", name)
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else {
                throw SystemError("cannot read \(name): larger than \(limit >> 20) MiB")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// The first `count` bytes `fd` gives (fewer at its end).
    public static func read(fileDescriptor fd: Int32, name: String, upTo count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", name)
            }
            if got == 0 { break }
            filled += got
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// The file's text (invalid UTF-8 repaired), for small /proc and /sys files.
    public static func text(_ path: String) throws -> String {
        String(decoding: try read(path, limit: 1 << 24), as: UTF8.self)
    }
}

/// Writes a line to standard error, unbuffered (reports and warnings).
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
