import EmberProfile
import EmberRendering
import Foundation
import XCTest

/// Frame names come from binaries and other tools' files: markup, control bytes, bytes that
/// are not UTF-8 and names a megabyte long stay inert and bounded in every output format.
final class HostileNameTests: XCTestCase {
    private let markup = "</text><script>alert(1)</script>"
    private let control = "a\u{0}b\u{1B}[31mc\u{7F}\td"
    private let long = String(repeating: "template<x>", count: 100_000)  // 1.1 MB

    private func hostileProfile() -> Profile {
        var profile = Profile()
        let invalid = [UInt8(0x61), 0xFF, 0xFE, 0xC0, 0x80]
        let invalidName = invalid.withUnsafeBufferPointer { profile.intern($0) }
        let invalidFunction = profile.addFunction(Function(name: invalidName, systemName: invalidName))
        let invalidLocation = profile.addLocation(Location(lines: [Line(function: invalidFunction)]))
        // The long name in many stacks: every path holds it once.
        for index in 0..<200 {
            let stack = [("proc", FrameKind.process), (markup, .user), ("caller\(index)", .user), (long, .user),
                         (control, .kernel), ("semi;colon\nnew line", .jit)]
            profile.addSample(frames: stack, values: [Double(index + 1)])
        }
        let root = profile.addLocation(Location(kind: .process, lines: [Line(function: profile.addFunction(name: "proc"))]))
        profile.addSample(stack: profile.addStack(rootFirst: [root, invalidLocation]), value: 1)
        return profile
    }

    func testSVGStaysWellFormedWithOnlyItsOwnScriptAndBoundedLabels() throws {
        var builder = FrameTreeBuilder()
        builder.add(hostileProfile())
        let tree = builder.finishTree()
        XCTAssertEqual(tree.cutLabels, 200, "the long name was cut in each of its 200 nodes")
        let bytes = FlameGraph.svgBytes(of: tree, options: {
            var options = FlameGraphOptions()
            options.minWidth = .pixels(0)
            return options
        }())
        XCTAssertLessThan(bytes.count, 200 * (FrameTree.maxLabelLength + 2048) * 2, "bounded by the cut labels")
        let svg = try XCTUnwrap(SVGReader.read(bytes), "well-formed XML")
        XCTAssertEqual(svg.elementCounts["script"], 1, "only the graph's own script")
        XCTAssertTrue(svg.frames.contains { $0.name == markup }, "markup is text")
        XCTAssertTrue(svg.frames.contains { $0.name == "a\\xFF\\xFE\\xC0\\x80" }, "bytes that are not UTF-8 show as \\xNN")
        XCTAssertTrue(svg.frames.contains { $0.name.hasPrefix("template<x>") && $0.name.contains("…#") })
        XCTAssertFalse(String(decoding: bytes, as: UTF8.self).contains("\u{1B}"), "no control byte reaches the SVG")
    }

    func testFoldedTextKeepsOneFramePerNameAndOneLinePerStack() throws {
        let text = FoldedWriter.text(of: hostileProfile())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 201, "a name cannot end a line or split a frame")
        XCTAssertTrue(lines.allSatisfy { $0.utf8.count < FrameTree.maxLabelLength * 2 }, "bounded")
        let line = try XCTUnwrap(lines.first { $0.contains("caller7;") })
        let frames = line.split(separator: " ").dropLast().joined(separator: " ").split(separator: ";")
        XCTAssertEqual(frames.count, 6)
        XCTAssertEqual(frames.last, "semi:colon new line_[j]")
        // What folded text reads back is what it wrote.
        let again = FoldedReader.read(bytes: Array(text.utf8)).profile
        XCTAssertEqual(FoldedWriter.text(of: again), text)
    }

    func testPprofAndSpeedscopeHoldValidUTF8AndEachNameOnce() throws {
        let profile = hostileProfile()
        let pprof = PprofWriter.encode(profile).bytes
        XCTAssertLessThan(pprof.count, 64 << 10, "the long name is stored once, compressed")
        let read = try PprofReader.read(pprof, name: "hostile.pb.gz")
        XCTAssertTrue(read.functions.contains { read.strings[$0.name] == markup })
        XCTAssertTrue(read.functions.contains { read.strings[$0.name] == "a\\xFF\\xFE\\xC0\\x80" },
                      "protobuf strings are UTF-8: other bytes are written as \\xNN")
        XCTAssertTrue(read.functions.contains { read.strings[$0.name] == long })

        let json = SpeedscopeWriter.encode(profile)
        XCTAssertLessThan(json.count, long.utf8.count * 2)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        let frames = try XCTUnwrap((object["shared"] as? [String: Any])?["frames"] as? [[String: Any]])
        XCTAssertTrue(frames.contains { ($0["name"] as? String) == control + "_[k]" }, "control bytes escaped in JSON")
    }
}
