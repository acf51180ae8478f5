import CLibElf
import EmberELF
import EmberSystem
import EmberTestSupport
import Foundation
import XCTest

/// What handing back a file's pages does: they leave ember's resident memory and stay in
/// the page cache, so that the next read, or the next run, does not go to the disk.
final class ELFFilePagesTests: XCTestCase {
    func testReleasedPagesLeaveTheProcessButStayInThePageCache() throws {
        // A copy only this test maps, written out, so its pages are clean page cache.
        let path = NSTemporaryDirectory() + "ember-pages-\(getpid())"
        defer { unlink(path) }
        try FileManager.default.copyItem(atPath: try sampleBinary("split-debug-frame.debug"), toPath: path)
        let descriptor = open(path, O_RDONLY)
        XCTAssertEqual(fsync(descriptor), 0)
        close(descriptor)

        let file = try ELFFile(path: path)
        var size = 0
        let start = try XCTUnwrap(elf_rawfile(file.elf, &size))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var sum = 0
        for offset in stride(from: 0, to: size, by: pageSize) {
            sum &+= Int(UnsafeRawPointer(start).load(fromByteOffset: offset, as: UInt8.self))
        }
        let first = UInt(bitPattern: start) & ~UInt(pageSize - 1)
        let pages = (size + pageSize - 1) / pageSize
        let before = try XCTUnwrap(residentKilobytes(mappingAt: first), "no mapping of the file at its raw image")
        XCTAssertGreaterThanOrEqual(before, pages * pageSize / 1024, "every page was read")

        file.releaseResidentPages()
        XCTAssertEqual(try XCTUnwrap(residentKilobytes(mappingAt: first)), 0, "the pages still count in the process")
        XCTAssertEqual(pagesInPageCache(path), pages, "the pages left the page cache")

        var again = 0
        for offset in stride(from: 0, to: size, by: pageSize) {
            again &+= Int(UnsafeRawPointer(start).load(fromByteOffset: offset, as: UInt8.self))
        }
        XCTAssertEqual(again, sum, "the contents read back are the file's")
    }

    /// The Rss of the mapping that starts at `address`, from /proc/self/smaps.
    private func residentKilobytes(mappingAt address: UInt) throws -> Int? {
        let smaps = try FileContents.text("/proc/self/smaps")
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            if let range = line.split(separator: " ").first, range.contains("-"), !range.hasSuffix(":") {
                inMapping = UInt(range.split(separator: "-")[0], radix: 16) == address
            } else if inMapping, line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ")[1])
            }
        }
        return nil
    }

    /// How many of the file's pages the page cache holds (mincore of a mapping of its own).
    private func pagesInPageCache(_ path: String) -> Int {
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        var info = stat()
        fstat(descriptor, &info)
        let length = Int(info.st_size)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else { return -1 }
        defer { munmap(mapping, length) }
        var vector = [UInt8](repeating: 0, count: (length + pageSize - 1) / pageSize)
        guard mincore(mapping, length, &vector) == 0 else { return -1 }
        return vector.filter { $0 & 1 != 0 }.count
    }
}
