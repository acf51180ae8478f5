import FuzzSupport
import EmberProfile

/// `perf script` text, with each of stackcollapse-perf.pl's options, into a profile and out
/// as folded text.
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
    _ = InputFormat.detect(bytes)
    return 0
}

runFuzzer(fuzzOne)
