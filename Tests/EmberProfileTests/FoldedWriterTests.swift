import EmberProfile
import XCTest

final class FoldedWriterTests: XCTestCase {
    func testLinesAreSortedRootFirstWithCountsLast() {
        var profile = Profile()
        profile.addSample(names: ["app", "main", "work"], value: 3)
        profile.addSample(names: ["app", "main", "idle"], value: 1)
        profile.addSample(names: ["app", "main", "work"], value: 2)
        profile.addSample(names: ["app", "main"], value: 4)
        XCTAssertEqual(FoldedWriter.text(of: profile), """
            app;main 4
            app;main;idle 1
            app;main;work 5

            """)
        XCTAssertEqual(profile.total(ofType: 0), 10)
        XCTAssertEqual(profile.sampleCount, 4)
    }

    func testSeparatorsInNamesAreReplaced() {
        var profile = Profile()
        profile.addSample(names: ["a;b", "c\nd"], value: 2)
        XCTAssertEqual(FoldedWriter.text(of: profile), "a:b;c d 2\n")
    }

    func testFractionalCountsKeepTheirFraction() {
        XCTAssertEqual(FoldedWriter.format(2.5), "2.5")
        XCTAssertEqual(FoldedWriter.format(7), "7")
        var profile = Profile()
        profile.addSample(names: ["a", "b"], value: 0.1)
        profile.addSample(names: ["a", "b"], value: 0.2)
        profile.addSample(names: ["a"], value: 0.7)
        // Each stack's own count is summed as given, not left as a total minus its children's.
        XCTAssertEqual(FoldedWriter.text(of: profile), "a 0.7\na;b \(0.1 + 0.2)\n")
    }

    func testSortOrderIsFrameByFrame() {
        var profile = Profile()
        profile.addSample(names: ["a", "b"], value: 1)
        profile.addSample(names: ["a", "B"], value: 1)
        profile.addSample(names: ["a-x"], value: 1)
        profile.addSample(names: ["a"], value: 1)
        // A caller before its callees (`a;...` before `a-x`, though `-` sorts before `;`).
        XCTAssertEqual(FoldedWriter.text(of: profile), "a 1\na;B 1\na;b 1\na-x 1\n")
    }

    func testKindsAreWrittenAsSuffixesAndFramesOfDifferentKindsStayApart() {
        var profile = Profile()
        profile.addSample(frames: [("app", .process), ("read", .user), ("read", .kernel)], values: [1])
        profile.addSample(frames: [("app", .process), ("jitted", .jit), ("helper", .inlined)], values: [2])
        XCTAssertEqual(FoldedWriter.text(of: profile), "app;jitted_[j];helper_[i] 2\napp;read;read_[k] 1\n")
    }
}

final class FoldedLabelTests: XCTestCase {
    private func label(_ name: String, file: String? = nil, line: Int64 = 0, kind: FrameKind) -> String {
        var label: [UInt8] = []
        Array(name.utf8).withUnsafeBufferPointer { name in
            if let file {
                Array(file.utf8).withUnsafeBufferPointer {
                    FoldedFormat.appendLabel(name: name, position: ($0, line), kind: kind, to: &label)
                }
            } else {
                FoldedFormat.appendLabel(name: name, kind: kind, to: &label)
            }
        }
        return String(decoding: label, as: UTF8.self)
    }

    func testLabelsCarryPositionAndKind() {
        XCTAssertEqual(label("f", kind: .user), "f")
        XCTAssertEqual(label("f", file: "/src/dir/inline.c", line: 42, kind: .user), "f (inline.c:42)")
        XCTAssertEqual(label("g", file: "/src/dir/inline.c", line: 42, kind: .inlined), "g (inline.c:42)_[i]")
        XCTAssertEqual(label("jit_code", kind: .jit), "jit_code_[j]")
        XCTAssertEqual(label("schedule", kind: .kernel), "schedule_[k]")
        // A `;` would split the frame in folded output.
        XCTAssertEqual(label("a;b", kind: .user), "a:b")
        for kind in FrameKind.allCases {
            let text = label("x", kind: kind)
            let decoded = Array(text.utf8).withUnsafeBufferPointer { FoldedFormat.kind(ofLabel: $0) }
            XCTAssertEqual(decoded, FoldedFormat.annotation(of: kind) == nil ? .user : kind, "\(kind)")
        }
    }
}
