import CLibElf
import EmberELF
@testable import EmberSymbolization
import EmberTestSupport
import XCTest

/// A compressed `.debug_info` is inflated only as far as the units named need, found through
/// `.debug_aranges`: the frames named must be those of the whole section read at once.
final class DWARFUnitsAsNeededTests: XCTestCase {
    /// Function symbols (start, size) of an ELF file's .symtab, by name.
    private func functions(of path: String) throws -> [String: (UInt64, UInt64)] {
        let file = try ELFFile(path: path)
        let (section, header) = try XCTUnwrap(file.section(named: ".symtab"), "no .symtab in \(path)")
        let data = try XCTUnwrap(elf_getdata(section, nil))
        var result: [String: (UInt64, UInt64)] = [:]
        for index in 0..<Int(header.sh_size / 24) {
            var symbol = GElf_Sym()
            guard gelf_getsym(data, Int32(index), &symbol) != nil, symbol.st_info & 0xf == STT_FUNC,
                  symbol.st_size > 0, symbol.st_value > 0,
                  let name = elf_strptr(file.elf, Int(header.sh_link), Int(symbol.st_name))
            else { continue }
            result[String(cString: name)] = (symbol.st_value, symbol.st_size)
        }
        return result
    }

    private func libcDebugFile() throws -> String {
        let libc = try ELFFile(path: "/lib/x86_64-linux-gnu/libc.so.6")
        guard let debug = DebugFileLocator().debugFile(for: libc, targetPath: libc.path) else {
            throw XCTSkip("no debug file for libc (libc6-dbg is not installed)")
        }
        return debug.path
    }

    func testLibcsStartUpFrameInflatesLittleOfItsUnits() throws {
        let path = try libcDebugFile()
        let (start, size) = try XCTUnwrap(try functions(of: path)["__libc_start_call_main"])
        let dwarf = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: path), readsLines: false))
        XCTAssertEqual(dwarf.frames(at: start + size / 2, withLines: false).last?.name, "__libc_start_call_main")
        let (inflated, total) = try XCTUnwrap(dwarf.inflatedUnits)
        XCTAssertLessThan(inflated, total / 20, "\(inflated) of \(total) bytes inflated")
    }

    func testLibcsFramesAreThoseOfAllUnitsReadAtOnce() throws {
        let path = try libcDebugFile()
        let asNeeded = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: path)))
        let atOnce = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: path), firstPiece: .max))
        XCTAssertEqual(atOnce.inflatedUnits?.inflated, atOnce.inflatedUnits?.size)
        // Every 16th function, in address order (the units asked for out of order as well).
        let sampled = try functions(of: path).values.sorted { $0.0 < $1.0 }.enumerated()
            .filter { $0.offset % 16 == 0 }.map(\.element)
        XCTAssertGreaterThan(sampled.count, 200)
        var named = 0
        for (start, size) in sampled.reversed() + sampled {
            for address in [start, start + size / 2] {
                let frames = asNeeded.frames(at: address, withLines: true)
                XCTAssertEqual(frames, atOnce.frames(at: address, withLines: true), String(address, radix: 16))
                if frames.count > 0 { named += 1 }
            }
        }
        XCTAssertGreaterThan(named, sampled.count * 2)
        XCTAssertEqual(asNeeded.inflatedUnits?.inflated, asNeeded.inflatedUnits?.size)
    }

    func testASmallFileTakesTheSamePath() throws {
        // An eighth of its units at first, then as the addresses named need.
        let dwarf = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: try symbolizeSample("inline-gz"))))
        let (inflated, total) = try XCTUnwrap(dwarf.inflatedUnits)
        XCTAssertEqual(inflated, total / 8)
    }

    func testAUnitThatArangesLeaveOutIsFound() throws {
        let path = try symbolizeSample("mixed", target: "mixed")
        let functions = try functions(of: path)
        let (main, _) = try XCTUnwrap(functions["main"])
        let (work, workSize) = try XCTUnwrap(functions["clang_work"])
        // A first piece of 16 bytes: the units are read as needed even in a file this small.
        let asNeeded = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: path), firstPiece: 16))
        XCTAssertEqual(try XCTUnwrap(asNeeded.inflatedUnits).inflated, 16)
        let atOnce = try XCTUnwrap(DWARFInfo(file: try ELFFile(path: path), firstPiece: .max))
        XCTAssertEqual(asNeeded.frames(at: main, withLines: true), atOnce.frames(at: main, withLines: true))
        var inlined = 0
        for address in work..<work + workSize {
            let frames = asNeeded.frames(at: address, withLines: true)
            XCTAssertEqual(frames, atOnce.frames(at: address, withLines: true), String(address, radix: 16))
            XCTAssertEqual(frames.last?.name, "clang_work", String(address, radix: 16))
            if frames.first?.name == "step" { inlined += 1 }
        }
        XCTAssertGreaterThan(inlined, 0, "clang_work's inlined step is found in the unit .debug_aranges leaves out")
    }
}
