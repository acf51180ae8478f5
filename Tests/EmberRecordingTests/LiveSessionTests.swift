@testable import EmberRecording
import EmberTestSupport
import Foundation
import XCTest

/// A live view (`ember top`) over processes that come and go: what ended leaves the kernel's
/// maps, and is not kept either.
final class LiveSessionTests: XCTestCase {
    func testEndedProcessesLeaveTheViewAndAreNotKept() throws {
        guard geteuid() == 0 else {
            throw XCTSkip("loading BPF programs and opening perf events for all tasks needs root")
        }
        // 1,600 children of 5 ms one after another (about 9 s): once 1,024 have been gone a
        // second, their counts are taken out of the maps.
        let forker = Process()
        forker.executableURL = URL(fileURLWithPath: try sampleBinary("forker"))
        forker.arguments = ["fork", "1600", "5"]
        try forker.run()
        defer { if forker.isRunning { forker.terminate() }; forker.waitUntilExit() }
        var settings = RecordingSettings(target: .process(forker.processIdentifier))
        settings.frequency = 997
        let live = try LiveSession(settings: settings)
        defer { live.close() }
        let deadline = Date().addingTimeInterval(30)
        while live.session.drainedKeys == 0 && Date() < deadline {
            try live.poll(milliseconds: 50)
        }
        XCTAssertGreaterThan(live.session.drainedKeys, 0, "the ended children's counts were taken out of the maps")
        // A recording would add them to its profile at a refresh or two, once their files are read.
        let settled = Date().addingTimeInterval(3)
        while Date() < settled { try live.poll(milliseconds: 50) }
        XCTAssertGreaterThan(live.samplesSeen, 1000)
        let kept = live.session.builder.finish(startTime: 0, duration: 1)
        XCTAssertEqual(kept.sampleCount, 0, "a live view keeps nothing of the processes that ended")
        let shown = live.profile()
        XCTAssertGreaterThan(shown.sampleCount, 0, "the living children are in the view")
    }
}
