import EmberSymbolization
import EmberTestSupport
import Foundation
import XCTest

final class DemanglerTests: XCTestCase {
    func testCxxNamesWithTemplatesAndNamespaces() {
        XCTAssertEqual(Demangler.demangle("_ZN8geometry11AccumulatorIdE3runEdl"),
                       "geometry::Accumulator<double>::run(double, long)")
        XCTAssertEqual(Demangler.demangle("_ZN3app4workEl"), "app::work(long)")
        XCTAssertEqual(Demangler.demangle("_Z3fooi.cold"), "foo(int) [clone .cold]")
        XCTAssertEqual(Demangler.demangle("main"), "main")
        XCTAssertEqual(Demangler.demangle("_Znotvalid"), "_Znotvalid")
    }

    func testSwiftNames() {
        XCTAssertEqual(Demangler.demangle("$s4spin6EngineV5churn6roundss6UInt64VSi_tF"),
                       "spin.Engine.churn(rounds: Swift.Int) -> Swift.UInt64")
        XCTAssertEqual(Demangler.demangle("$s4spin7hotPathys6UInt64VSiF"),
                       "spin.hotPath(Swift.Int) -> Swift.UInt64")
    }

    func testRustLegacyNames() {
        XCTAssertEqual(Demangler.demangle("_ZN4spin6engine14Mixer$LT$T$GT$5churn17hb27aec83b2728340E"),
                       "spin::engine::Mixer<T>::churn")
        XCTAssertEqual(Demangler.demangle("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE"),
                       "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>")
        XCTAssertEqual(Demangler.demangle("_ZN4spin8hot_path17h86ab8dcf54973d01E.llvm.123"), "spin::hot_path")
        // Without the hash it is an ordinary C++ name.
        XCTAssertEqual(Demangler.demangle("_ZN3app4workEl"), "app::work(long)")
    }

    func testRustV0Names() {
        XCTAssertEqual(Demangler.demangle("_RNvCsdGrLuF8gYsx_4spin8hot_path"), "spin::hot_path")
        XCTAssertEqual(Demangler.demangle("_RNvMNtCsdGrLuF8gYsx_4spin6engineINtB2_5MixermE5churn"),
                       "<spin::engine::Mixer<u32>>::churn")
        XCTAssertEqual(Demangler.demangle("_RNvXs_NtCs1_5crate3fooNtB4_3BarNtNtCs2_4core3fmt5Debug3fmt"),
                       "<crate::foo::Bar as core::fmt::Debug>::fmt")
        XCTAssertEqual(Demangler.demangle("_RNCNvCs1_4main3run0B3_"), "main::run::{closure#0}")
        // Broken input stays as it is rather than half-decoded.
        XCTAssertEqual(Demangler.demangle("_RNvC"), "_RNvC")
        XCTAssertEqual(Demangler.demangle("_RB_"), "_RB_")
    }

    /// Every v0 symbol of a real rustc build (our sample and the parts of std it links),
    /// against binutils' c++filt with its crate disambiguators (`[hash]`) removed: the
    /// alternate form rustc-demangle prints, and what profilers show.
    func testRustV0AgainstBinutilsOnRustcOutput() throws {
        let rustc = "/root/.cargo/bin/rustc"
        guard FileManager.default.isExecutableFile(atPath: rustc) else {
            throw XCTSkip("rustc is not at \(rustc): cannot build a Rust sample")
        }
        let binary = try symbolizeSample("manglings-v0", target: "rust")
        let nm = try runProgram("/usr/bin/nm", [binary])
        XCTAssertEqual(nm.status, 0, nm.stderr)
        let symbols = Array(Set(nm.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let name = line.split(separator: " ").last, name.hasPrefix("_R") else { return nil }
            return String(name)
        })).sorted()
        XCTAssertGreaterThan(symbols.count, 100)
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("v0-\(getpid()).txt")
        try symbols.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: input) }
        let filt = try runProgram("/bin/sh", ["-c", "c++filt --format=rust < '\(input.path)'"])
        XCTAssertEqual(filt.status, 0, filt.stderr)
        let references = filt.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var mismatches: [String] = []
        for (symbol, reference) in zip(symbols, references) {
            let expected = normalizeBinutils(reference)
            let ours = Demangler.demangle(symbol)
            if ours != expected { mismatches.append("\(symbol)\n  ours:     \(ours)\n  binutils: \(expected)") }
        }
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) of \(symbols.count) differ:\n"
            + mismatches.prefix(10).joined(separator: "\n"))
    }

    /// Damaged names (every prefix, and random byte changes of real symbols) must come back
    /// as they are or decoded, never crash or hang the decoder.
    func testDamagedNamesNeitherCrashNorHang() {
        let seeds = [
            "_RNvMNtCsdGrLuF8gYsx_4spin6engineINtB2_5MixermE5churn",
            "_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeINtNtCslNYArtu3iFV_5alloc5boxed3BoxDG0_INtNtNtB4_3ops8function2FnTRL1_INtNtCsjrHSEGnQ3l9_3std5panic13PanicHookInfoL0_EEEp6OutputuNtNtB4_6marker4SyncNtB2N_4SendEL_EEB1T_",
            "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE",
            "_RNCNvCs1_4main3run0B3_",
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$.")
        for seed in seeds {
            for end in 0...seed.count { _ = Demangler.demangle(String(seed.prefix(end))) }
            for _ in 0..<3000 {
                var characters = Array(seed)
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    characters[Int.random(in: 2..<characters.count, using: &generator)] =
                        alphabet.randomElement(using: &generator)!
                }
                _ = Demangler.demangle(String(characters))
            }
        }
        // Back-references that double at each step: bounded, not exponential.
        var bomb = "_RNvC1a1b"
        for _ in 0..<40 { bomb = "_RIC1aB" + "_" + String(bomb.dropFirst(2)) + "E" }
        _ = Demangler.demangle(bomb)
    }

    /// binutils prints crate disambiguators (`core[1a2b]`) and typed constants (`4: usize`)
    /// where rustc-demangle's alternate form does not.
    private func normalizeBinutils(_ text: String) -> String {
        var out = text.replacingOccurrences(of: #"\[[0-9a-f]+\]"#, with: "", options: .regularExpression)
        out = out.replacingOccurrences(of: #"(\d+|true|false|'.'): [a-z0-9]+"#, with: "$1", options: .regularExpression)
        return out
    }
}
