import EmberTestSupport
import EmberSymbolization
import Foundation
import XCTest

final class ELFSymbolTableTests: XCTestCase {
    /// The sample's function addresses as binutils' nm reports them.
    private func nmAddresses(_ binary: String) throws -> [String: UInt64] {
        let result = try runProgram("/usr/bin/nm", ["--defined-only", binary])
        XCTAssertEqual(result.status, 0, result.stderr)
        var addresses: [String: UInt64] = [:]
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, let address = UInt64(fields[0], radix: 16) {
                addresses[String(fields[2])] = address
            }
        }
        return addresses
    }

    func testFindsTheFunctionsOfASampleBinary() throws {
        let binary = try sampleBinary("split")
        let table = try ELFSymbolTable(path: binary)
        let nm = try nmAddresses(binary)
        for name in ["main", "spin", "path_a", "path_b", "path_c"] {
            let address = try XCTUnwrap(nm[name], "nm lists no \(name)")
            XCTAssertEqual(table.lookup(address)?.name, name)
            XCTAssertEqual(table.lookup(address + 1)?.name, name)
            XCTAssertEqual(table.lookup(address + 1)?.offset, 1)
        }
        XCTAssertNil(table.lookup(0x10))
    }

    func testLoadSegmentsMapFileOffsetsToAddresses() throws {
        // In a position-independent executable, the code segment's file offset and its
        // virtual address agree; the mapping is still derived from PT_LOAD.
        let table = try ELFSymbolTable(path: try sampleBinary("split"))
        let nm = try nmAddresses(try sampleBinary("split"))
        let main = try XCTUnwrap(nm["main"])
        XCTAssertEqual(table.virtualAddress(forFileOffset: main), main)
    }

    func testSharedLibrarySymbolsComeFromDynsym() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        guard FileManager.default.fileExists(atPath: libc) else { throw XCTSkip("no \(libc)") }
        let table = try ELFSymbolTable(path: libc)
        XCTAssertGreaterThan(table.count, 1000)
        // nm -D names every alias at an address; the table keeps one of them.
        let nm = try runProgram("/usr/bin/nm", ["-D", "--defined-only", libc])
        var namesByAddress: [UInt64: Set<String>] = [:]
        for line in nm.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, "TtWi".contains(fields[1]), let address = UInt64(fields[0], radix: 16) {
                namesByAddress[address, default: []].insert(String(fields[2].split(separator: "@")[0]))
            }
        }
        for name in ["getpid", "malloc", "read"] {
            let address = try XCTUnwrap(namesByAddress.first { $0.value.contains(name) }?.key)
            let found = try XCTUnwrap(table.lookup(address + 2)?.name)
            XCTAssertTrue(namesByAddress[address]!.contains(found), "\(found) is not an alias of \(name)")
        }
    }

    func testNonELFFilesAreAClearError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-elf-\(getpid())").path
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try ELFSymbolTable(path: path)) { error in
            XCTAssertTrue("\(error)".contains("not an ELF file"), "\(error)")
        }
        XCTAssertThrowsError(try ELFSymbolTable(path: "/nonexistent/file"))
    }

    func testSymbolizerResolvesALiveProcess() throws {
        // Our own process: the address of a libc function symbolizes through the maps.
        let symbolizer = Symbolizer()
        XCTAssertTrue(symbolizer.refresh(process: getpid()))
        let handle = try XCTUnwrap(dlopen(nil, RTLD_NOW))
        let address = UInt64(UInt(bitPattern: try XCTUnwrap(dlsym(handle, "getpid"))))
        let frames = symbolizer.userFrames(pid: getpid(), stack: [address])
        XCTAssertTrue(["getpid", "__getpid"].contains(frames.first?.name ?? ""), "\(frames)")
        // A caller is looked up one byte before its return address: the first byte of the
        // next function must name the previous one.
        let returnFrames = symbolizer.userFrames(pid: getpid(), stack: [address, address])
        XCTAssertNotEqual(returnFrames[1].name, frames[0].name)
        let unresolvedBefore = symbolizer.statistics.unresolvedUserAddresses
        XCTAssertEqual(symbolizer.userFrames(pid: getpid(), stack: [0x10]).first?.name, "[unknown]")
        XCTAssertEqual(symbolizer.statistics.unresolvedUserAddresses, unresolvedBefore + 1)
    }

    /// PLT entries are named `target@plt`, at the addresses binutils' objdump labels them,
    /// across the layouts: lazy `.plt` (libwork's caller, libc), IBT's `.plt.sec` and
    /// `.plt.got` (plt-ibt), and a libpython's thousands (pyenv's, if installed). Before,
    /// they were named after the symbol before the PLT (`_init`).
    func testPLTEntriesAreNamedAsObjdumpNamesThem() throws {
        var files = [try sampleBinary("plt-nofp"), try sampleBinary("plt-ibt"), "/lib/x86_64-linux-gnu/libc.so.6"]
        if let python = Pythons.pyenv("3.12") {
            let library = URL(fileURLWithPath: python).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("lib/libpython3.12.so.1.0").path
            if FileManager.default.fileExists(atPath: library) { files.append(library) }
        }
        var sectionsSeen = Set<String>()
        for file in files {
            let objdump = try runProgram("/usr/bin/objdump", ["-d", "-j", ".plt", "-j", ".plt.sec", "-j", ".plt.got", file])
            XCTAssertEqual(objdump.status, 0, objdump.stderr)
            let table = try ELFSymbolTable(path: file)
            var checked = 0
            var section = ""
            for line in objdump.stdout.split(separator: "\n") {
                if line.hasPrefix("Disassembly of section ") { section = String(line.dropFirst(23).dropLast()) }
                // "0000000000001090 <puts@plt>:"; objdump names IRELATIVE slots "*ABS*+0x…@plt".
                guard line.hasSuffix("@plt>:"), !line.contains("*ABS*"),
                      let space = line.firstIndex(of: " "), let address = UInt64(line[..<space], radix: 16)
                else { continue }
                let name = String(line[line.index(space, offsetBy: 2)...].dropLast(2))
                XCTAssertEqual(table.lookup(address)?.name, name, "\(file) \(section) at \(String(address, radix: 16))")
                XCTAssertEqual(table.lookup(address + 7)?.name, name, "\(file): inside the entry")
                XCTAssertEqual(table.lookup(address + 7)?.offset, 7)
                sectionsSeen.insert(section)
                checked += 1
            }
            XCTAssertGreaterThan(checked, 0, "\(file): objdump labels no PLT entry")
        }
        XCTAssertEqual(sectionsSeen, [".plt", ".plt.sec", ".plt.got"])
    }
}
