import EmberSampling
import XCTest

final class SamplingUnitTests: XCTestCase {
    func testCPUListsParseAsTheKernelWritesThem() {
        XCTAssertEqual(parseCPUList("0-3\n"), [0, 1, 2, 3])
        XCTAssertEqual(parseCPUList("0,2-3,7"), [0, 2, 3, 7])
        XCTAssertEqual(parseCPUList("5"), [5])
        XCTAssertNil(parseCPUList(""))
        XCTAssertNil(parseCPUList("3-1"))
        XCTAssertNil(parseCPUList("a-b"))
    }
}
