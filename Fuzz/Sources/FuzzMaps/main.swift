import FuzzSupport
import EmberSymbolization

/// /proc/PID/maps text, and lookups in what it gave.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzInput(data, size)
    var map = MemoryMap(bytes: bytes)
    for mapping in map.mappings {
        _ = map.mapping(containing: mapping.start)
        _ = map.mapping(containing: mapping.end &- 1)
        _ = mapping.moduleName
    }
    map.update(with: MemoryMap(bytes: Array(bytes.reversed())))
    _ = map.mapping(containing: 0x7fff_0000_0000)
    return 0
}

runFuzzer(fuzzOne)
