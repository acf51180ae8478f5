import EmberProfile
import EmberSystem

/// Renders call trees as self-contained, interactive SVG flame graphs.
///
/// The pipeline: a `FrameTree` (built from folded bytes or a `Profile`) → `FlameLayout` (rows,
/// widths, pruning) → `FlameGraphWriter` (streamed SVG bytes).
public enum FlameGraph {
    /// The SVG document of `profile`'s default sample type.
    public static func svg(of profile: Profile, options: FlameGraphOptions = .init()) -> String {
        String(decoding: svgBytes(of: profile, options: options), as: UTF8.self)
    }

    /// The SVG document of `profile`'s default sample type as UTF-8 bytes.
    public static func svgBytes(of profile: Profile, options: FlameGraphOptions = .init()) -> [UInt8] {
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        builder.add(profile)
        return svgBytes(of: builder.tree, options: options)
    }

    /// The SVG document of a tree.
    public static func svgBytes(of tree: FrameTree, options: FlameGraphOptions = .init()) -> [UInt8] {
        var output = SVGOutput()
        // An in-memory output has no sink, so writing cannot fail.
        try? FlameGraphWriter(tree: tree, options: options).write(to: &output)
        return output.bytes
    }

    /// Streams the SVG document of `tree` to `sink` in pieces of about a megabyte.
    public static func write(
        _ tree: FrameTree, options: FlameGraphOptions = .init(), to sink: @escaping ByteSink
    ) throws {
        var output = SVGOutput(sink: sink)
        try FlameGraphWriter(tree: tree, options: options).write(to: &output)
    }

    /// Writes the SVG document of `tree` to `path` (`-` for standard output), whole or not
    /// at all (see `AtomicFile`).
    public static func write(_ tree: FrameTree, options: FlameGraphOptions = .init(), toFile path: String) throws {
        try AtomicFile.write(path: path) { sink in try write(tree, options: options, to: sink) }
    }
}
