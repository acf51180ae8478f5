import CLibElf
import EmberELF
import EmberSystem
import EmberTestSupport
import XCTest

/// Compressed debug sections inflated by ember (libdeflate, and zlib's stream for the part
/// of `.debug_info` inflated as it is needed) against the same sections inflated by libelf
/// itself, byte for byte.
final class DebugSectionsImageTests: XCTestCase {
    func testTheSampleBuiltWithCompressedSectionsInflatesAsLibelfDoes() throws {
        try assertInflatesAsLibelf(try symbolizeSample("inline-gz"), expectingAtLeast: 3)
    }

    func testLibcsDebugFileInflatesAsLibelfDoes() throws {
        // libc6-dbg's file, found by libc's build id: Debian compresses its sections.
        let libc = try ELFFile(path: "/lib/x86_64-linux-gnu/libc.so.6")
        guard let debug = DebugFileLocator().debugFile(for: libc, targetPath: libc.path) else {
            throw XCTSkip("no debug file for libc (libc6-dbg is not installed)")
        }
        try assertInflatesAsLibelf(debug.path, expectingAtLeast: 5)
    }

    func testLibcsUnitsInflatePieceByPieceAsLibelfInflatesThem() throws {
        let libc = try ELFFile(path: "/lib/x86_64-linux-gnu/libc.so.6")
        guard let debug = DebugFileLocator().debugFile(for: libc, targetPath: libc.path) else {
            throw XCTSkip("no debug file for libc (libc6-dbg is not installed)")
        }
        let original = try ELFFile(path: debug.path)
        let (section, _) = try XCTUnwrap(original.section(named: ".debug_info"))
        XCTAssertEqual(elf_compress(section, 0, 0), 1)
        let expected = try XCTUnwrap(original.sectionBytes(named: ".debug_info"))
        let image = try XCTUnwrap(DebugSectionsImage(of: try ELFFile(path: debug.path)))
        XCTAssertEqual(image.unitsSize, expected.count)
        XCTAssertEqual(image.unitsInflated, DebugSectionsImage.firstPiece, "the first piece only")
        // Streamed by zlib in pieces (within the first 30%), then the rest at once.
        for end in [DebugSectionsImage.firstPiece + 1, 100_000, 1_000_000, expected.count / 4, expected.count] {
            XCTAssertTrue(image.inflateUnits(through: end))
            XCTAssertEqual(image.unitsInflated, end)
            XCTAssertEqual(Array(image.inflatedUnits), Array(expected[..<end]), "through \(end)")
            XCTAssertEqual(image.file.sectionBytes(named: ".debug_info")?.count, end, "libdw sees what is inflated")
        }
        XCTAssertTrue(image.inflateUnits(through: .max))
    }

    func testAFileWithoutCompressedSectionsIsLeftAsItIs() throws {
        XCTAssertNil(DebugSectionsImage(of: try ELFFile(path: try symbolizeSample("inline"))))
    }

    func testACompressedSectionThatLiesAboutItsSizeIsLeftToLibdw() throws {
        // ch_size grown past what DEFLATE can give: the image is refused, not allocated.
        var bytes = try FileContents.read(try symbolizeSample("inline-gz"))
        let file = try ELFFile(path: try symbolizeSample("inline-gz"))
        let (_, header) = try XCTUnwrap(file.section(named: ".debug_info"))
        let sizeOffset = Int(header.sh_offset) + 8
        for index in 0..<8 { bytes[sizeOffset + index] = index == 7 ? 0x7f : 0xff }
        XCTAssertNil(DebugSectionsImage(of: try ELFFile(image: bytes, name: "lying")))
        // A stream cut short: the image is refused, or its units cannot all be inflated.
        var cut = try FileContents.read(try symbolizeSample("inline-gz"))
        for index in Int(header.sh_offset) + 40..<Int(header.sh_offset + header.sh_size) { cut[index] = 0 }
        for firstPiece in [DebugSectionsImage.firstPiece, 8] {
            if let image = DebugSectionsImage(of: try ELFFile(image: cut, name: "cut"), firstPiece: firstPiece) {
                XCTAssertFalse(image.inflateUnits(through: .max), "first piece \(firstPiece)")
                XCTAssertLessThan(image.unitsInflated, image.unitsSize)
                XCTAssertFalse(image.inflateUnits(through: .max), "and stays so")
            }
        }
    }

    func testTwoSectionsOfOneNameAreLeftToLibdw() throws {
        // .debug_abbrev renamed .debug_info in the section names.
        var bytes = try FileContents.read(try symbolizeSample("inline-gz"))
        let name = Array(".debug_abbrev\0".utf8)
        let at = try XCTUnwrap((0...bytes.count - name.count).first { Array(bytes[$0..<$0 + name.count]) == name })
        bytes.replaceSubrange(at..<at + name.count, with: Array(".debug_info\0\0\0".utf8))
        let file = try ELFFile(image: bytes, name: "twice")
        XCTAssertNotNil(file.section(named: ".debug_info"))
        XCTAssertNil(DebugSectionsImage(of: file))
    }

    private func assertInflatesAsLibelf(_ path: String, expectingAtLeast expected: Int,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let omitted: Set<String> = [".debug_loclists", ".debug_loc"]
        let original = try ELFFile(path: path)
        let image = try XCTUnwrap(DebugSectionsImage(of: try ELFFile(path: path), omitting: omitted),
                                  file: file, line: line)
        XCTAssertTrue(image.inflateUnits(through: .max), file: file, line: line)
        let inflated = image.file
        var compared = 0
        for name in compressedSections(of: original) {
            let (section, _) = try XCTUnwrap(original.section(named: name))
            let (_, header) = try XCTUnwrap(inflated.section(named: name), name, file: file, line: line)
            XCTAssertEqual(header.sh_flags & UInt64(SHF_COMPRESSED), 0, name, file: file, line: line)
            if omitted.contains(name) {
                XCTAssertEqual(header.sh_type, UInt32(SHT_NOBITS), name, file: file, line: line)
                continue
            }
            XCTAssertEqual(elf_compress(section, 0, 0), 1, "libelf inflates \(name)", file: file, line: line)
            let expected = try XCTUnwrap(original.sectionBytes(named: name), file: file, line: line)
            XCTAssertEqual(inflated.sectionBytes(named: name), expected, name, file: file, line: line)
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, expected, file: file, line: line)
    }

    private func compressedSections(of file: ELFFile) -> [String] {
        var names: [String] = []
        var stringIndex = 0
        guard elf_getshdrstrndx(file.elf, &stringIndex) == 0 else { return [] }
        var section: OpaquePointer? = nil
        while let current = elf_nextscn(file.elf, section) {
            section = current
            var header = GElf_Shdr()
            guard gelf_getshdr(current, &header) != nil, header.sh_flags & UInt64(SHF_COMPRESSED) != 0,
                  let name = elf_strptr(file.elf, stringIndex, Int(header.sh_name))
            else { continue }
            names.append(String(cString: name))
        }
        return names
    }
}
