import EmberTestSupport
import Foundation
import XCTest

/// `ember record`'s pprof and speedscope outputs, read by their real consumers or checked
/// against their specification, and agreeing with the folded output of the same recording.
final class ProfileFormatTests: RecordingTestCase {
    /// Records `sample` into folded and pprof at once; the two must describe the same samples.
    private func recordBoth(_ binary: String, arguments: [String], options: [String] = [])
        throws -> (folded: Folded, pprof: String, result: CommandResult) {
        let name = binary.split(separator: "/").last.map(String.init) ?? "sample"
        let folded = path("\(name).folded")
        let pprof = path("\(name).pb.gz")
        let result = try ember(["record", "-F", "499"] + options + ["-o", folded, "-o", pprof, "--", binary]
                               + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return (try Folded(path: folded), pprof, result)
    }

    func testGoToolPprofReadsTheSameSamplesAsTheFoldedOutput() throws {
        // Kernel frames (syscalls), frame pointers with the frameless-leaf fix.
        let (folded, pprof, _) = try recordBoth(try sampleBinary("syscalls"), arguments: ["2"])
        XCTAssertGreaterThan(folded.total, 100)
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
        XCTAssertEqual(raw.sampleTypes, ["samples/count", "cpu/nanoseconds"])
        XCTAssertEqual(raw.defaultType, 1, "cpu is the default, as in Go's CPU profiles")
        let stacks = raw.foldedStacks(type: 0)
        XCTAssertEqual(stacks, folded.stacks, "pprof's samples, named as folded text names them")
        XCTAssertTrue(stacks.keys.contains { $0.last?.hasSuffix("_[k]") == true }, "kernel frames are in it")
        // cpu nanoseconds are the counts times the period.
        let cpu = raw.foldedStacks(type: 1)
        let period = try XCTUnwrap(cpu.first.map { $0.value / stacks[$0.key]! })
        XCTAssertEqual(period, 1e9 / 499, accuracy: 1)
        for sample in raw.samples {
            XCTAssertNotNil(sample.labels["pid"])
            XCTAssertNotNil(sample.labels["tid"])
            XCTAssertEqual(sample.labels["comm"], "syscalls")
            XCTAssertEqual(sample.labels["thread_name"], "syscalls")
        }

        // pprof's own report, function by function, matches the folded output's figures.
        let top = GoPprof.parseTop(try GoPprof.run(["-top", "-sample_index=samples", "-nodecount=100000",
                                                    "-nodefraction=0"], pprof))
        let expected = pprofFigures(ofFolded: folded.stacks)
        XCTAssertEqual(Set(top.keys), Set(expected.keys))
        for (function, figures) in expected {
            XCTAssertEqual(top[function]?.flat, figures.flat, "flat of \(function)")
            XCTAssertEqual(top[function]?.cumulative, figures.cumulative, "cum of \(function)")
        }
    }

    func testInlinedFramesAreLinesOfOneLocationWithTheirSourcePositions() throws {
        let (folded, pprof, _) = try recordBoth(try symbolizeSample("inline"), arguments: ["2"], options: ["--lines"])
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
        // With --lines, folded frames carry their position: pprof keeps it in the lines instead.
        let withoutPositions = folded.stacks.reduce(into: [[String]: Double]()) { result, entry in
            let frames = entry.key.map { frame -> String in
                // Any source file: a sample may land in libc's assembly (syscall-template.S:117).
                let suffix = frame.hasSuffix("_[i]") ? "_[i]" : frame.hasSuffix("_[k]") ? "_[k]" : ""
                let name = frame.dropLast(suffix.count)
                guard name.hasSuffix(")"), let open = name.range(of: " (", options: .backwards),
                      name[open.upperBound...].contains(":") else { return frame }
                return String(name[..<open.lowerBound]) + suffix
            }
            result[frames, default: 0] += entry.value
        }
        XCTAssertEqual(raw.foldedStacks(type: 0), withoutPositions)
        let chain = try XCTUnwrap(raw.locations.values.first { $0.functions.first == "step_three" })
        XCTAssertEqual(chain.functions, ["step_three", "step_two", "step_one", "hot_loop"])
        let text = try GoPprof.run(["-traces", "-lines", "-sample_index=samples"], pprof)
        XCTAssertTrue(text.contains("inline.c:"), "line numbers are in the profile")
    }

    func testSpeedscopeOutputFollowsTheFormatAndKeepsTimeWithDWARFSamples() throws {
        let output = path("threads.speedscope.json")
        let folded = path("threads.folded")
        // One spinning worker more than there are CPUs: each waits its turn, so each has gaps.
        let workerCount = ProcessInfo.processInfo.activeProcessorCount + 1
        let result = try ember(["record", "-F", "199", "--unwind", "dwarf", "-o", output, "-o", folded, "--",
                                try sampleBinary("threads"), "2", "\(workerCount)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let file = try SpeedscopeFile(path: output)
        for profile in file.profiles {
            XCTAssertEqual(profile.unit, "nanoseconds")
            // Time order: gaps while a thread did not run are empty stacks, so the samples and
            // gaps of a thread add up to its stretch of the recording.
            XCTAssertEqual(profile.endValue - profile.startValue, profile.weights.reduce(0, +), accuracy: 1)
            XCTAssertLessThanOrEqual(profile.endValue - profile.startValue, 3e9)
        }
        let workers = file.profiles.filter { $0.name.contains("worker-") }
        XCTAssertEqual(workers.count, workerCount, file.profiles.map(\.name).joined(separator: ", "))
        for worker in workers {
            XCTAssertTrue(worker.samples.contains { $0.isEmpty }, "more workers than CPUs: some gaps")
            XCTAssertGreaterThan(worker.weights.reduce(0, +), 1e9, "a worker spins for about 2 s")
        }
        // The same samples as the folded output: per stack, speedscope's weights are the
        // counts times the period.
        var fromSpeedscope: [[String]: Double] = [:]
        for profile in file.profiles {
            for (stack, weight) in zip(profile.samples, profile.weights) where !stack.isEmpty {
                fromSpeedscope[stack.map { file.frames[$0] }, default: 0] += weight
            }
        }
        let counts = try Folded(path: folded).stacks.reduce(into: [[String]: Double]()) {
            $0[Array($1.key.dropFirst()), default: 0] += $1.value * 1e9 / 199
        }
        XCTAssertEqual(Set(fromSpeedscope.keys), Set(counts.keys))
        for (stack, weight) in counts { XCTAssertEqual(fromSpeedscope[stack] ?? 0, weight, accuracy: weight * 0.001 + 1) }
    }

    /// Samples counted in the kernel (frame pointers, the kernel's CFI walk) keep their times
    /// when the output shows time: each also sends its time through the ring buffer.
    func testCountedSamplesKeepTheirTimesForTheTimeView() throws {
        for unwind in ["fp", "auto"] {
            let page = path("phases-\(unwind).html")
            let folded = path("phases-\(unwind).folded")
            let pprof = path("phases-\(unwind).pb.gz")
            let result = try ember(["record", "-F", "499", "--unwind", unwind, "--timestamps", "-o", page, "-o", folded,
                                    "-o", pprof, "--", try sampleBinary("phases"), "2"])
            XCTAssertEqual(result.status, 0, result.stderr)
            // go tool pprof reads the times too: a timestamp label on every sample, in nanoseconds.
            let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], pprof))
            let stamps = try raw.samples.map { sample -> Double in
                let text = try XCTUnwrap(sample.labels["timestamp"], "\(unwind): a sample without its time")
                XCTAssertTrue(text.hasSuffix(" nanoseconds"), text)
                return try XCTUnwrap(Double(text.split(separator: " ")[0]))
            }
            XCTAssertEqual(raw.foldedStacks(type: 0).values.reduce(0, +), try Folded(path: folded).stacks.values.reduce(0, +))
            XCTAssertLessThan((stamps.max() ?? 0) - (stamps.min() ?? 0), 3e9, "\(unwind): within the recording")
            let html = try String(contentsOfFile: page, encoding: .utf8)
            let opening = "<script type=\"application/json\" id=\"ember-data\">"
            let start = try XCTUnwrap(html.range(of: opening)).upperBound
            let end = try XCTUnwrap(html.range(of: "</script>", range: start..<html.endIndex)).lowerBound
            let data = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(html[start..<end].utf8)) as? [String: Any])
            let deltas = try XCTUnwrap(data["time"] as? [Int])
            let total = try Folded(path: folded).stacks.values.reduce(0, +)
            XCTAssertGreaterThan(total, 100, "\(unwind): a recording of some size (the machine may be busy)")
            XCTAssertEqual(Double(deltas.count), total, "\(unwind): every sample has its time")
            XCTAssertEqual((data["untimedWeight"] as? [Double])?.reduce(0, +), 0, unwind)
            XCTAssertTrue(deltas.allSatisfy { $0 >= 0 }, "time order")
            XCTAssertLessThan(deltas.reduce(0, +), 3_000_000, "\(unwind): within the recording (microseconds)")
            // phase_one's samples come before phase_two's.
            let labels = try XCTUnwrap(data["labels"] as? [String])
            let label = try XCTUnwrap(data["label"] as? [Int])
            let nodes = try XCTUnwrap(data["node"] as? [Int])
            var time = 0
            var times: [String: [Int]] = [:]
            for (delta, node) in zip(deltas, nodes) {
                time += delta
                times[labels[label[node]], default: []].append(time)
            }
            let one = try XCTUnwrap(times["phase_one"]).sorted(), two = try XCTUnwrap(times["phase_two"]).sorted()
            XCTAssertLessThan(one[one.count / 2], 1_000_000, unwind)
            XCTAssertGreaterThan(two[two.count / 2], 1_000_000, unwind)
            XCTAssertLessThan(one[one.count * 9 / 10], two[two.count / 10], "\(unwind): the first phase before the second")
        }
    }

    func testConvertingTheRecordingBackGivesTheFoldedOutput() throws {
        let (folded, pprof, _) = try recordBoth(try sampleBinary("syscalls"), arguments: ["1"])
        let back = path("back.folded")
        let result = try ember(["convert", pprof, "--sample-type", "samples", "-o", back])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try Folded(path: back).stacks, folded.stacks)
        let rendered = path("back.svg")
        XCTAssertEqual(try ember(["render", pprof, "-o", rendered]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: rendered, encoding: .utf8).contains("nanoseconds"),
                      "a pprof input's graph counts in its default sample type's unit")
    }

    func testTheGraphOfARecordingIsTheGraphOfItsFoldedOutput() throws {
        let folded = path("same.folded")
        let svg = path("same.svg")
        let result = try ember(["record", "-F", "499", "--lines", "-o", folded, "-o", svg, "--",
                                try symbolizeSample("inline"), "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let recorded = try String(contentsOfFile: svg, encoding: .utf8)
        func text(_ id: String) throws -> String {
            let start = try XCTUnwrap(recorded.range(of: "<text id=\"\(id)\""))
            let close = try XCTUnwrap(recorded.range(of: ">", range: start.upperBound..<recorded.endIndex))
            let end = try XCTUnwrap(recorded.range(of: "</text>", range: close.upperBound..<recorded.endIndex))
            return String(recorded[close.upperBound..<end.lowerBound])
        }
        let rendered = path("rendered.svg")
        let render = try ember(["render", folded, "--title", try text("title"), "--subtitle", try text("subtitle"),
                                "-o", rendered])
        XCTAssertEqual(render.status, 0, render.stderr)
        // Byte for byte: the profile's frames are labelled as folded text labels them.
        XCTAssertEqual(try String(contentsOfFile: rendered, encoding: .utf8), recorded)
    }

    func testAComparisonOfTwoPprofProfilesIsAPprofProfileOfTwoSampleTypes() throws {
        let (beforeFolded, before, _) = try recordBoth(try sampleBinary("syscalls"), arguments: ["1"])
        let after = path("after.pb.gz")
        let afterFolded = path("after.folded")
        XCTAssertEqual(try ember(["record", "-F", "499", "-o", after, "-o", afterFolded, "--",
                                  try sampleBinary("split"), "1"]).status, 0)
        let comparison = path("diff.pb.gz")
        let folded = path("diff.folded")
        let result = try ember(["diff", "--no-normalize", "--sample-type", "samples", before, after,
                                "-o", comparison, "-o", folded])
        XCTAssertEqual(result.status, 0, result.stderr)
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], comparison))
        XCTAssertEqual(raw.sampleTypes, ["before/count", "after/count"])
        XCTAssertEqual(raw.foldedStacks(type: 0), beforeFolded.stacks)
        XCTAssertEqual(raw.foldedStacks(type: 1), try Folded(path: afterFolded).stacks)
        // The same comparison from the folded files.
        let fromFolded = path("diff2.folded")
        XCTAssertEqual(try ember(["diff", "--no-normalize", path("syscalls.folded"), afterFolded, "-o", fromFolded]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: folded, encoding: .utf8),
                       try String(contentsOfFile: fromFolded, encoding: .utf8))
    }

    func testBadInputIsOneLineAndNoFile() throws {
        let garbage = path("garbage.pb.gz")
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: garbage))
        for command in [["render", garbage, "-o", path("x.svg")], ["convert", garbage, "-o", path("x.folded")],
                        ["diff", garbage, garbage, "-o", path("x.svg")]] {
            let result = try ember(command)
            XCTAssertNotEqual(result.status, 0, command.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains("truncated gzip data"), result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.svg")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.folded")))
        let unknown = try ember(["convert", garbage, "-o", path("x.png")])
        XCTAssertTrue(unknown.stderr.contains("cannot tell the format of"), unknown.stderr)
        let page = path("x.html")
        let bad = try ember(["render", garbage, "-o", page])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: page))
    }

    /// render and convert write the time view of any input (a folded one says it has no
    /// times); diff writes none, and says why in one line.
    func testTheTimeViewComesFromRenderAndConvertNotDiff() throws {
        let folded = path("plain.folded")
        try "main;a 3\nmain;b 2\n".write(toFile: folded, atomically: true, encoding: .utf8)
        for command in ["render", "convert"] {
            let page = path("\(command).html")
            let result = try ember([command, folded, "-o", page])
            XCTAssertEqual(result.status, 0, result.stderr)
            let html = try String(contentsOfFile: page, encoding: .utf8)
            XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
            XCTAssertTrue(html.contains("have no times"), "a folded input says why there is no heat map")
        }
        let page = path("diff.html")
        let diff = try ember(["diff", folded, folded, "-o", page])
        XCTAssertNotEqual(diff.status, 0)
        XCTAssertTrue(diff.stderr.contains("ember diff writes no .html"), diff.stderr)
        XCTAssertEqual(diff.stderr.split(separator: "\n").count, 1, diff.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: page))
    }
}
