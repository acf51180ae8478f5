import EmberProfile
import Foundation
import XCTest

@testable import EmberRendering

/// Builds a tree from folded text.
func tree(_ folded: String, transform: StackTransform = StackTransform()) -> FrameTree {
    var builder = FrameTreeBuilder(transform: transform)
    builder.addFolded(Array(folded.utf8))
    return builder.tree
}

/// Every node's path (names joined with `;`) and inclusive samples.
func totals(_ tree: FrameTree) -> [String: Double] {
    var result: [String: Double] = [:]
    for node in 1..<tree.nodeCount {
        let key = tree.path(of: node).joined(separator: ";")
        XCTAssertNil(result[key], "two nodes for \(key)")
        result[key] = tree.samples(of: node)
    }
    return result
}

func render(_ folded: String, _ configure: (inout FlameGraphOptions) -> Void = { _ in }) throws -> SVGReader {
    var options = FlameGraphOptions()
    configure(&options)
    var builder = FrameTreeBuilder(transform: options.stackTransform)
    builder.addFolded(Array(folded.utf8))
    let bytes = FlameGraph.svgBytes(of: builder.tree, options: options)
    return try XCTUnwrap(SVGReader.read(bytes), "not well-formed XML")
}

final class FrameTreeTests: XCTestCase {
    func testMergesStacksIntoInclusiveTotals() {
        let merged = totals(tree("main;a;b 2\nmain;a 1\nmain;a;c 3\nmain;a;b 4\nother 1\n"))
        XCTAssertEqual(
            merged, ["main": 10, "main;a": 10, "main;a;b": 6, "main;a;c": 3, "other": 1])
    }

    func testUnsortedInputBuildsTheSameTreeAsSorted() {
        var lines: [String] = []
        for a in 0..<30 {
            for b in 0..<(a % 7 + 1) { lines.append("root;f\(a % 12);g\(a);h\(b) \(a + b + 1)") }
        }
        lines.append("root;f1 5")
        lines.append("root 2")
        let sorted = totals(tree(lines.sorted().joined(separator: "\n")))
        var generator = SystemRandomNumberGenerator()
        let shuffled = totals(tree(lines.shuffled(using: &generator).joined(separator: "\n")))
        XCTAssertEqual(sorted, shuffled)
        var expectedRoot = 7
        for a in 0..<30 {
            for b in 0..<(a % 7 + 1) { expectedRoot += a + b + 1 }
        }
        XCTAssertEqual(sorted["root"], Double(expectedRoot))
    }

    func testWideParentsFindTheirChildren() {
        // More children than the sibling scan handles, added twice in different orders.
        let names = (0..<500).map { "child\($0)" }
        let text = (names + names.reversed()).map { "p;\($0) 1" }.joined(separator: "\n")
        let built = tree(text)
        XCTAssertEqual(built.nodeCount, 1 + 1 + 500)
        XCTAssertTrue(totals(built).filter { $0.key.hasPrefix("p;") }.allSatisfy { $0.value == 2 })
    }

    func testPrefixSharingRespectsFrameBoundaries() {
        let merged = totals(tree("a;bc 1\na;b 1\na;b;c 1\na;bcd 1\nab 1\n"))
        XCTAssertEqual(merged, ["a": 4, "a;bc": 1, "a;b": 2, "a;b;c": 1, "a;bcd": 1, "ab": 1])
    }

    func testFlameChartMergesOnlyConsecutiveStacks() {
        var transform = StackTransform()
        transform.flameChart = true
        let chart = tree("main;a 1\nmain;a;x 1\nmain;b 1\nmain;a 1\n", transform: transform)
        let children = chart.childLists()
        let main = children[0][0]
        XCTAssertEqual(children[main].map { chart.name(of: $0) }, ["a", "b", "a"])
        XCTAssertEqual(children[main].map { chart.samples(of: $0) }, [2, 1, 1])
    }

    func testReverseBaseAndFactor() {
        var reverse = StackTransform()
        reverse.reverse = true
        XCTAssertEqual(totals(tree("main;a;leaf 2\nmain;b;leaf 3\n", transform: reverse)),
                       ["leaf": 5, "leaf;a": 2, "leaf;b": 3, "leaf;a;main": 2, "leaf;b;main": 3])

        var base = StackTransform()
        base.baseFrames = ["work"]
        var builder = FrameTreeBuilder(transform: base)
        builder.addFolded(Array("main;work;x 2\nthread;work;work;y 1\nmain;idle 4\n".utf8))
        XCTAssertEqual(totals(builder.tree), ["work": 3, "work;x": 2, "work;work": 1, "work;work;y": 1])
        XCTAssertEqual(builder.stacksWithoutBase, 1)

        var factor = StackTransform()
        factor.factor = 0.5
        let scaled = tree("a 3\n", transform: factor)
        XCTAssertEqual(scaled.totalSamples, 1.5)
        XCTAssertTrue(scaled.hasFractionalCounts)
    }

    func testDifferentialCounts() {
        let diff = tree("main;a 4 12\nmain;b 6 3\nmain;c 2\n")
        XCTAssertTrue(diff.isDifferential)
        XCTAssertEqual(diff.totalSamples, 17)
        XCTAssertEqual(diff.totalSamplesBefore, 12)
        let main = diff.childLists()[0][0]
        XCTAssertEqual(diff.samples(of: main), 17)
        XCTAssertEqual(diff.samplesBefore(of: main), 12)
        XCTAssertFalse(tree("a 1\n").isDifferential)
    }

    func testProfileNamesAreLabelledAsFoldedTextWritesThem() {
        var profile = Profile()
        profile.addSample(frames: [("main", .user), ("operator;weird", .user), ("read", .kernel)], values: [2])
        var builder = FrameTreeBuilder()
        builder.add(profile)
        // The same graph whether drawn from the profile or from its folded text.
        XCTAssertEqual(totals(builder.tree), ["main": 2, "main;operator:weird": 2, "main;operator:weird;read_[k]": 2])
        XCTAssertEqual(builder.tree.kind(of: builder.tree.nodeCount - 1), .kernel)
    }
}

final class FlameGraphRenderingTests: XCTestCase {
    /// Golden geometry: 100 samples on 1180 px, rows from the bottom, children packed
    /// from their parent's left edge in byte order.
    func testGoldenGeometry() throws {
        let svg = try render("main;b 30\nmain;a;x 25\nmain;a 25\nmain;B 10\nidle 10\n")
        let expected: [(String, Double, Double, Double)] = [
            ("all", 10, 1180, 84),
            ("idle", 10, 118, 68), ("main", 128, 1062, 68),
            ("B", 128, 118, 52), ("a", 246, 590, 52), ("b", 836, 354, 52),
            ("x", 246, 295, 36),
        ]
        XCTAssertEqual(svg.frames.count, expected.count)
        for (name, x, width, y) in expected {
            let frame = try XCTUnwrap(svg.frame(named: name), name)
            XCTAssertEqual(frame.x, x, accuracy: 1e-9, name)
            XCTAssertEqual(frame.width, width, accuracy: 1e-9, name)
            XCTAssertEqual(frame.rowY, y, name)
        }
        XCTAssertEqual(svg.rootAttributes["width"], "1200")
        XCTAssertEqual(svg.rootAttributes["height"], "134")  // 36 above, 4 rows of 16, 34 below
        XCTAssertEqual(svg.rootAttributes["data-total"], "100")
    }

    func testGoldenGeometryInvertedAndWeightOrder() throws {
        let svg = try render("main;b 30\nmain;a;x 25\nmain;a 25\nmain;B 10\nidle 10\n") {
            $0.inverted = true
            $0.order = .weight
            $0.width = 1010
            $0.frameHeight = 20
        }
        // 1 px per 1 sample... 990 px for 100 samples: 9.9 px a sample.
        let expected: [(String, Double, Double, Double)] = [
            ("all", 10, 990, 36), ("main", 10, 891, 56), ("idle", 901, 99, 56),
            ("a", 10, 495, 76), ("b", 505, 297, 76), ("B", 802, 99, 76), ("x", 10, 247.5, 96),
        ]
        for (name, x, width, y) in expected {
            let frame = try XCTUnwrap(svg.frame(named: name), name)
            XCTAssertEqual(frame.x, x, accuracy: 1e-9, name)
            XCTAssertEqual(frame.width, width, accuracy: 1e-9, name)
            XCTAssertEqual(frame.rowY, y, name)
        }
    }

    func testNarrowFramesMergeIntoOneSliverPerParent() throws {
        // 10,000 samples on 1180 px: 0.118 px a sample, so one-sample frames (< 0.1 px
        // is the default minimum... use 1 px) are hidden.
        var lines = ["main;big 9990"]
        for index in 0..<10 { lines.append("main;tiny\(index) 1") }
        let svg = try render(lines.joined(separator: "\n")) { $0.minWidth = .pixels(1) }
        let sliver = try XCTUnwrap(svg.frame(named: "(10 more)"))
        let big = try XCTUnwrap(svg.frame(named: "big"))
        XCTAssertEqual(sliver.x, big.x + big.width, accuracy: 1e-6)
        XCTAssertEqual(sliver.width, 10 * 0.118, accuracy: 1e-6)
        XCTAssertNil(svg.frame(named: "tiny0"))
        XCTAssertEqual(svg.frames.count, 4)

        let percent = try render(lines.joined(separator: "\n")) { $0.minWidth = .percent(0.05) }
        XCTAssertNotNil(percent.frame(named: "(10 more)"))
        let none = try render(lines.joined(separator: "\n")) { $0.minWidth = .pixels(0) }
        XCTAssertNotNil(none.frame(named: "tiny9"))
        XCTAssertNil(none.frames.first { $0.name.hasSuffix("more)") })
    }

    func testFramesNarrowerThanAPixelAreWrittenHiddenAndDrawnAsSlivers() throws {
        // 10,000 samples on 1180 px: one-sample frames are 0.118 px wide.
        let hostile = "z<b a='1'> & \u{01}"
        let svg = try render("main;a;x 1\nmain;b 9997\nmain;c 1\nmain;\(hostile) 1\n") { $0.minWidth = .pixels(0) }
        for name in ["a", "x", "c", "z<b a='1'> & \\x01"] {
            XCTAssertEqual(svg.frame(named: name)?.hidden, true, name)
        }
        XCTAssertEqual(svg.frames.count, 7)
        XCTAssertEqual(svg.elementCounts["b"], nil)
        XCTAssertEqual(svg.frame(named: "b")?.hidden, false)
        XCTAssertEqual(svg.rootAttributes["data-drawn-width"], "1")
        // One sliver per run of hidden children of a drawn frame, where they are; none for
        // frames under hidden frames (the sliver stands for their subtrees).
        let b = try XCTUnwrap(svg.frame(named: "b"))
        XCTAssertEqual(svg.slivers.map(\.name), ["(1 more)", "(2 more)"])
        // (x and width are written with 2 decimals here)
        XCTAssertEqual(svg.slivers[0].x, 10, accuracy: 1e-9)
        XCTAssertEqual(svg.slivers[0].width, 0.118, accuracy: 0.005)
        XCTAssertEqual(svg.slivers[1].x, b.x + b.width, accuracy: 0.01)
        XCTAssertEqual(svg.slivers[1].width, 0.236, accuracy: 0.005)
        XCTAssertEqual(svg.slivers[1].rowY, b.rowY)
    }

    func testChildrenNeverExceedTheirParent() throws {
        var lines: [String] = []
        for index in 0..<400 { lines.append("r;m\(index % 13);l\(index) \(index % 5 + 1)") }
        let svg = try render(lines.joined(separator: "\n")) { $0.minWidth = .pixels(0.5) }
        let rows = Dictionary(grouping: svg.frames, by: \.rowY)
        for (y, row) in rows {
            guard let parents = rows[y + 16] else { continue }
            for parent in parents {
                let inside = row.filter { $0.x >= parent.x - 1e-6 && $0.x < parent.x + parent.width - 1e-9 }
                let sum = inside.reduce(0) { $0 + $1.width }
                // x and width are each rounded to the written decimals (here 0.01 px).
                XCTAssertLessThanOrEqual(sum, parent.width + 0.02, parent.name)
                for child in inside { XCTAssertLessThanOrEqual(child.x + child.width, parent.x + parent.width + 0.02) }
            }
        }
    }

    func testCoordinatesRecoverExactSampleCounts() throws {
        // A million samples: the writer adds decimals so that x/scale rounds to samples.
        let svg = try render("a;b 1\na;c 999998\nd 1\n") { $0.minWidth = .pixels(0) }
        let scale = 1180.0 / 1_000_000
        let b = try XCTUnwrap(svg.frame(named: "b"))
        let d = try XCTUnwrap(svg.frame(named: "d"))
        XCTAssertEqual((b.width / scale).rounded(), 1)
        XCTAssertEqual(((d.x - 10) / scale).rounded(), 999_999)
        XCTAssertEqual(svg.rootAttributes["data-integral"], "1")
    }

    func testColoursAreDeterministicByName() throws {
        let first = try render("main;work;read 3\n")
        let second = try render("other;zzz;work 9\nx 1\n")
        XCTAssertEqual(first.frame(named: "work")?.fill, second.frame(named: "work")?.fill)
        XCTAssertNotEqual(first.frame(named: "work")?.fill, first.frame(named: "read")?.fill)
        // Kernel frames are orange, inline aqua, JIT green.
        let kinds = try render("main;sys_read_[k] 1\nmain;inl_[i] 1\nmain;jit_[j] 1\n")
        let kernel = try XCTUnwrap(kinds.frame(named: "sys_read_[k]")?.fill)
        let color = UInt32(kernel.dropFirst(), radix: 16)!
        XCTAssertEqual(color & 0xFF, 0)  // orange: no blue
        XCTAssertGreaterThanOrEqual(color >> 16, 190)
        let inline = UInt32(try XCTUnwrap(kinds.frame(named: "inl_[i]")?.fill).dropFirst(), radix: 16)!
        XCTAssertEqual((inline >> 8) & 0xFF, inline & 0xFF)  // aqua: green == blue
        let jit = UInt32(try XCTUnwrap(kinds.frame(named: "jit_[j]")?.fill).dropFirst(), radix: 16)!
        XCTAssertGreaterThan((jit >> 8) & 0xFF, jit >> 16)  // green dominates
        // Python frames purple: red and blue over green.
        let python = try render("main;_PyEval_Vector;handle (app.py:40)_[p] 1\n")
        let purple = UInt32(try XCTUnwrap(python.frame(named: "handle (app.py:40)_[p]")?.fill).dropFirst(), radix: 16)!
        XCTAssertGreaterThan(purple >> 16, (purple >> 8) & 0xFF)
        XCTAssertGreaterThan(purple & 0xFF, (purple >> 8) & 0xFF)
        XCTAssertNotEqual(purple, jit)
        let blue = try render("main 1\n") { $0.palette = .blue }
        let blueColor = UInt32(try XCTUnwrap(blue.frame(named: "main")?.fill).dropFirst(), radix: 16)!
        XCTAssertGreaterThanOrEqual(blueColor & 0xFF, 205)
    }

    func testDifferentialColours() throws {
        let svg = try render("main;up 4 12\nmain;down 6 3\nmain;same 5 5\n")
        XCTAssertEqual(svg.frame(named: "up")?.fill.prefix(3), "#ff")
        XCTAssertEqual(svg.frame(named: "down")?.fill.suffix(2), "ff")
        XCTAssertEqual(svg.frame(named: "same")?.fill, "#ffffff")
        XCTAssertEqual(svg.frame(named: "up")?.attributes["data-b"], "4")
        XCTAssertEqual(svg.frame(named: "up")?.attributes["data-a"], "12")
        let negated = try render("main;up 4 12\nmain;down 6 3\n") { $0.negate = true }
        XCTAssertEqual(negated.frame(named: "up")?.fill.suffix(2), "ff")  // hues switched
        XCTAssertEqual(try XCTUnwrap(negated.frame(named: "up")).width, 1180 * 4 / 10, accuracy: 1e-9)
    }

    func testLabelsShowWhatFitsAndKeepTheFullName() throws {
        let long = String(repeating: "long_function_name_", count: 10)
        let svg = try render("main;\(long) 1\nmain;short 1\nmain;z 1000\n")
        let frame = try XCTUnwrap(svg.frame(named: long))
        XCTAssertEqual(frame.labelClass, "h")  // too narrow for three characters
        let wide = try render("main;\(long) 10\nmain;short 10\n")
        XCTAssertNotNil(wide.frame(named: long))
        XCTAssertNil(wide.frame(named: long)?.labelClass)
        XCTAssertEqual(wide.elementCounts["tspan"], 1)  // the hidden rest of the long name
    }

    func testHostileNamesAndOptionsAreEscaped() throws {
        let names = [
            "</script><script>alert(1)</script>", "<img src=x onerror=alert(2)>", "]]>", "a&b \"q\" 'a'",
            "ctl\u{01}\u{1B}[31m", "\u{85}next", "--><!--",
        ]
        var folded = Array(names.map { "main;\($0) 1\n" }.joined().utf8)
        folded += Array("main;bad".utf8) + [0xFF, 0xFE, 0xC3] + Array(" 1\n".utf8)
        var options = FlameGraphOptions()
        options.title = "</text><script>alert(3)</script>"
        options.subtitle = "<![CDATA[ x ]]>"
        options.notes = "--></desc><script>alert(4)</script>"
        options.countName = "\" onload=\"alert(5)"
        options.nameType = "<b>"
        options.fontType = "x\" onload=\"alert(6)"
        var builder = FrameTreeBuilder()
        builder.addFolded(folded)
        let bytes = FlameGraph.svgBytes(of: builder.tree, options: options)
        let svg = try XCTUnwrap(SVGReader.read(bytes), "not well-formed")
        XCTAssertEqual(svg.elementCounts["script"], 1)
        XCTAssertNil(svg.elementCounts["img"])
        for name in names.prefix(4) { XCTAssertNotNil(svg.frame(named: name), name) }
        XCTAssertNotNil(svg.frame(named: "ctl\\x01\\x1B[31m"))
        XCTAssertNotNil(svg.frame(named: "\\u{0085}next"))
        XCTAssertNotNil(svg.frame(named: "bad\\xFF\\xFE\\xC3"))
        XCTAssertEqual(svg.texts["title"], options.title)
        XCTAssertEqual(svg.texts["subtitle"], options.subtitle)
        XCTAssertEqual(svg.texts["notes"], options.notes)
        XCTAssertEqual(svg.rootAttributes["data-count-name"], options.countName)
        XCTAssertEqual(svg.rootAttributes["font-family"], options.fontType)
        // No raw control characters and only our own CDATA section.
        XCTAssertFalse(bytes.contains { $0 < 0x20 && $0 != 0x0A })
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "]]>").count, 2)
        XCTAssertEqual(text.components(separatedBy: "<script").count, 2)
    }

    func testAssetsCannotEndTheirCDATASection() {
        XCTAssertFalse(FlameGraphAssets.script.description.contains("]]>"))
        XCTAssertFalse(FlameGraphAssets.style.description.contains("]]>"))
        XCTAssertFalse(FlameGraphAssets.script.description.contains("innerHTML"))
    }

    func testEmptyProfileRendersNoSamples() throws {
        let svg = try XCTUnwrap(SVGReader.read(FlameGraph.svgBytes(of: Profile())))
        XCTAssertEqual(svg.frames.count, 0)
        XCTAssertEqual(svg.elementCounts["script"], 1)
    }

    func testProfileAPIKeepsTitleAndSubtitle() throws {
        var profile = Profile()
        profile.addSample(frames: [("myproc", .process), ("main", .user), ("work", .user), ("sys_read", .kernel)],
                          values: [3])
        profile.addSample(names: ["myproc", "[unknown]"], value: 1)
        profile.addSample(names: ["myproc", "libc.so.6+0x1234"], value: 1)
        var options = FlameGraphOptions()
        options.title = "ember record"
        options.subtitle = "pid 42"
        let svg = try XCTUnwrap(SVGReader.read(Array(FlameGraph.svg(of: profile, options: options).utf8)))
        XCTAssertEqual(svg.texts["title"], "ember record")
        XCTAssertEqual(svg.texts["subtitle"], "pid 42")
        XCTAssertEqual(svg.frames.map(\.name).sorted(),
                       ["[unknown]", "all", "libc.so.6+0x1234", "main", "myproc", "sys_read_[k]", "work"])
    }

    func testFractionalCountsAreMarked() throws {
        let svg = try render("a 0.5\nb 1.25\n")
        XCTAssertEqual(svg.rootAttributes["data-integral"], "0")
        XCTAssertEqual(try XCTUnwrap(svg.frame(named: "a")).width, 1180 * 0.5 / 1.75, accuracy: 0.005)
    }

    func testGraphIsWrittenToAFile() throws {
        let directory = NSTemporaryDirectory() + "/ember-out-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/graph.svg"
        try FlameGraph.write(tree("a;b 1\n"), toFile: path)
        XCTAssertNotNil(SVGReader.read(Array(try Data(contentsOf: URL(fileURLWithPath: path)))))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["graph.svg"])
        XCTAssertThrowsError(try FlameGraph.write(tree("a 1\n"), toFile: "/nonexistent-dir/x.svg"))
    }

    func testEscapingHelpers() {
        XCTAssertEqual(XMLEscaping.escaped("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;")
        XCTAssertEqual(XMLEscaping.escaped("\u{0}\u{7F}\u{FFFE}é"), "\\x00\\x7F\\u{FFFE}é")
    }
}
