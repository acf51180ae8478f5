import EmberSymbolization
import EmberSystem
import EmberTestSupport
import Foundation
import XCTest

/// Reading CPython's structures from outside, checked against CPython itself: line tables
/// against `co_lines()` (`dis.findlinestarts` before 3.10), the layout against 3.13's own debug offsets, code objects' names
/// against their `co_qualname`.
final class PythonCodeTests: XCTestCase {
    private let versions = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]

    private func interpreters() throws -> [(version: String, path: String)] {
        let found = versions.compactMap { version in Pythons.pyenv(version).map { (version, $0) } }
            + (Pythons.system("3.11").map { [("3.11", $0)] } ?? [])
        let missing = versions.filter { Pythons.pyenv($0) == nil }
        if !missing.isEmpty { print("PythonCodeTests: not installed (pyenv), not tested: \(missing.joined(separator: ", "))") }
        guard !found.isEmpty else { throw XCTSkip("no CPython 3.8-3.13 on this machine (/usr/bin, pyenv)") }
        return found
    }

    /// Every instruction of every code object of a few modules: the line ember reads from
    /// `co_linetable` (`co_lnotab` in 3.8, 3.9) is the line CPython gives.
    func testLineTablesGiveTheLinesCPythonGives() throws {
        for (version, python) in try interpreters() {
            let minor = try XCTUnwrap(Int(version.split(separator: ".")[1]))
            let format = try XCTUnwrap(PythonLayout.table(minor: minor)).lineTableFormat
            let result = try runProgram(python, [Pythons.sample("codeobjects.py"), "lines", Pythons.sample("split.py"),
                                                 "threading", "json.encoder", "argparse"])
            XCTAssertEqual(result.status, 0, result.stderr)
            var checked = 0
            var wrong: [String] = []
            for line in result.stdout.split(separator: "\n") {
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let hex = try XCTUnwrap(object["linetable"] as? String)
                let table = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
                    let start = hex.index(hex.startIndex, offsetBy: offset)
                    return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
                }
                let firstLine = try XCTUnwrap(object["firstlineno"] as? Int)
                for range in try XCTUnwrap(object["lines"] as? [[Any]]) {
                    let start = try XCTUnwrap(range[0] as? Int), end = try XCTUnwrap(range[1] as? Int)
                    let expected = range[2] as? Int
                    for offset in stride(from: start, to: end, by: 2) {
                        let read = PythonCodeNames.line(at: offset, table: table, firstLine: firstLine, format: format)
                        if read != expected, wrong.count < 5 {
                            wrong.append("\(object["name"] ?? "?")+\(offset): \(read.map(String.init) ?? "nil") "
                                + "for \(expected.map(String.init) ?? "None")")
                        }
                        checked += 1
                    }
                }
            }
            XCTAssertGreaterThan(checked, 5000, version)
            XCTAssertEqual(wrong, [], "\(version) (\(python))")
        }
    }

    /// A running interpreter is found, with its version; 3.13's debug offsets agree with
    /// ember's table; code objects are named by their qualified names, and the cache, past
    /// its capacity, evicts and counts what it reads again.
    func testRunningInterpretersAreFoundAndTheirCodeNamed() throws {
        for (version, python) in try interpreters() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [Pythons.sample("codeobjects.py"), "live", "12"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            let addresses = try XCTUnwrap(JSONSerialization.jsonObject(
                with: Data(out.fileHandleForReading.availableDataUntilNewline().utf8)) as? [String: UInt64])
            XCTAssertEqual(out.fileHandleForReading.availableDataUntilNewline(), "ready")
            guard let memory = ProcessMemory(pid: process.processIdentifier),
                  memory.word(addresses["f0"]!) != nil
            else { throw XCTSkip("cannot read a child's memory (/proc/PID/mem needs ptrace rights)") }
            let map = MemoryMap(bytes: try FileContents.read("/proc/\(process.processIdentifier)/maps"))
            let detection = PythonRuntimeDetector.detect(pid: process.processIdentifier, map: map, memory: memory)
            guard case .supported(let runtime) = detection else { return XCTFail("\(python): \(detection)") }
            XCTAssertEqual("\(runtime.major).\(runtime.minor)", version)
            XCTAssertTrue(python.contains("/\(runtime.version)" + (runtime.micro == nil ? "." : "/")) || python.hasPrefix("/usr/bin"), "\(runtime.version) for \(python)")
            XCTAssertEqual(runtime.debugOffsetMismatches, [], "\(python): the table differs from the debug offsets")

            let names = PythonCodeNames(runtime: runtime, memory: memory, capacity: 4)
            func first(_ code: UInt64) -> UInt64 {
                PythonCodeNames.instruction(atOffset: 0, code: code, layout: runtime.layout)
            }
            for (name, address) in addresses.sorted(by: { $0.key < $1.key }) {
                let frame = try XCTUnwrap(names.name(code: address, instruction: first(address)), "\(version) \(name)")
                XCTAssertEqual(frame.function, name)
                XCTAssertEqual(frame.file, "<string>")
                XCTAssertEqual(frame.firstLine, 1)
                // 3.11+ start each function with RESUME at its def line; before, the first
                // instruction is the body's (`return N`, line 2).
                XCTAssertEqual(frame.line, runtime.minor >= 11 ? 1 : 2, "\(version) \(name): the first instruction's line")
                if runtime.layout.frameChain == .frameObjects {
                    // f_lasti -1: a frame before its first instruction is at its def line.
                    let notStarted = UInt64(UInt32(bitPattern: -1)) << 1
                    XCTAssertEqual(names.name(code: address, instruction: notStarted)?.line, 1, "\(version) \(name)")
                } else {
                    // 3.11 and 3.12 push a frame with prev_instr one code unit before its code.
                    XCTAssertEqual(names.name(code: address, instruction: first(address) - 2)?.line, 1,
                                   "\(version) \(name): a frame before its first instruction")
                }
            }
            XCTAssertGreaterThan(names.statistics.evicted, 0)
            XCTAssertEqual(names.name(code: addresses["f0"]!, instruction: first(addresses["f0"]!))?.function, "f0")
            XCTAssertGreaterThan(names.statistics.rereadAfterEviction, 0)
            // Not a code object: no name, never a guess.
            XCTAssertNil(names.name(code: addresses["f0"]! + 8, instruction: 0))
            XCTAssertNil(names.name(code: 8, instruction: 0))
            XCTAssertGreaterThanOrEqual(names.statistics.unreadable, 2)
        }
    }

    func testVersionsInFileNames() {
        XCTAssertTrue(PythonRuntimeDetector.versionInName("libpython3.12.so.1.0")! == (3, 12))
        XCTAssertTrue(PythonRuntimeDetector.versionInName("python3.6m")! == (3, 6))
        XCTAssertTrue(PythonRuntimeDetector.versionInName("python2.7")! == (2, 7))
        XCTAssertNil(PythonRuntimeDetector.versionInName("python"))
        XCTAssertNil(PythonRuntimeDetector.versionInName("pythonista"))
    }
}
