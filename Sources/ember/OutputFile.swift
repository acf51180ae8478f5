#if canImport(Glibc)
import Glibc
#endif

/// An error that ember reports as one line, exiting non-zero.
struct EmberError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The formats ember writes, chosen by the output's extension.
enum OutputFormat: String, CaseIterable {
    case svg
    case folded

    init(path: String) throws {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."),
              let format = OutputFormat(rawValue: name[name.index(after: dot)...].lowercased())
        else {
            throw EmberError(
                "cannot tell the format of '\(path)': use an extension among "
                    + OutputFormat.allCases.map { ".\($0.rawValue)" }.joined(separator: ", "))
        }
        self = format
    }
}

/// Writes outputs whole or not at all: the bytes go to a temporary file next to the
/// destination, which is renamed over it only once everything was written.
enum OutputFile {
    /// Fails early, before recording, if `path` could not be written.
    static func checkWritable(_ path: String) throws {
        let directory = directoryOf(path)
        var info = stat()
        if stat(directory, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw EmberError("cannot write '\(path)': no such directory '\(directory)'")
        }
        if access(directory, W_OK) != 0 {
            throw EmberError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw EmberError("cannot write '\(path)': it is a directory")
        }
    }

    static func write(_ text: String, to path: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0), to: path) }
    }

    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        var template = Array((directoryOf(path) + "/.ember-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw EmberError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        let temporary = String(cString: template)
        let written = writeAll(fd, bytes) && fchmod(fd, 0o644) == 0
        let writeError = errno
        let closed = close(fd) == 0
        guard written, closed, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(written ? errno : writeError))
            unlink(temporary)
            throw EmberError("cannot write '\(path)': \(reason)")
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let count = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }

    private static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }
}
