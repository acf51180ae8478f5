import FuzzSupport
import EmberProfile
import EmberRendering

/// `perf script` text, with each of stackcollapse-perf.pl's options, into a profile and out
/// through every writer that takes its times and periods, and the report.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzInput(data, size)
    var options = PerfScriptReader.Options()
    if let first = bytes.first {
        options.pid = first & 1 != 0
        options.tid = first & 2 != 0
        options.addresses = first & 4 != 0
    }
    let (profile, _) = PerfScriptReader.read(bytes: bytes, options: options)
    _ = FoldedWriter.text(of: profile)
    _ = SpeedscopeWriter.encode(profile)
    _ = PprofWriter.encode(profile, timestamps: true)
    _ = TimeView.htmlBytes(of: profile)
    let summary = ProfileSummary(profile: profile)
    let text = SummaryText()
    _ = text.header("fuzz", summary)
    _ = text.table("functions", summary.functions, total: summary.total, unit: summary.valueType, limit: 5)
    _ = InputFormat.detect(bytes)
    return 0
}

runFuzzer(fuzzOne)
