import FuzzSupport
import EmberProfile
import EmberRendering

/// Folded text, both count forms, through every path that reads it: the profile reader and
/// its writers, the call tree and the SVG (plain, reversed, as a flame chart), and the
/// comparison of the input's two halves.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzInput(data, size)
    let (profile, _) = FoldedReader.read(bytes: bytes, source: "fuzz")
    _ = FoldedWriter.text(of: profile)
    _ = PprofWriter.encode(profile)
    _ = SpeedscopeWriter.encode(profile)
    for variant in 0..<3 {
        var options = FlameGraphOptions()
        options.reverse = variant == 1
        options.flameChart = variant == 2
        options.minWidth = .pixels(0)
        var builder = FrameTreeBuilder(transform: options.stackTransform)
        builder.addFolded(bytes, source: "fuzz")
        _ = FlameGraph.svgBytes(of: builder.tree, options: options)
    }
    let half = bytes.count / 2
    let diff = ProfileDiff(before: bytes[..<half], after: bytes[half...])
    _ = diff.foldedLines()
    _ = diff.table(limit: 5)
    _ = FlameGraph.svgBytes(of: diff.tree)
    return 0
}

runFuzzer(fuzzOne)
