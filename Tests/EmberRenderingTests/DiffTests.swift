@testable import EmberProfile
import XCTest

@testable import EmberRendering

final class DiffTests: XCTestCase {
    /// BEFORE: 20 samples; AFTER: 40. main's children move in opposite directions, `b`
    /// vanishes and `c` is new.
    let before = "main;a;x 6\nmain;a 4\nmain;b 10\n"
    let after = "main;a;x 30\nmain;a 2\nmain;c 8\n"

    private func node(_ diff: ProfileDiff, _ path: String) throws -> Int {
        let tree = diff.tree
        return try XCTUnwrap((1..<tree.nodeCount).first { tree.path(of: $0).joined(separator: ";") == path }, path)
    }

    func testPerFrameTotalsWithoutNormalization() throws {
        let diff = ProfileDiff(before: Array(before.utf8), after: Array(after.utf8), normalize: false)
        XCTAssertNil(diff.normalization)
        let expected: [(String, Double, Double)] = [
            ("main", 20, 40), ("main;a", 10, 32), ("main;a;x", 6, 30), ("main;b", 10, 0), ("main;c", 0, 8),
        ]
        for (path, before, after) in expected {
            let id = try node(diff, path)
            XCTAssertEqual(diff.tree.samplesBefore(of: id), before, path)
            XCTAssertEqual(diff.tree.samples(of: id), after, path)
        }
    }

    func testFilesParsedInParallelAndMergedGiveTheSameTree() throws {
        // The file form reads through `DiffInputs` (in parts when large: tested below).
        let directory = FileManager.default.temporaryDirectory
        let beforeFile = directory.appendingPathComponent("diff-before-\(getpid()).folded")
        let afterFile = directory.appendingPathComponent("diff-after-\(getpid()).folded")
        try (before + "garbage line\n").write(to: beforeFile, atomically: true, encoding: .utf8)
        try after.write(to: afterFile, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(at: beforeFile)
            try? FileManager.default.removeItem(at: afterFile)
        }
        let fromFiles = try ProfileDiff(beforePath: beforeFile.path, afterPath: afterFile.path, normalize: true)
        let inMemory = ProfileDiff(before: Array((before + "garbage line\n").utf8), after: Array(after.utf8))
        XCTAssertEqual(fromFiles.foldedLines(), inMemory.foldedLines())
        XCTAssertEqual(fromFiles.normalization, inMemory.normalization)
        XCTAssertEqual(fromFiles.report.stackLines, 6)
        XCTAssertEqual(fromFiles.report.malformedLines, 1)
        XCTAssertEqual(fromFiles.report.firstMalformed?.line, 4)
        for path in ["main", "main;a", "main;a;x", "main;b", "main;c"] {
            let a = try node(fromFiles, path), b = try node(inMemory, path)
            XCTAssertEqual(fromFiles.tree.samples(of: a), inMemory.tree.samples(of: b), path)
            XCTAssertEqual(fromFiles.tree.samplesBefore(of: a), inMemory.tree.samplesBefore(of: b), path)
        }
    }

    func testCombinedTreeHasEveryPathOfBothProfilesWithItsTotals() throws {
        // Parents wide enough for the hash index, paths in both, paths in one, a deep new
        // subtree, fractional counts.
        var before: [(String, Double)] = [("main", 0.5)]
        var after: [(String, Double)] = [("main;new;deep;er", 4), ("main;w3;y", 0.1)]
        for i in 0..<20 {
            before.append(("main;w\(i);x", 1.1))
            if i % 3 == 0 { after += [("main;w\(i);x", 2), ("main;w\(i);y;z", 0.2)] }
        }
        let text = { (lines: [(String, Double)]) in lines.map { "\($0.0) \($0.1)\n" }.joined() }
        let diff = ProfileDiff(before: Array(text(before).utf8), after: Array(text(after).utf8), normalize: false)
        // The same comparison as one differential input, `stack BEFORE AFTER`, in input order.
        var builder = FrameTreeBuilder()
        builder.addFolded(Array((before.map { "\($0.0) \($0.1) 0\n" } + after.map { "\($0.0) 0 \($0.1)\n" }).joined().utf8))
        let expected = builder.tree
        XCTAssertEqual(diff.tree.nodeCount, expected.nodeCount)
        for node in 1..<expected.nodeCount {
            let path = expected.path(of: node).joined(separator: ";")
            let id = try self.node(diff, path)
            XCTAssertEqual(diff.tree.samplesBefore(of: id), expected.samplesBefore(of: node), path)
            XCTAssertEqual(diff.tree.samples(of: id), expected.samples(of: node), path)
        }
        XCTAssertTrue(diff.tree.hasFractionalCounts)
    }

    func testNormalizationScalesBeforeToAfterTotal() throws {
        let diff = ProfileDiff(before: Array(before.utf8), after: Array(after.utf8))
        XCTAssertEqual(diff.normalization, 2)
        XCTAssertEqual(diff.normalizationNote, "before normalized to after's total (×2)")
        XCTAssertEqual(diff.tree.samplesBefore(of: try node(diff, "main")), 40)  // unchanged overall
        XCTAssertEqual(diff.tree.samplesBefore(of: try node(diff, "main;a")), 20)  // grew 20 → 32
        XCTAssertEqual(diff.tree.samplesBefore(of: try node(diff, "main;b")), 20)  // gone
    }

    func testGraphColoursEveryFrameByItsOwnChange() throws {
        let diff = ProfileDiff(before: Array(before.utf8), after: Array(after.utf8))
        var options = FlameGraphOptions()
        options.differentialWidth = .max
        let svg = try XCTUnwrap(SVGReader.read(FlameGraph.svgBytes(of: diff.tree, options: options)))
        // Largest change: x grew 12 → 30 (+18); b shrank 20 → 0 (-20) — b is the largest.
        XCTAssertEqual(svg.frame(named: "b")?.fill, "#0000ff")
        XCTAssertEqual(svg.frame(named: "main")?.fill, "#ffffff")  // unchanged total
        let a = try XCTUnwrap(svg.frame(named: "a"))
        XCTAssertEqual(a.fill, "#ff" + "66" + "66")  // +12 of 20: 255 × (1 − 0.6) = 102
        XCTAssertEqual(a.attributes["data-b"], "20")
        XCTAssertEqual(a.attributes["data-a"], "32")
        // Widths by max(before, after) of each frame's own samples plus its children's widths:
        // x max(12, 30) = 30, a max(8, 2) + 30 = 38, b 20, c 8, main 0 + 38 + 20 + 8 = 66.
        XCTAssertEqual(svg.rootAttributes["data-total"], "66")
        XCTAssertEqual(try XCTUnwrap(svg.frame(named: "b")).width, 1180 * 20 / 66, accuracy: 0.01)
        XCTAssertEqual(try XCTUnwrap(svg.frame(named: "a")).width, 1180 * 38 / 66, accuracy: 0.01)
        let bytes = String(decoding: FlameGraph.svgBytes(of: diff.tree, options: options), as: UTF8.self)
        XCTAssertTrue(bytes.contains("<g class=\"gone\"><rect x=\"") && bytes.contains("<g class=\"new\"><rect x=\""))
    }

    func testFoldedOutputHasBothCounts() {
        let diff = ProfileDiff(before: Array(before.utf8), after: Array(after.utf8), normalize: false)
        XCTAssertEqual(
            String(decoding: diff.foldedLines(), as: UTF8.self),
            "main;a 4 2\nmain;a;x 6 30\nmain;b 10 0\nmain;c 0 8\n")
        // The folded output reads back into the same tree.
        var builder = FrameTreeBuilder()
        builder.addFolded(diff.foldedLines())
        XCTAssertEqual(builder.tree.totalSamples, 40)
        XCTAssertEqual(builder.tree.totalSamplesBefore, 20)
    }

    func testNoLineOrRowForAStackWithoutSamplesOfItsOwn() {
        // main's total, 0.1 + 0.2, minus its children's, 0.1 and 0.2, is 2.8e-17, not 0.
        let fractional = "main;a 0.1\nmain;b 0.2\n"
        for normalize in [false, true] {
            let diff = ProfileDiff(
                before: Array(fractional.utf8), after: Array("main;a 0.2\nmain;b 0.2\n".utf8), normalize: normalize)
            let lines = String(decoding: diff.foldedLines(), as: UTF8.self).split(separator: "\n")
            XCTAssertEqual(lines.map { $0.split(separator: " ")[0] }, ["main;a", "main;b"], "normalize: \(normalize)")
            // Nor a row in the table of changes ("main 0 0 -0 gone").
            XCTAssertFalse(diff.functionChanges().bySelf.contains { $0.name == "main" }, "normalize: \(normalize)")
        }
    }

    func testFunctionTableCountsRecursionOnce() {
        let diff = ProfileDiff(
            before: Array("main;f;f;g 4\nmain;h 4\n".utf8), after: Array("main;f;f;g 10\nmain;h 2\n".utf8),
            normalize: false)
        let (bySelf, byTotal) = diff.functionChanges()
        XCTAssertEqual(bySelf.map(\.name), ["g", "h"])
        XCTAssertEqual(bySelf.first?.delta, 6)
        let f = byTotal.first { $0.name == "f" }
        XCTAssertEqual(f?.before, 4)  // not 8: the recursive f is counted once
        XCTAssertEqual(f?.after, 10)
        XCTAssertEqual(f?.percent, 150)
        let table = diff.table(limit: 5)
        XCTAssertTrue(table.contains("Top 2 changes in self samples:"), table)
        XCTAssertTrue(table.contains("+150%") || table.contains("+150.0%"), table)
    }

    // MARK: - Reading in parts

    /// A profile of `stacks` stacks whose names sort differently frame by frame and byte by
    /// byte (`run` and `run2`, `f` and `f::g`), with counts from `seed`.
    private func profile(stacks: Int, seed: Int, skipping skip: Int) -> Profile {
        var profile = Profile()
        let names = ["run", "run2", "f", "f::g", "a b", "zeta", "io(read)"]
        for index in 0..<stacks where index % skip != 0 {
            var frames = ["main"]
            var value = index
            for _ in 0..<(2 + index % 4) {
                frames.append(names[value % names.count])
                value /= names.count
            }
            profile.addSample(names: frames, value: Double((index * seed) % 9 + 1))
        }
        return profile
    }

    private func write(_ text: String, _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("diff-\(name)-\(getpid()).folded").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { unlink(path) }
        return path
    }

    /// Every path of the tree with its before and after totals.
    private func totals(_ tree: FrameTree) -> [String: [Double]] {
        var totals: [String: [Double]] = [:]
        for node in 0..<tree.nodeCount {
            totals[tree.path(of: node).joined(separator: ";")] = [tree.samplesBefore(of: node), tree.samples(of: node)]
        }
        return totals
    }

    func testReadingInPartsGivesTheTreeOfReadingWhole() throws {
        // Ember's order (frame by frame), a stray line in each file's last part, stacks
        // only in BEFORE, only in AFTER, and in both.
        let beforeText = FoldedWriter.text(of: profile(stacks: 2400, seed: 3, skipping: 5)) + "not a stack\n"
        let afterText = "# comment\n" + FoldedWriter.text(of: profile(stacks: 2400, seed: 7, skipping: 3))
            + "after;bad x\n"
        var unsortedLines = beforeText.split(separator: "\n", omittingEmptySubsequences: false)
        unsortedLines.reverse()
        for (name, before) in [("sorted", beforeText), ("unsorted", unsortedLines.joined(separator: "\n"))] {
            let inputs = try DiffInputs(beforePath: write(before, "before"), afterPath: write(afterText, "after"))
            let (whole, wholeReport) = try inputs.read(transform: StackTransform(), parts: 1)
            XCTAssertEqual(try inputs.cuts(parts: 3).count, 3, name)
            for parts in [2, 3, 7] {
                let (tree, report) = try inputs.read(transform: StackTransform(), parts: parts)
                XCTAssertEqual(totals(tree), totals(whole), "\(name), \(parts) parts")
                XCTAssertEqual(tree.nodeCount, whole.nodeCount, "\(name), \(parts) parts")
                XCTAssertEqual(report, wholeReport, "\(name), \(parts) parts")
            }
            XCTAssertEqual(wholeReport.malformedLines, 2)
        }
        // The malformed line of BEFORE, in its last part, is named by its number in the file.
        let inputs = try DiffInputs(beforePath: write(beforeText, "before"), afterPath: write(afterText, "after"))
        let (_, report) = try inputs.read(transform: StackTransform(), parts: 3)
        XCTAssertEqual(report.firstMalformed?.line, beforeText.split(separator: "\n").count)
        // The same tree as the in-memory comparison, which reads in one part.
        let inMemory = ProfileDiff(before: Array(beforeText.utf8), after: Array(afterText.utf8), normalize: false)
        XCTAssertEqual(totals(try inputs.read(transform: StackTransform(), parts: 2).tree), totals(inMemory.tree))
    }

    func testLargeFilesAreReadInPartsAndGiveTheSameComparison() throws {
        // Over a megabyte in all: read in one part per core (two on the CI machine).
        let long = "service::RequestHandler::process_request_with_a_long_name"
        let text = { (seed: Int, skip: Int) in
            FoldedWriter.text(of: self.profile(stacks: 20_000, seed: seed, skipping: skip))
                .replacingOccurrences(of: "main;", with: "main;\(long);")
        }
        let beforeText = text(3, 5), afterText = text(7, 3)
        XCTAssertGreaterThan(beforeText.utf8.count + afterText.utf8.count, 1 << 20)
        let beforePath = try write(beforeText, "before"), afterPath = try write(afterText, "after")
        XCTAssertEqual(try DiffInputs(beforePath: beforePath, afterPath: afterPath).cuts(parts: 2).count, 2)
        let fromFiles = try ProfileDiff(beforePath: beforePath, afterPath: afterPath)
        let inMemory = ProfileDiff(before: Array(beforeText.utf8), after: Array(afterText.utf8))
        XCTAssertEqual(fromFiles.foldedLines(), inMemory.foldedLines())
        XCTAssertEqual(fromFiles.normalization, inMemory.normalization)
        XCTAssertEqual(fromFiles.tree.nodeCount, inMemory.tree.nodeCount)
    }

    func testCutsFallAtTheSameStackInBothFiles() throws {
        let beforeText = FoldedWriter.text(of: profile(stacks: 3000, seed: 3, skipping: 4))
        let afterText = FoldedWriter.text(of: profile(stacks: 3000, seed: 5, skipping: 6))
        let inputs = try DiffInputs(beforePath: write(beforeText, "before"), afterPath: write(afterText, "after"))
        let cuts = try inputs.cuts(parts: 4)
        XCTAssertEqual(cuts.count, 4)
        XCTAssertEqual(cuts.first?.before.lowerBound, 0)
        XCTAssertEqual(cuts.last?.after.upperBound, afterText.utf8.count)
        let stacks = { (text: String, range: Range<Int>) -> [String] in
            String(decoding: Array(text.utf8)[range], as: UTF8.self).split(separator: "\n").map {
                String($0[..<$0.lastIndex(of: " ")!])
            }
        }
        let order = { (a: String, b: String) in
            Array(a.utf8).withUnsafeBufferPointer { a in Array(b.utf8).withUnsafeBufferPointer { DiffInputs.precedes(a, $0) } }
        }
        for (index, cut) in cuts.enumerated() {
            // Parts are balanced by BEFORE's bytes, and both files are cut at line starts.
            XCTAssertEqual(Double(cut.before.count), Double(beforeText.utf8.count) / 4, accuracy: 200)
            let before = stacks(beforeText, cut.before), after = stacks(afterText, cut.after)
            // Every stack of a part precedes every stack of the next part, in both files.
            guard index + 1 < cuts.count else { continue }
            let next = try XCTUnwrap(stacks(beforeText, cuts[index + 1].before).first)
            XCTAssertTrue(order(try XCTUnwrap(before.last), next), "cut \(index)")
            XCTAssertTrue(order(try XCTUnwrap(after.last), next), "cut \(index)")
            XCTAssertFalse(order(try XCTUnwrap(stacks(afterText, cuts[index + 1].after).first), next), "cut \(index)")
        }
    }

    func testStackOrderIsTheOrderEmberWritesStacksIn() throws {
        let text = FoldedWriter.text(of: profile(stacks: 500, seed: 1, skipping: 11))
        let stacks = text.split(separator: "\n").map { Array($0[..<$0.lastIndex(of: " ")!].utf8) }
        XCTAssertGreaterThan(stacks.count, 300)
        for (a, b) in zip(stacks, stacks.dropFirst()) {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    XCTAssertTrue(DiffInputs.precedes(a, b) && !DiffInputs.precedes(b, a))
                }
            }
        }
        // Byte order would put `run2` (`2` is below `;`) before `run;x`.
        let run = stacks.firstIndex { $0.starts(with: "main;run;".utf8) }
        let run2 = stacks.firstIndex { $0.starts(with: "main;run2;".utf8) }
        XCTAssertLessThan(try XCTUnwrap(run), try XCTUnwrap(run2))
    }
}
