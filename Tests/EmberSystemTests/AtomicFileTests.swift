import EmberSystem
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "/ember-atomic-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testAFailureHalfwayLeavesNothingAndKeepsTheOldFile() throws {
        let path = directory + "/out.svg"
        try AtomicFile.write("old", to: path)
        struct Broken: Error {}
        XCTAssertThrowsError(try AtomicFile.write(path: path) { sink in
            try Array("<svg>".utf8).withUnsafeBytes { try sink($0) }
            throw Broken()
        }) { XCTAssertTrue($0 is Broken) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.svg"])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        try AtomicFile.write("new", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new")
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o644)
    }

    func testADeviceIsWrittenInPlaceNotReplaced() throws {
        try AtomicFile.checkWritable("/dev/null")
        try AtomicFile.write("discarded", to: "/dev/null")
        var info = stat()
        XCTAssertEqual(stat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/null must stay a character device")
    }

    func testASymbolicLinkIsFollowed() throws {
        let target = directory + "/target.folded"
        let link = directory + "/link.folded"
        try AtomicFile.write("a 1\n", to: target)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.folded")
        try AtomicFile.write("b 2\n", to: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), "target.folded")
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "b 2\n")
    }

    func testUnwritablePlacesAreClearErrors() {
        XCTAssertThrowsError(try AtomicFile.checkWritable("/nonexistent-dir/x.svg")) {
            XCTAssertTrue("\($0)".contains("no such directory '/nonexistent-dir'"), "\($0)")
        }
        XCTAssertThrowsError(try AtomicFile.checkWritable(directory)) {
            XCTAssertTrue("\($0)".contains("it is a directory"), "\($0)")
        }
        XCTAssertThrowsError(try AtomicFile.write("x", to: "/nonexistent-dir/x.svg"))
    }
}

final class FileContentsTests: XCTestCase {
    func testProcFilesReadWholeAndLimitsHold() throws {
        let maps = try FileContents.read("/proc/self/maps")
        XCTAssertGreaterThan(maps.count, 100, "/proc files report size 0 but have contents")
        XCTAssertThrowsError(try FileContents.read("/proc/self/maps", limit: 10)) {
            XCTAssertTrue("\($0)".contains("larger than"), "\($0)")
        }
        XCTAssertThrowsError(try FileContents.read("/nonexistent")) {
            XCTAssertTrue("\($0)".hasPrefix("cannot open /nonexistent:"), "\($0)")
        }
    }

    func testClocksMove() {
        let start = Clock.monotonicNanoseconds()
        var spin = 0
        for index in 0..<1_000_000 { spin &+= index }
        XCTAssertGreaterThan(Clock.monotonicNanoseconds() + Int64(spin & 0), start)
        XCTAssertGreaterThan(Clock.realtimeNanoseconds(), 1_700_000_000 * 1_000_000_000)
        XCTAssertGreaterThan(Clock.threadCPUSeconds(), 0)
    }
}
