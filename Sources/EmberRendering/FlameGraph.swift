#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif
import EmberProfile

/// Renders profiles as self-contained, interactive SVG flame graphs.
///
/// The pipeline: folded bytes or a `Profile` → `FrameTreeBuilder` (merged tree) →
/// `FlameLayout` (rows, widths, pruning) → `FlameGraphWriter` (streamed SVG bytes).
public enum FlameGraph {
    /// The SVG document of `profile`.
    public static func svg(of profile: Profile, options: FlameGraphOptions = .init()) -> String {
        String(decoding: svgBytes(of: profile, options: options), as: UTF8.self)
    }

    /// The SVG document of `profile` as UTF-8 bytes (no String conversion).
    public static func svgBytes(of profile: Profile, options: FlameGraphOptions = .init()) -> [UInt8] {
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        builder.add(profile)
        return svgBytes(of: builder.tree, options: options)
    }

    /// The SVG document of a tree built with `FrameTreeBuilder`.
    public static func svgBytes(of tree: FrameTree, options: FlameGraphOptions = .init()) -> [UInt8] {
        var output = SVGOutput()
        // An in-memory output has no sink, so writing cannot fail.
        try? FlameGraphWriter(tree: tree, options: options).write(to: &output)
        return output.bytes
    }

    /// Streams the SVG document of `tree` to `sink` in pieces of about a megabyte.
    public static func write(
        _ tree: FrameTree, options: FlameGraphOptions = .init(),
        to sink: @escaping (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var output = SVGOutput(sink: sink)
        try FlameGraphWriter(tree: tree, options: options).write(to: &output)
    }

    /// Writes the SVG document of `tree` to `path` (`-` for standard output). A file is
    /// written under a temporary name in the same directory and renamed when complete, so
    /// a failure never leaves a half-written graph.
    public static func write(_ tree: FrameTree, options: FlameGraphOptions = .init(), toFile path: String) throws {
        try AtomicOutput.write(path: path) { sink in try write(tree, options: options, to: sink) }
    }

    /// Writes the SVG document of `profile` to `path` (as `write(_:options:toFile:)`).
    public static func write(_ profile: Profile, options: FlameGraphOptions = .init(), toFile path: String) throws {
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        builder.add(profile)
        try write(builder.tree, options: options, toFile: path)
    }
}

/// A failure writing an output file.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Whole-or-nothing output files: written to a temporary file beside the target, renamed
/// over it only when complete.
public enum AtomicOutput {
    public static func write(
        path: String, _ produce: (@escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        if path == "-" {
            try produce { try writeAll(1, $0, name: "standard output") }
            return
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw OutputError(description: "cannot write \(path): not a file name") }
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(base).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw OutputError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        var closed = false
        do {
            try produce { try writeAll(fd, $0, name: path) }
            closed = true
            if close(fd) != 0 {
                throw OutputError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            if rename(temporary, path) != 0 {
                throw OutputError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputError(description: "cannot write \(name): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}
