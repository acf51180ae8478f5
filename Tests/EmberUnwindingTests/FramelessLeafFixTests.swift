import CLibElf
import EmberELF
import EmberTestSupport
import EmberUnwinding
import Foundation
import XCTest

/// Where the frameless-leaf fix finds a frameless function's return address, read from a
/// real file's CFI: a sample at a PLT entry, whose CFA is a DWARF expression of rip.
final class FramelessLeafFixTests: XCTestCase {
    /// One file, mapped at its own addresses by every process.
    private final class OneFile: CodeFiles {
        let file: ELFFile
        init(_ file: ELFFile) { self.file = file }
        func codeFile(pid: pid_t, address: UInt64) -> CodeFile? {
            CodeFile(elf: file.elf, identity: ObjectIdentifier(file), address: address)
        }
    }

    /// In a lazy `.plt` entry the return address is at rsp until the entry pushes its
    /// relocation's index (offset 6, `push`; 11, `jmp` to the resolver), then at rsp + 8.
    /// In the resolver's entry (`.plt`'s first) the CFA is plain rsp + 16 then rsp + 24.
    func testPLTEntriesGiveTheirReturnAddressSlot() throws {
        let file = try ELFFile(path: try sampleBinary("plt-nofp"))
        let (_, plt) = try XCTUnwrap(file.section(named: ".plt"))
        let fix = FramelessLeafFix(files: OneFile(file))
        XCTAssertEqual(fix.returnAddressSlot(pid: 1, at: plt.sh_addr), 1, "the resolver's entry, after its caller's push")
        let entries = Int(plt.sh_size / 16)
        XCTAssertGreaterThan(entries, 2)
        for entry in 1..<entries {
            let start = plt.sh_addr + UInt64(entry * 16)
            XCTAssertEqual(fix.returnAddressSlot(pid: 1, at: start), 0, "entry \(entry): jmp *GOT")
            XCTAssertEqual(fix.returnAddressSlot(pid: 1, at: start + 6), 0, "entry \(entry): push")
            XCTAssertEqual(fix.returnAddressSlot(pid: 1, at: start + 11), 1, "entry \(entry): jmp to the resolver")
        }
    }
}
