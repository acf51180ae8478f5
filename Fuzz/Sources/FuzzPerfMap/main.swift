import FuzzSupport
import EmberSymbolization

/// A JIT's perf map (`/tmp/perf-PID.map`), and lookups in it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    let map = PerfMap(parsing: text)
    for address: UInt64 in [0, 1, 0x1000, 0x7f00_0000_0000, .max] { _ = map.lookup(address) }
    return 0
}

runFuzzer(fuzzOne)
