import EmberSymbolization
import XCTest

final class MemoryMapTests: XCTestCase {
    let text = """
        55d0c8a00000-55d0c8a01000 r--p 00000000 fe:01 1234567                    /usr/bin/app
        55d0c8a01000-55d0c8a03000 r-xp 00001000 fe:01 1234567                    /usr/bin/app
        7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 
        7f1e2d028000-7f1e2d1bd000 r-xp 00028000 fe:01 555                        /usr/lib/x86_64-linux-gnu/libc.so.6
        7f1e2d300000-7f1e2d301000 r-xp 00000000 fe:01 777                        /tmp/old build/tool (deleted)
        7ffd5a1b2000-7ffd5a1b4000 r-xp 00000000 00:00 0                          [vdso]
        garbage line
        """

    func testParsesEveryField() throws {
        let map = MemoryMap(parsing: text)
        XCTAssertEqual(map.mappings.count, 6)
        let code = try XCTUnwrap(map.mapping(containing: 0x55d0c8a01234))
        XCTAssertEqual(code.start, 0x55d0c8a01000)
        XCTAssertEqual(code.end, 0x55d0c8a03000)
        XCTAssertEqual(code.fileOffset, 0x1000)
        XCTAssertEqual(code.permissions, "r-xp")
        XCTAssertEqual(code.device, "fe:01")
        XCTAssertEqual(code.inode, 1234567)
        XCTAssertEqual(code.path, "/usr/bin/app")
        XCTAssertTrue(code.isExecutable)
        XCTAssertTrue(code.isFileBacked)
        XCTAssertEqual(code.moduleName, "app")
    }

    func testAnonymousAndPseudoMappingsAreNotFiles() throws {
        let map = MemoryMap(parsing: text)
        let anonymous = try XCTUnwrap(map.mapping(containing: 0x7f1e2c000010))
        XCTAssertFalse(anonymous.isFileBacked)
        XCTAssertEqual(anonymous.path, "")
        let vdso = try XCTUnwrap(map.mapping(containing: 0x7ffd5a1b2100))
        XCTAssertEqual(vdso.path, "[vdso]")
        XCTAssertFalse(vdso.isFileBacked)
    }

    func testDeletedFilesKeepTheirPathWithSpaces() throws {
        let deleted = try XCTUnwrap(MemoryMap(parsing: text).mapping(containing: 0x7f1e2d300000))
        XCTAssertTrue(deleted.isDeleted)
        XCTAssertEqual(deleted.filePath, "/tmp/old build/tool")
        XCTAssertEqual(deleted.moduleName, "tool")
    }

    func testAddressesOutsideEveryMappingFindNothing() {
        let map = MemoryMap(parsing: text)
        XCTAssertNil(map.mapping(containing: 0x1000))
        XCTAssertNil(map.mapping(containing: 0x55d0c8a03000))  // end is exclusive
        XCTAssertNil(map.mapping(containing: UInt64.max))
    }

    func testUpdateKeepsOldMappingsThatWereNotReplaced() {
        var map = MemoryMap(parsing: text)
        let newer = MemoryMap(parsing: """
            55d0c8a01000-55d0c8a03000 r-xp 00001000 fe:01 1234567                    /usr/bin/app
            7f1e40000000-7f1e40001000 r-xp 00000000 fe:01 999                        /usr/lib/plugin.so
            """)
        map.update(with: newer)
        XCTAssertEqual(map.mapping(containing: 0x7f1e40000000)?.moduleName, "plugin.so")
        XCTAssertEqual(map.mapping(containing: 0x7f1e2d028000)?.moduleName, "libc.so.6")
    }
}
