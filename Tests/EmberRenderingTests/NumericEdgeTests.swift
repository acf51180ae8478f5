import EmberProfile
import XCTest

@testable import EmberRendering

/// Every numeric path is total: counts past 64 bits, fractions, zero totals, counts too large
/// to add up, give a graph or a counted malformed line, never a trap.
final class NumericEdgeTests: XCTestCase {
    func testCountsWhoseSumPassesSixtyFourBitsRender() throws {
        // The input that trapped in "Double value cannot be converted to UInt64".
        let svg = try render("a;b 3895306909723548261\na;c 3895306909723548261\na;d 3895306909723548261\nx;y 7\n")
        let total = try XCTUnwrap(Double(try XCTUnwrap(svg.rootAttributes["data-total"])))
        XCTAssertEqual(total, 3 * 3.895306909723548261e18 + 7, accuracy: 1e4)
        XCTAssertEqual(try XCTUnwrap(svg.frame(named: "a")).width / 1180, 1, accuracy: 1e-9)
    }

    func testZeroTotalsAndTinyFractionsRender() throws {
        let zero = try render("a;b 0\na 0\n")
        XCTAssertEqual(zero.frames.count, 0, "no samples: an empty graph")
        let tiny = try render("a 0.000000000000000000001\nb .5\n") { $0.minWidth = .pixels(0) }
        XCTAssertEqual(try XCTUnwrap(tiny.frame(named: "b")).width, 1180, accuracy: 0.01)
    }

    func testCountsTooLargeToAddUpAreMalformedLines() {
        var builder = FrameTreeBuilder()
        builder.addFolded(Array(("a " + String(repeating: "9", count: 400) + "\nb 1\n").utf8))
        XCTAssertEqual(builder.report.malformedLines, 1)
        XCTAssertEqual(builder.tree.totalSamples, 1)
        XCTAssertNotNil(SVGReader.read(FlameGraph.svgBytes(of: builder.tree)))
    }

    func testComparisonsOfWildlyDifferentTotalsStayFinite() throws {
        let diff = ProfileDiff(before: Array("a;b 0.0000000000000000000000000000001\n".utf8),
                               after: Array(("a;b 1" + String(repeating: "0", count: 290) + "\n").utf8))
        XCTAssertTrue(diff.tree.samplesBefore(of: 1).isFinite)
        XCTAssertNotNil(SVGReader.read(FlameGraph.svgBytes(of: diff.tree)))
        XCTAssertFalse(String(decoding: diff.foldedLines(), as: UTF8.self).contains("inf"))
    }
}
