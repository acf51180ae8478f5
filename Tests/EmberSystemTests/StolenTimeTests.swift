import EmberSystem
import XCTest

final class StolenTimeTests: XCTestCase {
    func testStealIsTheEighthNumberOfTheCPULine() {
        let text = """
            cpu  131079 58 7866 971280 957 0 124 295 0 0
            cpu0 61087 40 3907 490348 284 0 23 168 0 0
            intr 1234 0 0
            """
        XCTAssertEqual(StolenTime.seconds(inProcStat: text, ticksPerSecond: 100), 2.95)
    }

    func testAMissingOrMalformedFieldIsNoFigure() {
        XCTAssertNil(StolenTime.seconds(inProcStat: "cpu  1 2 3 4 5 6 7\n", ticksPerSecond: 100), "no steal field")
        XCTAssertNil(StolenTime.seconds(inProcStat: "cpu  1 2 3 4 5 6 7 -8 0\n", ticksPerSecond: 100))
        XCTAssertNil(StolenTime.seconds(inProcStat: "cpu0 1 2 3 4 5 6 7 8 9\n", ticksPerSecond: 100), "no total line")
        XCTAssertNil(StolenTime.seconds(inProcStat: "", ticksPerSecond: 100))
    }

    func testThisMachinesStealReadsAndDoesNotGoBack() throws {
        guard let first = StolenTime.machineSeconds() else { throw XCTSkip("/proc/stat has no steal field here") }
        let second = try XCTUnwrap(StolenTime.machineSeconds())
        XCTAssertGreaterThanOrEqual(first, 0)
        XCTAssertGreaterThanOrEqual(second, first)
    }
}
