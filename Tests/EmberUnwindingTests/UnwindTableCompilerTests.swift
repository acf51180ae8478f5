import EmberELF
import EmberTestSupport
@testable import EmberUnwinding
import Foundation
import XCTest

/// The compiled unwind tables checked row by row against binutils' own interpretation of
/// the same CFI (`readelf --debug-dump=frames-interp`), on real files.
final class UnwindTableCompilerTests: XCTestCase {
    let libc = "/lib/x86_64-linux-gnu/libc.so.6"

    func testLibcRowsAgreeWithReadelf() throws {
        let table = try compareWithReadelf(libc)
        // libc's PLT and its signal trampoline (__restore_rt, whose CIE says "S") are among them.
        XCTAssertTrue(table.rows.contains { $0.rule == .plt }, "a PLT row")
        let signalFrames = try readelfRows(libc, section: ".eh_frame").filter(\.signal)
        XCTAssertFalse(signalFrames.isEmpty)
        for fde in signalFrames { XCTAssertEqual(table.row(at: fde.start)?.rule, .signal) }
    }

    func testCxxRowsAgreeWithReadelf() throws {
        // C++ CIEs carry a personality routine and LSDA pointers ("zPLR"), read past to the
        // instructions.
        let libstdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
        guard FileManager.default.fileExists(atPath: libstdcxx) else { throw XCTSkip("no \(libstdcxx)") }
        let table = try compareWithReadelf(libstdcxx)
        XCTAssertGreaterThan(table.rows.filter { $0.rule == .cfaSP }.count, 10_000)
    }

    func testSampleBinaryRowsAgreeWithReadelf() throws {
        let table = try compareWithReadelf(try sampleBinary("split-nofp"))
        // The program's entry: glibc's _start marks its return address undefined.
        let start = try XCTUnwrap(symbolAddress("_start", in: try sampleBinary("split-nofp")))
        XCTAssertEqual(table.row(at: start + 4)?.rule, .outermost)
    }

    func testFramePointerCodeIsCompiledToFramePointerRows() throws {
        let path = try sampleBinary("split")
        let table = try compareWithReadelf(path)
        let spin = try XCTUnwrap(symbolAddress("spin", in: path))
        // Past `push rbp; mov rbp, rsp`: CFA = rbp + 16, rbp saved at CFA - 16.
        let body = try XCTUnwrap(table.rows.first { $0.pc > spin && $0.rule == .cfaBP })
        XCTAssertEqual(body.cfaOffset, 16)
        XCTAssertEqual(body.rbpOffset, -16)
    }

    func testDebugFrameInASeparateDebugFileIsUsed() throws {
        let path = try sampleBinary("split-debug-frame")
        let file = try ELFFile(path: path)
        // Alone, its .eh_frame covers only the C runtime's code (_start, the PLT).
        let main = try XCTUnwrap(symbolAddress("main", in: path + ".debug"))
        XCTAssertEqual(try UnwindTableCompiler.compile(file).row(at: main)?.rule, UnwindRow.Rule.none)
        let debug = try ELFFile(path: path + ".debug")
        let table = try UnwindTableCompiler.compile(file, debugFile: debug)
        XCTAssertEqual(table.source, .debugFrame)
        XCTAssertEqual(table.row(at: main)?.rule, .cfaSP)
        try compare(table, with: try readelfRows(path + ".debug", section: ".debug_frame"))
        try compare(table, with: try readelfRows(path, section: ".eh_frame"))
    }

    // MARK: - readelf

    struct ExpectedRow {
        var pc: UInt64
        var cfa: String
        var ra: String
        var rbp: String
    }

    struct ExpectedFDE {
        var start: UInt64
        var end: UInt64
        var rows: [ExpectedRow]
        /// Its CIE's augmentation has "S": a signal frame.
        var signal = false
    }

    @discardableResult
    func compareWithReadelf(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> UnwindTable {
        let table = try UnwindTableCompiler.compile(try ELFFile(path: path))
        XCTAssertEqual(table.source, .ehFrame)
        try compare(table, with: try readelfRows(path, section: ".eh_frame"), file: file, line: line)
        return table
    }

    func compare(_ table: UnwindTable, with fdes: [ExpectedFDE], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertGreaterThan(fdes.count, 0, file: file, line: line)
        var mismatches: [String] = []
        var checked = 0
        for fde in fdes where fde.end > fde.start {
            for (index, expected) in fde.rows.enumerated() {
                let pc = index == 0 ? fde.start : expected.pc
                guard pc < fde.end else { continue }
                checked += 1
                let got = table.row(at: pc)
                if !agrees(got, expected) {
                    mismatches.append(String(format: "%llx: readelf %@ ra=%@ rbp=%@, compiled %@", pc, expected.cfa,
                                             expected.ra, expected.rbp, String(describing: got)))
                }
            }
        }
        // Past an FDE's end, where no other FDE starts: no CFI.
        let ranges = fdes.map { ($0.start, $0.end) }.sorted { $0.0 < $1.0 }
        var gaps = 0
        for (index, range) in ranges.enumerated() where index + 1 < ranges.count && ranges[index + 1].0 > range.1 {
            gaps += 1
            if table.row(at: range.1)?.rule != UnwindRow.Rule.none {
                mismatches.append(String(format: "%llx: a gap, compiled %@", range.1, String(describing: table.row(at: range.1))))
            }
        }
        XCTAssertGreaterThan(checked, 0, file: file, line: line)
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) of \(checked) rows and \(gaps) gaps differ:\n"
            + mismatches.prefix(20).joined(separator: "\n"), file: file, line: line)
    }

    func agrees(_ row: UnwindRow?, _ expected: ExpectedRow) -> Bool {
        guard let row else { return false }
        if expected.ra == "u" { return row.rule == .outermost || row.rule == .signal }
        if expected.cfa == "exp" { return [.plt, .signal, .needsCopy].contains(row.rule) }
        func offset(_ text: String, after prefix: String) -> Int? {
            text.hasPrefix(prefix) ? Int(text.dropFirst(prefix.count)) : nil
        }
        let rbp: Int?
        if expected.rbp == "u" || expected.rbp.isEmpty || expected.rbp == "s" {
            rbp = 0
        } else if let saved = offset(expected.rbp, after: "c") {
            rbp = saved
        } else {
            rbp = nil
        }
        guard expected.ra == "c-8", let rbp else { return row.rule == .needsCopy }
        if let sp = offset(expected.cfa, after: "rsp+") {
            return row.rule == .cfaSP && Int(row.cfaOffset) == sp && Int(row.rbpOffset) == rbp
        }
        if let bp = offset(expected.cfa, after: "rbp+") {
            return row.rule == .cfaBP && Int(row.cfaOffset) == bp && Int(row.rbpOffset) == rbp
        }
        return row.rule == .needsCopy
    }

    /// Each FDE of `section` with its rows as readelf interprets them (an FDE without rows
    /// of its own has its CIE's).
    func readelfRows(_ path: String, section: String) throws -> [ExpectedFDE] {
        let result = try runProgram("/usr/bin/readelf", ["-W", "--debug-dump=frames-interp", path])
        // (readelf exits 1 for warnings of its own, about a debug file's missing interpreter, say.)
        XCTAssertFalse(result.stdout.isEmpty, result.stderr)
        var inSection = false
        var cies: [String: [ExpectedRow]] = [:]
        var signalCIEs: Set<String> = []
        var fdes: [ExpectedFDE] = []
        var current: (isCIE: Bool, offset: String, cie: String, start: UInt64, end: UInt64)?
        var columns: [String] = []
        var rows: [ExpectedRow] = []
        func flush() {
            guard let entry = current else { return }
            if entry.isCIE {
                cies[entry.offset] = rows
            } else {
                fdes.append(ExpectedFDE(start: entry.start, end: entry.end, rows: rows.isEmpty ? (cies[entry.cie] ?? []) : rows,
                                        signal: signalCIEs.contains(entry.cie)))
            }
            current = nil
            rows = []
            columns = []
        }
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Contents of the ") {
                flush()
                inSection = line.hasPrefix("Contents of the \(section) section")
                continue
            }
            guard inSection else { continue }
            // A register rule "r10 (r10)" is one column.
            var fields: [String] = []
            for token in line.split(separator: " ") {
                if token.hasPrefix("("), !fields.isEmpty { fields[fields.count - 1] += " " + token } else { fields.append(String(token)) }
            }
            if fields.count >= 2, fields[1] == "ZERO" {
                flush()
            } else if fields.count >= 4, fields[3] == "CIE" {
                flush()
                current = (true, fields[0], "", 0, 0)
                if fields.count >= 5, fields[4].hasPrefix("\""), fields[4].contains("S") { signalCIEs.insert(fields[0]) }
            } else if fields.count >= 6, fields[3] == "FDE" {
                flush()
                let cie = fields[4].replacingOccurrences(of: "cie=", with: "")
                let range = fields[5].replacingOccurrences(of: "pc=", with: "").components(separatedBy: "..")
                guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16)
                else { continue }
                current = (false, fields[0], cie, start, end)
            } else if fields.first == "LOC" {
                columns = fields
            } else if current != nil, !columns.isEmpty, fields.count >= 2, let pc = UInt64(fields[0], radix: 16) {
                func column(_ name: String) -> String {
                    guard let index = columns.firstIndex(of: name), index < fields.count else { return "" }
                    return fields[index]
                }
                rows.append(ExpectedRow(pc: pc, cfa: fields[1], ra: column("ra"), rbp: column("rbp")))
            }
        }
        flush()
        return fdes
    }

    func symbolAddress(_ name: String, in path: String) -> UInt64? {
        guard let result = try? runProgram("/usr/bin/nm", ["-D", "--defined-only", path]),
              let other = try? runProgram("/usr/bin/nm", ["--defined-only", path])
        else { return nil }
        for line in (result.stdout + "\n" + other.stdout).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[2] == name { return UInt64(fields[0], radix: 16) }
        }
        return nil
    }
}
