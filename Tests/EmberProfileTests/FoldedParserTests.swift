import XCTest

@testable import EmberProfile

final class FoldedParserTests: XCTestCase {
    private func parse(_ line: String) -> FoldedLineKind {
        FoldedParser.parseLine(Array(line.utf8))
    }

    private func stack(_ line: String) -> (String, Double, Double?)? {
        guard case .stack(let parsed) = parse(line) else { return nil }
        let bytes = Array(line.utf8)
        return (String(decoding: bytes[0..<parsed.stackLength], as: UTF8.self), parsed.count, parsed.before)
    }

    func testIntegerAndFractionalCounts() throws {
        let integer = try XCTUnwrap(stack("main;work;leaf 42"))
        XCTAssertEqual(integer.0, "main;work;leaf")
        XCTAssertEqual(integer.1, 42)
        XCTAssertNil(integer.2)
        XCTAssertEqual(stack("a;b 0.25")?.1, 0.25)
        XCTAssertEqual(stack("a;b 12.")?.1, 12)
        XCTAssertEqual(stack("a;b .5")?.1, 0.5)
        XCTAssertEqual(stack("a;b 123456789012345678901")?.1, 1.23456789012345678901e20)
    }

    func testCountAfterLastRunOfWhitespace() throws {
        XCTAssertEqual(stack("main;do work 7")?.0, "main;do work")
        XCTAssertEqual(stack("main;foo \t  7")?.0, "main;foo")
        XCTAssertEqual(stack("main;foo\t7")?.1, 7)
        // Trailing whitespace and a CR (CRLF files) are tolerated.
        XCTAssertEqual(stack("main;foo 7  \r")?.1, 7)
        XCTAssertEqual(stack("main;foo 7\r")?.0, "main;foo")
    }

    func testDifferentialLines() throws {
        let line = try XCTUnwrap(stack("main;foo 3 5"))
        XCTAssertEqual(line.0, "main;foo")
        XCTAssertEqual(line.1, 5)
        XCTAssertEqual(line.2, 3)
        // A lone number before the count with nothing in front is the stack itself.
        let lone = try XCTUnwrap(stack("3 5"))
        XCTAssertEqual(lone.0, "3")
        XCTAssertNil(lone.2)
    }

    func testSkippedAndMalformedLines() {
        XCTAssertEqual(parse(""), .ignorable)
        XCTAssertEqual(parse("   \r"), .ignorable)
        XCTAssertEqual(parse("# a comment 5"), .ignorable)
        XCTAssertEqual(parse("  # indented comment"), .ignorable)
        XCTAssertEqual(parse("main;foo"), .malformed)
        XCTAssertEqual(parse("main;foo5"), .malformed)
        XCTAssertEqual(parse("   5"), .malformed)
        XCTAssertEqual(parse("main;foo -5"), .malformed)
        XCTAssertEqual(parse("main;foo 1e5"), .malformed)
        XCTAssertEqual(parse("main;foo 1.2.3"), .malformed)
        XCTAssertEqual(parse("main;foo ."), .malformed)
        XCTAssertEqual(parse("main;foo inf"), .malformed)
        XCTAssertEqual(parse("main;foo nan"), .malformed)
        XCTAssertEqual(parse("main;foo " + String(repeating: "9", count: 301)), .malformed, "past maximumCount")
        XCTAssertEqual(parse("main;foo " + String(repeating: "9", count: 400) + ".5"), .malformed, "would be infinite")
        XCTAssertNotEqual(parse("main;foo 1" + String(repeating: "0", count: 299)), .malformed)
    }

    func testAnyBytesBelongToNames() throws {
        let bytes: [UInt8] = Array("main;".utf8) + [0xFF, 0x01, 0x3C] + Array(" 9".utf8)
        guard case .stack(let parsed) = FoldedParser.parseLine(bytes) else {
            return XCTFail("not a stack")
        }
        XCTAssertEqual(parsed.stackLength, 8)
        XCTAssertEqual(parsed.count, 9)
    }

    func testFrameNamesShowInvalidUTF8() {
        func name(_ bytes: [UInt8]) -> String { bytes.withUnsafeBufferPointer { ByteString.text(of: $0) } }
        XCTAssertEqual(name(Array("héllo".utf8)), "héllo")
        XCTAssertEqual(name([0x61, 0xFF, 0x62]), "a\\xFFb")
        XCTAssertEqual(name([0xE2, 0x82]), "\\xE2\\x82")  // truncated sequence
        XCTAssertEqual(name([0xED, 0xA0, 0x80]), "\\xED\\xA0\\x80")  // an encoded surrogate
        XCTAssertEqual(name([0xC0, 0xAF]), "\\xC0\\xAF")  // overlong
        XCTAssertNotEqual(name([0xFF]), name([0xFE]))
    }

    func testProfileParsingMergesAndReports() {
        let text = "b;c 2\na;b 1\n\n# note\nnot a stack line\na;b 4\r\nx;y 1 3\n"
        let (profile, report) = FoldedReader.read(bytes: Array(text.utf8), source: "in.folded")
        // One differential line makes the profile a comparison: the others count alike before and after.
        XCTAssertEqual(profile.sampleTypes, [.before, .after])
        XCTAssertEqual(FoldedWriter.text(of: profile), "a;b 5\nb;c 2\nx;y 3\n")
        XCTAssertEqual(FoldedWriter.text(of: profile, sampleType: 0), "a;b 5\nb;c 2\nx;y 1\n")
        XCTAssertEqual(report.lines, 7)
        XCTAssertEqual(report.stackLines, 4)
        XCTAssertEqual(report.differentialLines, 1)
        XCTAssertEqual(report.malformedLines, 1)
        XCTAssertEqual(report.firstMalformed?.line, 5)
        XCTAssertEqual(report.malformedSummary, "1 malformed line (first: in.folded:5)")
    }

    func testReadingFilesInChunksKeepsLongLinesWhole() throws {
        let path = NSTemporaryDirectory() + "/ember-parser-\(getpid()).folded"
        defer { unlink(path) }
        let longFrame = String(repeating: "x", count: 3 << 20)  // longer than the read buffer
        let text = "a;b 1\r\n\(longFrame);leaf 2\nno-newline-at-end 3"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var lines: [(Int, Int)] = []
        try FoldedParser.forEachLine(inFile: path) { line, number in lines.append((number, line.count)) }
        XCTAssertEqual(lines.map(\.0), [1, 2, 3])
        XCTAssertEqual(lines.map(\.1), [6, longFrame.utf8.count + 7, 19])
    }

    func testRangesOfAFileReadAsItsLines() throws {
        let path = NSTemporaryDirectory() + "/ember-ranges-\(getpid()).folded"
        defer { unlink(path) }
        let longFrame = String(repeating: "y", count: 5000)  // longer than a small range's buffer
        let lines = (0..<200).map { "main;f\($0)\($0 % 37 == 0 ? longFrame : "") \($0)" }
        let text = lines.joined(separator: "\n") + "\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        // Cut at the start of lines 1, 50, 51 and 120 (0-based).
        let starts = [0, 50, 51, 120].map { lines[..<$0].reduce(0) { $0 + $1.utf8.count + 1 } } + [text.utf8.count]
        var read: [String] = []
        var numbers: [Int] = []
        for (start, end) in zip(starts, starts.dropFirst()) {
            let reader = FoldedLineReader(fileDescriptor: fd, name: path, range: start..<end)
            while let line = try reader.next() {
                read.append(String(decoding: line, as: UTF8.self))
                numbers.append(reader.lineNumber)
            }
        }
        XCTAssertEqual(read, lines)
        XCTAssertEqual(numbers, Array(1...50) + [1] + Array(1...69) + Array(1...80))
        // The descriptor's own offset is untouched: reading it whole still starts at the top.
        let whole = FoldedLineReader(fileDescriptor: fd, name: path)
        XCTAssertEqual(try whole.next().map { String(decoding: $0, as: UTF8.self) }, lines[0])
    }

    func testReportOfALaterPartNumbersLinesFromThatPartsStart() {
        var first = FoldedParseReport()
        first.record(.ignorable, line: 1, source: "x")
        first.record(.stack(FoldedLine(stackLength: 1, count: 1)), line: 2, source: "x")
        var second = FoldedParseReport()
        second.record(.malformed, line: 3, source: "x")
        first.add(continuation: second)
        XCTAssertEqual(first.firstMalformed?.line, 5)
        XCTAssertEqual(first.lines, 3)
    }

    func testMissingFileIsAClearError() {
        XCTAssertThrowsError(try FoldedParser.forEachLine(inFile: "/nonexistent/x.folded") { _, _ in }) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot open /nonexistent/x.folded:"), "\(error)")
        }
    }
}
