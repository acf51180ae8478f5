import EmberProfile
import XCTest

final class FoldedWriterTests: XCTestCase {
    func testLinesAreSortedRootFirstWithCountsLast() {
        var profile = Profile()
        profile.add(["app", "main", "work"], count: 3)
        profile.add(["app", "main", "idle"], count: 1)
        profile.add(["app", "main", "work"], count: 2)
        profile.add(["app", "main"], count: 4)
        XCTAssertEqual(FoldedWriter.text(of: profile), """
            app;main 4
            app;main;idle 1
            app;main;work 5

            """)
        XCTAssertEqual(profile.totalSamples, 10)
        XCTAssertEqual(profile.uniqueStacks, 3)
    }

    func testSeparatorsInNamesAreReplaced() {
        XCTAssertEqual(FoldedWriter.line(frames: ["a;b", "c\nd"], count: 2), "a:b;c d 2")
    }

    func testFractionalCountsKeepTheirFraction() {
        XCTAssertEqual(FoldedWriter.format(2.5), "2.5")
        XCTAssertEqual(FoldedWriter.format(7), "7")
    }

    func testSortOrderIsBytewise() {
        var profile = Profile()
        profile.add(["a", "b"], count: 1)
        profile.add(["a", "B"], count: 1)
        profile.add(["a"], count: 1)
        XCTAssertEqual(profile.sortedStacks.map(\.frames), [["a"], ["a", "B"], ["a", "b"]])
    }
}
