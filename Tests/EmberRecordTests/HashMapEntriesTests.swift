import CLibBPF
@testable import EmberSampling
import Glibc
import XCTest

/// Reading a real BPF hash map whole, in batches: every entry once, whatever the batch size.
final class HashMapEntriesTests: XCTestCase {
    private typealias Key = (UInt64, UInt64)

    private func hashMap(entries: Int) throws -> Int32 {
        guard geteuid() == 0 else { throw XCTSkip("needs root: creates a BPF map") }
        let fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ember_test", 16, 8, UInt32(max(entries, 1)), nil)
        XCTAssertGreaterThanOrEqual(fd, 0, String(cString: strerror(errno)))
        for index in 0..<entries {
            var key: Key = (UInt64(index) &* 0x9E37_79B9_7F4A_7C15, UInt64(index))
            var value = UInt64(index * 3)
            XCTAssertEqual(bpf_map_update_elem(fd, &key, &value, 0), 0)
        }
        return fd
    }

    private func read(_ fd: Int32, batchSize: Int) -> [UInt64: UInt64] {
        var seen: [UInt64: UInt64] = [:]
        forEachHashMapEntry(fd, keys: Key.self, values: UInt64.self, batchSize: batchSize) { key, value in
            XCTAssertNil(seen[key.1], "entry \(key.1) read twice")
            XCTAssertEqual(key.0, key.1 &* 0x9E37_79B9_7F4A_7C15)
            seen[key.1] = value
        }
        return seen
    }

    func testEveryEntryIsReadOnceInBatchesOfAnySize() throws {
        let fd = try hashMap(entries: 3000)
        defer { close(fd) }
        let expected = Dictionary(uniqueKeysWithValues: (0..<3000).map { (UInt64($0), UInt64($0 * 3)) })
        // 1: most buckets of a full map hold more than one entry, so batches must grow.
        for batchSize in [1024, 64, 1] {
            XCTAssertEqual(read(fd, batchSize: batchSize), expected, "batches of \(batchSize)")
        }
    }

    func testAnEmptyMapHasNoEntries() throws {
        let fd = try hashMap(entries: 0)
        defer { close(fd) }
        XCTAssertEqual(read(fd, batchSize: 16), [:])
    }
}
