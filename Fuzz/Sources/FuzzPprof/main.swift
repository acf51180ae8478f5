import FuzzSupport
import EmberProfile
import EmberRendering

/// pprof bytes (gzip-compressed or not): what reads must either fail with an error or give
/// a profile every writer takes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzInput(data, size)
    guard let profile = try? PprofReader.read(bytes, name: "fuzz") else { return 0 }
    _ = FoldedWriter.text(of: profile)
    _ = FoldedWriter.text(of: profile, lines: true)
    _ = SpeedscopeWriter.encode(profile)
    let written = PprofWriter.encode(profile)
    _ = try? PprofReader.read(written.bytes, name: "rewritten")
    var builder = FrameTreeBuilder()
    builder.add(profile)
    _ = FlameGraph.svgBytes(of: builder.tree)
    return 0
}

runFuzzer(fuzzOne)
