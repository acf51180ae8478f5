import EmberSymbolization
import XCTest

final class KernelSymbolsTests: XCTestCase {
    func testPaddingBelongsToItsFunctionDataIsSkippedAndTheContainingFunctionIsFound() {
        let symbols = KernelSymbols(parsing: """
            ffffffff81000000 T _stext
            ffffffff81001000 t __pfx_do_syscall_64
            ffffffff81001010 T do_syscall_64
            ffffffff81001200 T __cfi_vfs_read
            ffffffff81001210 T vfs_read
            ffffffff81002000 D some_data
            ffffffff81002ad0 T __pfx___pi_memcpy
            ffffffff81002ae0 T memcpy
            ffffffff81002ae0 T __pi_memcpy
            ffffffff81003580 T __pi___x86_indirect_thunk_rax
            ffffffff81003580 T __x86_indirect_thunk_array
            ffffffffc0a01000 t ext4_fill_super\t[ext4]
            """)
        XCTAssertTrue(symbols.addressesVisible)
        XCTAssertEqual(symbols.count, 9, "one symbol an address")
        XCTAssertEqual(symbols.name(of: 0xffffffff81000fff), "_stext")
        XCTAssertEqual(symbols.name(of: 0xffffffff81001004), "do_syscall_64", "its padding (call-depth accounting)")
        XCTAssertEqual(symbols.name(of: 0xffffffff81001010), "do_syscall_64")
        XCTAssertEqual(symbols.name(of: 0xffffffff81001205), "vfs_read", "its CFI preamble")
        XCTAssertEqual(symbols.name(of: 0xffffffff81001300), "vfs_read")
        XCTAssertEqual(symbols.name(of: 0xffffffff81002010), "vfs_read", "data symbols skipped")
        XCTAssertEqual(symbols.name(of: 0xffffffff81002ad8), "memcpy")
        XCTAssertEqual(symbols.name(of: 0xffffffff81002ae8), "memcpy", "the first alias, as the kernel names it")
        XCTAssertEqual(symbols.name(of: 0xffffffff81003581), "__x86_indirect_thunk_rax", "the boot code's alias")
        XCTAssertEqual(symbols.name(of: 0xffffffffc0a01040), "ext4_fill_super [ext4]")
        XCTAssertNil(symbols.name(of: 0xffff800000000000))
    }

    func testKernelSymbolsNameTheFunctionsTheyStandFor() {
        XCTAssertEqual(KernelSymbols.functionName("__pfx_write_null"), "write_null")
        XCTAssertEqual(KernelSymbols.functionName("__cfi_vfs_read"), "vfs_read")
        XCTAssertEqual(KernelSymbols.functionName("__pfx___pi_memcpy"), "memcpy")
        XCTAssertEqual(KernelSymbols.functionName("__pi___x86_indirect_thunk_rax"), "__x86_indirect_thunk_rax")
        XCTAssertEqual(KernelSymbols.functionName("__pfx_"), "__pfx_", "nothing would be left")
        XCTAssertEqual(KernelSymbols.functionName("vfs_read [ext4]"), "vfs_read [ext4]")
    }

    func testSymbolsOutOfOrderAreSorted() {
        // Modules' symbols follow the core kernel's, in load order, not address order.
        let symbols = KernelSymbols(parsing: """
            ffffffff81000000 T _stext
            ffffffffc0b00000 t nft_do_chain\t[nf_tables]
            ffffffffc0a01000 t ext4_fill_super\t[ext4]
            ffffffff81001010 T do_syscall_64
            """)
        XCTAssertEqual(symbols.count, 4)
        XCTAssertEqual(symbols.name(of: 0xffffffff81001011), "do_syscall_64")
        XCTAssertEqual(symbols.name(of: 0xffffffffc0a01040), "ext4_fill_super [ext4]")
        XCTAssertEqual(symbols.name(of: 0xffffffffc0b00001), "nft_do_chain [nf_tables]")
        XCTAssertEqual(symbols.name(of: 0xffffffff81000fff), "_stext")
    }

    func testHiddenAddressesAreDetected() {
        let symbols = KernelSymbols(parsing: """
            0000000000000000 T _stext
            0000000000000000 T do_syscall_64
            """)
        XCTAssertFalse(symbols.addressesVisible)
        XCTAssertNil(symbols.name(of: 0xffffffff81001010))
    }

    func testTheRunningKernelsSymbolsLoad() throws {
        let symbols = KernelSymbols.load()
        guard symbols.addressesVisible else {
            throw XCTSkip("kallsyms addresses are hidden (needs root or kptr_restrict=0)")
        }
        XCTAssertGreaterThan(symbols.count, 1000)
    }
}
