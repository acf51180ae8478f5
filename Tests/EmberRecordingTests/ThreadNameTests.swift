import EmberProfile
@testable import EmberRecording
import EmberSymbolization
import EmberTestSupport
import EmberUnwinding
import Foundation
import XCTest

/// A thread names itself after it starts (`pthread_setname_np`), and can be sampled before:
/// each of its samples keeps the name it was taken under, whichever of its stacks comes first.
final class ThreadNameTests: XCTestCase {
    private let pid: Int32 = 999_999_002

    private func profile(of stacks: [CallStack]) -> Profile {
        let builder = ProfileBuilder(symbolizer: Symbolizer(), settings: RecordingSettings(target: .system))
        builder.add(stacks, clockOffset: 0, offCPU: true)
        return builder.finish(startTime: 0, duration: 1)
    }

    /// The thread's samples by name: a label set for each name, the same pid and tid in each.
    private func samplesByName(stacks: [CallStack]) -> [String: Double] {
        let profile = profile(of: stacks)
        var byName: [String: Double] = [:]
        for sample in 0..<profile.sampleCount {
            let set = profile.sampleLabels[sample]
            XCTAssertEqual(profile.numericLabel("tid", inSet: set), Int64(pid + 2))
            XCTAssertEqual(profile.numericLabel("pid", inSet: set), Int64(pid))
            let name = profile.label("thread_name", inSet: set) ?? "(none)"
            byName[name, default: 0] += profile.value(ofSample: sample, type: 0)
        }
        return byName
    }

    func testEachSampleKeepsTheThreadNameItWasTakenUnder() throws {
        let beforeRename = CallStack(pid: pid, tid: pid + 2, threadName: "blocking", user: .absent, kernel: .absent,
                                     count: 200)
        let renamed = CallStack(pid: pid, tid: pid + 2, threadName: "idler", user: .absent, kernel: .absent,
                                count: 2_000_000_000)
        // Either order: the stacks of a recording come out of hash maps.
        for stacks in [[beforeRename, renamed], [renamed, beforeRename]] {
            XCTAssertEqual(samplesByName(stacks: stacks), ["blocking": 200, "idler": 2_000_000_000])
            // speedscope: one timeline for the thread, named as most of its time is.
            let file = try SpeedscopeFile(data: Data(SpeedscopeWriter.encode(profile(of: stacks))))
            XCTAssertEqual(file.profiles.count, 1)
            XCTAssertTrue(file.profiles.allSatisfy { $0.name.hasSuffix(": idler (\(pid + 2))") }, "\(file.profiles.map(\.name))")
        }
    }

    func testAThreadThatRenamesItselfWithoutEndKeepsEverySample() {
        let names = (0..<100).map { "task-\($0)" }
        let stacks = names.map {
            CallStack(pid: pid, tid: pid + 2, threadName: $0, user: .absent, kernel: .absent, count: 10)
        }
        let byName = samplesByName(stacks: stacks)
        XCTAssertEqual(byName.values.reduce(0, +), 1_000, "no sample lost")
        XCTAssertLessThanOrEqual(byName.count, 16, "label sets per thread are bounded: \(byName.keys.sorted())")
        XCTAssertEqual(byName["task-0"], 10)
    }
}
