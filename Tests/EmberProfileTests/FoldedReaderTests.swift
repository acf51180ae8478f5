import EmberProfile
import XCTest

final class FoldedReaderTests: XCTestCase {
    private func read(_ text: String) -> Profile {
        FoldedReader.read(bytes: Array(text.utf8)).profile
    }

    func testKindsBecomeDataAndRoundTrip() throws {
        let text = "app;main;read;sys_read_[k];vfs_read_[k] 3\napp;main;jitted_[j] 2\napp;main;wake_[w] 1\n"
        let profile = read(text)
        let stack = try XCTUnwrap(profile.sampleStacks.first)
        let frames = profile.frames(ofStack: stack)
        XCTAssertEqual(frames.map { profile.name(ofFunction: $0.function) }, ["app", "main", "read", "sys_read", "vfs_read"])
        XCTAssertEqual(frames.map(\.kind), [.user, .user, .user, .kernel, .kernel])
        XCTAssertEqual(profile.frames(ofStack: profile.sampleStacks[1]).last?.kind, .jit)
        XCTAssertEqual(profile.frames(ofStack: profile.sampleStacks[2]).last?.kind, .waker)
        // Folded text in ember's order comes back byte for byte.
        let sorted = "app;main;jitted_[j] 2\napp;main;read;sys_read_[k];vfs_read_[k] 3\napp;main;wake_[w] 1\n"
        XCTAssertEqual(FoldedWriter.text(of: read(sorted)), sorted)
    }

    func testPythonFramesKeepTheirKindThroughFoldedTextAndPprof() throws {
        let text = "python3.12;Py_RunMain;<module> (app.py:12)_[p];handle (app.py:40)_[p];write_[k] 7\n"
        let profile = read(text)
        let frames = profile.frames(ofStack: profile.sampleStacks[0])
        XCTAssertEqual(frames.map(\.kind), [.user, .user, .python, .python, .kernel])
        XCTAssertEqual(profile.name(ofFunction: frames[3].function), "handle (app.py:40)")
        XCTAssertEqual(FoldedWriter.text(of: profile), text)
        let pprof = try PprofReader.read(PprofWriter.encode(profile).bytes, name: "python.pb.gz")
        XCTAssertEqual(FoldedWriter.text(of: pprof), text)
        XCTAssertTrue(pprof.mappings.contains { $0.file == "[python]" })
    }

    func testOffCPUFramesKeepTheirKindThroughFoldedTextAndPprof() throws {
        let text = "app;main;compute 20\napp;main;read;schedule_[k];[off-cpu]_[o] 1500\n"
        let profile = read(text)
        let frames = profile.frames(ofStack: profile.sampleStacks[1])
        XCTAssertEqual(frames.map(\.kind), [.user, .user, .user, .kernel, .offCPU])
        XCTAssertEqual(profile.name(ofFunction: frames[4].function), "[off-cpu]")
        XCTAssertEqual(FoldedWriter.text(of: profile), text)
        // pprof spells the kind as the location's mapping, and reads it back.
        let back = try PprofReader.read(PprofWriter.encode(profile).bytes, name: "offcpu.pb.gz")
        XCTAssertEqual(back.frames(ofStack: back.sampleStacks[1]).last?.kind, .offCPU)
        XCTAssertEqual(FoldedWriter.text(of: back), text)
    }

    func testInlinedFramesAreLinesOfTheFrameTheyWereInlinedInto() throws {
        let profile = read("app;hot_loop;step_one_[i];step_two_[i];leaf 5\napp;hot_loop 1\n")
        let locations = profile.locations(ofStack: profile.sampleStacks[0])
        // leaf, then hot_loop with its two inlined functions, then app: innermost first.
        XCTAssertEqual(locations.count, 3)
        let inlined = profile.locations[Int(locations[1])]
        XCTAssertEqual(inlined.lines.map { profile.name(ofFunction: $0.function) }, ["step_two", "step_one", "hot_loop"])
        XCTAssertEqual(inlined.kind, .user)
        // hot_loop alone is another location than hot_loop with its inlined calls.
        XCTAssertNotEqual(profile.locations(ofStack: profile.sampleStacks[1]).first, locations[1])
        XCTAssertEqual(FoldedWriter.text(of: profile), "app;hot_loop 1\napp;hot_loop;step_one_[i];step_two_[i];leaf 5\n")
    }

    func testAnInlinedFrameWithNothingToBeInlinedIntoKeepsItsMark() {
        XCTAssertEqual(FoldedWriter.text(of: read("alone_[i];b 1\n")), "alone_[i];b 1\n")
    }

    func testSharedPrefixesOfUnsortedLinesGiveTheSameStacks() {
        let lines = (0..<300).map { "r;a\($0 % 7);b\($0 % 5)\($0 % 3 == 0 ? "_[i]" : "");c\($0 % 11) \($0 + 1)" }
        let sorted = read(lines.sorted().joined(separator: "\n"))
        let shuffled = read(lines.shuffled().joined(separator: "\n"))
        XCTAssertEqual(FoldedWriter.text(of: sorted), FoldedWriter.text(of: shuffled))
        XCTAssertEqual(sorted.stacks.count, shuffled.stacks.count)
        XCTAssertEqual(sorted.total(ofType: 0), Double((1...300).reduce(0, +)))
    }
}
