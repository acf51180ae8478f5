#if canImport(Glibc)
import Glibc
#endif

/// A function that takes the next bytes of an output.
public typealias ByteSink = (UnsafeRawBufferPointer) throws -> Void

/// Output files written whole or not at all: the bytes go to a new temporary file beside the
/// destination, which is renamed over it only once everything was written, so a failure (a
/// full disk, a bad input found halfway) never leaves a half-written file. `-` is standard
/// output. A destination that exists and is not a regular file (`/dev/null`, a FIFO) is
/// written in place: renaming over a device would replace it.
public enum AtomicFile {
    /// Fails early, before any work, if `path` could not be written.
    public static func checkWritable(_ path: String) throws {
        if path == "-" { return }
        var info = stat()
        if stat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR { throw SystemError("cannot write '\(path)': it is a directory") }
            if info.st_mode & S_IFMT != S_IFREG {
                guard access(path, W_OK) == 0 else { throw SystemError.cannotWrite(path) }
                return
            }
        }
        let directory = directoryOf(resolvedPath(path))
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw SystemError("cannot write '\(path)': no such directory '\(directory)'")
        }
        guard access(directory, W_OK) == 0 else { throw SystemError.cannotWrite(path) }
    }

    /// Writes what `produce` hands its sink to `path`.
    public static func write(path: String, _ produce: (@escaping ByteSink) throws -> Void) throws {
        if path == "-" {
            try produce { try writeAll(1, $0, name: "standard output") }
            return
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG, info.st_mode & S_IFMT != S_IFDIR {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError.cannotWrite(path) }
            defer { close(fd) }
            try produce { try writeAll(fd, $0, name: path) }
            return
        }
        // Through a symbolic link, the file it names is replaced, not the link.
        let destination = resolvedPath(path)
        let name = destination.split(separator: "/").last.map(String.init) ?? destination
        guard !name.isEmpty, !destination.hasSuffix("/") else { throw SystemError("cannot write '\(path)': not a file name") }
        var template = Array((directoryOf(destination) + "/." + name + ".XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemError.cannotWrite(path) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let temporary = String(cString: template)
        var open = true
        do {
            try produce { try writeAll(fd, $0, name: path) }
            guard fchmod(fd, 0o644) == 0 else { throw SystemError.cannotWrite(path) }
            open = false
            guard close(fd) == 0 else { throw SystemError.cannotWrite(path) }
            guard rename(temporary, destination) == 0 else { throw SystemError.cannotWrite(path) }
        } catch {
            if open { close(fd) }
            unlink(temporary)
            throw error
        }
    }

    /// Writes `bytes` to `path`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(path: path) { sink in try bytes.withUnsafeBytes { try sink($0) } }
    }

    /// Writes `text` to `path`.
    public static func write(_ text: String, to path: String) throws {
        var text = text
        try text.withUTF8 { utf8 in try write(path: path) { try $0(UnsafeRawBufferPointer(utf8)) } }
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemError.cannotWrite(name)
            }
            offset += written
        }
    }

    /// `path` with a final symbolic link followed (up to a few levels).
    private static func resolvedPath(_ path: String) -> String {
        var current = path
        for _ in 0..<8 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { return current }
            let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : directoryOf(current) + "/" + target
        }
        return current
    }

    private static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }
}

extension SystemError {
    /// "cannot write 'PATH': strerror(errno)".
    static func cannotWrite(_ path: String, errno code: Int32 = errno) -> SystemError {
        SystemError("cannot write '\(path)': \(String(cString: strerror(code)))")
    }
}
