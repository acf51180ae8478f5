import EmberTestSupport
import Foundation
import XCTest

/// Outputs are written whole or not at all: a full disk or a read-only directory is one line
/// of error and leaves no partial file. Small tmpfs mounts stand for them (mounting needs root).
final class OutputSafetyTests: RecordingTestCase {
    private func mount(_ options: String, at directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let result = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", directory])
        guard result.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(result.stderr)") }
        addTeardownBlock { _ = try? runProgram("/bin/umount", [directory]) }
    }

    func testAFullDiskIsOneLineAndLeavesNoPartialFile() throws {
        let small = path("small")
        try mount("size=64k", at: small)
        // A folded file whose graph is far larger than 64 KiB.
        let input = path("big.folded")
        let lines = (0..<5000).map { "main;function_\($0);leaf_\($0 % 97) \($0 + 1)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        for output in ["graph.svg", "stacks.folded", "profile.pb.gz", "profile.speedscope.json"] {
            let result = try ember(["render", input, "--min-width", "0", "-o", small + "/" + output])
            if output == "profile.pb.gz" && result.status == 0 { continue }  // compressed, it may fit
            XCTAssertNotEqual(result.status, 0, output)
            XCTAssertTrue(result.stderr.contains("No space left on device"), result.stderr)
            XCTAssertEqual(result.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, result.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: small).filter { $0 != "profile.pb.gz" }, [],
                           "no partial or temporary file after \(output)")
        }
    }

    func testAReadOnlyDirectoryIsRefusedBeforeRecording() throws {
        let readOnly = path("read-only")
        try mount("ro,size=64k", at: readOnly)
        let started = Date()
        let result = try ember(["record", "-d", "5", "-o", readOnly + "/x.svg", "--", try sampleBinary("split"), "5"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("cannot write '\(readOnly)/x.svg'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Read-only file system"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "refused before recording")
        let render = try ember(["render", "-o", readOnly + "/y.svg", try write("a;b 1\n", "tiny.folded")])
        XCTAssertNotEqual(render.status, 0)
        XCTAssertTrue(render.stderr.contains("Read-only file system"), render.stderr)
    }

    private func write(_ text: String, _ name: String) throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }
}
