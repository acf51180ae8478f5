import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// Every entry of a BPF hash map, read in batches: one `BPF_MAP_LOOKUP_BATCH` call per
/// batch, where reading them one by one takes two calls per entry (next key, lookup), and a
/// recording's counts map holds tens of thousands of them. Where the kernel has no batch
/// lookup for the map (before 5.6), entries are read one by one.
///
/// `Key` and `Value` are the map's C key and value types (plain structs or integers).
func forEachHashMapEntry<Key, Value>(
    _ fd: Int32, keys: Key.Type, values: Value.Type, batchSize: Int = 1024, _ body: (Key, Value) -> Void
) {
    // The kernel packs a batch's keys (and values) at their C size; a type whose Swift
    // stride is larger (trailing padding) is read one by one.
    guard MemoryLayout<Key>.size == MemoryLayout<Key>.stride, MemoryLayout<Value>.size == MemoryLayout<Value>.stride else {
        forEachHashMapEntryOneByOne(fd, keys: keys, values: values, body)
        return
    }
    var size = batchSize
    var keyBuffer = UnsafeMutablePointer<Key>.allocate(capacity: size)
    var valueBuffer = UnsafeMutablePointer<Value>.allocate(capacity: size)
    defer {
        keyBuffer.deallocate()
        valueBuffer.deallocate()
    }
    // The kernel's position in the map (a bucket, for a hash map), handed back and forth.
    var position = [UInt8](repeating: 0, count: max(MemoryLayout<Key>.size, 8))
    var next = position
    var first = true
    while true {
        var count = UInt32(size)
        let result = position.withUnsafeMutableBytes { positionBytes in
            next.withUnsafeMutableBytes { nextBytes in
                bpf_map_lookup_batch(fd, first ? nil : positionBytes.baseAddress, nextBytes.baseAddress,
                                     keyBuffer, valueBuffer, &count, nil)
            }
        }
        let error = result < 0 ? errno : 0
        if error == ENOSPC {
            // One bucket holds more entries than a batch: the same call with room for them.
            size *= 4
            keyBuffer.deallocate()
            valueBuffer.deallocate()
            keyBuffer = .allocate(capacity: size)
            valueBuffer = .allocate(capacity: size)
            continue
        }
        if error != 0 && error != ENOENT && first {
            forEachHashMapEntryOneByOne(fd, keys: keys, values: values, body)
            return
        }
        for index in 0..<Int(min(count, UInt32(size))) { body(keyBuffer[index], valueBuffer[index]) }
        // ENOENT: the map's end. Another error ends the read too, as it ends the one-by-one loop.
        if error != 0 { return }
        position = next
        first = false
    }
}

private func forEachHashMapEntryOneByOne<Key, Value>(
    _ fd: Int32, keys: Key.Type, values: Value.Type, _ body: (Key, Value) -> Void
) {
    let key = UnsafeMutablePointer<Key>.allocate(capacity: 1)
    let previous = UnsafeMutablePointer<Key>.allocate(capacity: 1)
    let value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
    defer {
        key.deallocate()
        previous.deallocate()
        value.deallocate()
    }
    var first = true
    while bpf_map_get_next_key(fd, first ? nil : UnsafeRawPointer(previous), key) == 0 {
        if bpf_map_lookup_elem(fd, key, value) == 0 { body(key.pointee, value.pointee) }
        previous.update(from: key, count: 1)
        first = false
    }
}
