import FuzzSupport
import EmberSymbolization

/// /proc/kallsyms text, and lookups in what it gave.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let symbols = KernelSymbols(parsing: fuzzInput(data, size))
    for address: UInt64 in [0, 0xffff_ffff_8100_0000, 0xffff_ffff_c000_0000, .max] { _ = symbols.name(of: address) }
    return 0
}

runFuzzer(fuzzOne)
