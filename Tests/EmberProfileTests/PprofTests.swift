import EmberTestSupport
import Foundation
import XCTest

@testable import EmberProfile

final class PprofTests: XCTestCase {
    /// A profile with everything pprof carries: two sample types, a mapping with a build id,
    /// kernel, JIT and inlined frames, labels, period and times.
    private func richProfile() -> Profile {
        var profile = Profile(sampleTypes: [.samples, .cpuNanoseconds])
        profile.periodType = .cpuNanoseconds
        profile.period = 10_101_010
        profile.startTime = 1_764_000_000_000_000_000
        profile.duration = 2_000_000_000
        profile.comments = ["made by a test"]
        let app = profile.addMapping(Mapping(start: 0x5500_0000, limit: 0x5501_0000, fileOffset: 0x1000,
                                             file: "/usr/bin/app", buildID: "ab12cd34"))
        let kernel = profile.addMapping(Mapping(start: 0, limit: .max, fileOffset: 0, file: "[kernel.kallsyms]"))
        let jit = profile.addMapping(Mapping(start: 0x7000_0000, limit: 0x7001_0000, fileOffset: 0, file: "/tmp/perf-42.map"))
        func function(_ name: String, file: String = "") -> Int32 { profile.addFunction(name: name, file: file) }
        let main = profile.addLocation(Location(address: 0x5500_1234, mapping: app, lines: [
            Line(function: function("main", file: "app.c"), line: 12),
        ]))
        let inlined = profile.addLocation(Location(address: 0x5500_2000, mapping: app, lines: [
            Line(function: function("inner", file: "app.c"), line: 40),
            Line(function: function("outer", file: "app.c"), line: 30),
        ]))
        let read = profile.addLocation(Location(address: 0xffff_ffff_8100_0000, mapping: kernel, kind: .kernel,
                                                lines: [Line(function: function("vfs_read"))]))
        let jitted = profile.addLocation(Location(address: 0x7000_0010, mapping: jit, kind: .jit,
                                                  lines: [Line(function: function("Interpreter::run"))]))
        let process = profile.addLocation(Location(kind: .process, lines: [Line(function: function("app"))]))
        let labels = profile.addLabelSet([
            Label(key: profile.intern("pid"), number: 42), Label(key: profile.intern("tid"), number: 43),
            Label(key: profile.intern("comm"), text: profile.intern("app")),
            Label(key: profile.intern("thread_name"), text: profile.intern("worker")),
        ])
        profile.addSample(stack: profile.addStack(rootFirst: [process, main, inlined, read]), values: [3, 30_303_030],
                          labels: labels, time: 1_764_000_000_500_000_000)
        profile.addSample(stack: profile.addStack(rootFirst: [process, main, jitted]), values: [1, 10_101_010],
                          labels: labels, time: 1_764_000_001_000_000_000)
        return profile
    }

    func testWhatIsWrittenIsReadBack() throws {
        let original = richProfile()
        let encoded = PprofWriter.encode(original)
        XCTAssertEqual(Array(encoded.bytes.prefix(2)), [0x1F, 0x8B], "gzip-compressed")
        XCTAssertEqual(encoded.roundedValues, 0)
        let read = try PprofReader.read(encoded.bytes, name: "rich.pb.gz")
        XCTAssertEqual(read.sampleTypes, original.sampleTypes)
        XCTAssertEqual(read.defaultSampleType, 1)
        XCTAssertEqual(read.periodType, .cpuNanoseconds)
        XCTAssertEqual(read.period, 10_101_010)
        XCTAssertEqual(read.startTime, original.startTime)
        XCTAssertEqual(read.duration, original.duration)
        XCTAssertEqual(read.comments, ["made by a test"])
        // The process frame comes back from the comm label; kinds from the mappings.
        XCTAssertEqual(FoldedWriter.text(of: read), FoldedWriter.text(of: original))
        XCTAssertEqual(FoldedWriter.text(of: read),
                       "app;main;Interpreter::run_[j] 10101010\napp;main;outer;inner_[i];vfs_read_[k] 30303030\n")
        XCTAssertEqual(FoldedWriter.text(of: read, lines: true),
                       "app;main (app.c:12);Interpreter::run_[j] 10101010\n"
                       + "app;main (app.c:12);outer (app.c:30);inner (app.c:40)_[i];vfs_read_[k] 30303030\n")
        let mapping = try XCTUnwrap(read.mappings.first { $0.file == "/usr/bin/app" })
        XCTAssertEqual(mapping.buildID, "ab12cd34")
        XCTAssertEqual(mapping.start, 0x5500_0000)
        XCTAssertEqual(mapping.fileOffset, 0x1000)
        XCTAssertTrue(read.locations.contains { $0.address == 0xffff_ffff_8100_0000 && $0.kind == .kernel })
        let labels = read.labels(ofSample: 0)
        XCTAssertEqual(read.numericLabel("pid", inSet: read.sampleLabels[0]), 42)
        XCTAssertEqual(read.label("thread_name", inSet: read.sampleLabels[0]), "worker")
        XCTAssertEqual(labels.count, 4)
        // Uncompressed protobuf is read as well.
        let plain = try PprofReader.read(PprofWriter.protobuf(of: original).bytes, name: "plain.pb")
        XCTAssertEqual(FoldedWriter.text(of: plain), FoldedWriter.text(of: read))
    }

    /// Text formats make each inlined frame a location of its own; pprof has no kind to say
    /// so, so the run joins the location of the frame it was inlined into as its extra lines.
    func testInlinedFramesReadFromTextAreLinesOfTheFrameTheyWereInlinedInto() throws {
        let text = "app;main;outer_[i];inner_[i];leaf 3\napp;main;outer_[i];other 2\napp;main;leaf 1\n"
            + "app;lone_[i];vfs_read_[k] 4\n"
        let folded = FoldedReader.read(bytes: Array(text.utf8)).profile
        let encoded = PprofWriter.encode(folded)
        let read = try PprofReader.read(encoded.bytes, name: "inlined.pb.gz")
        XCTAssertEqual(FoldedWriter.text(of: read), FoldedWriter.text(of: folded))
        let chain = try XCTUnwrap(read.locations.first { $0.lines.count == 3 })
        XCTAssertEqual(chain.lines.map { read.strings[read.functions[Int($0.function)].name] }, ["inner", "outer", "main"])

        let file = NSTemporaryDirectory() + "ember-inlined-\(getpid()).pb.gz"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: file) }
        try Data(encoded.bytes).write(to: URL(fileURLWithPath: file))
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], file))
        XCTAssertEqual(raw.foldedStacks(type: 0), [
            ["app", "main", "outer_[i]", "inner_[i]", "leaf"]: 3, ["app", "main", "outer_[i]", "other"]: 2,
            ["app", "main", "leaf"]: 1, ["app", "lone_[i]", "vfs_read_[k]"]: 4,
        ])
    }

    func testTimestampsAreKeptAsALabelWhenAskedAndReadBackAsTimes() throws {
        var profile = Profile()
        let pid = profile.intern("pid")
        let labels = profile.addLabelSet([Label(key: pid, number: 7)])
        for index in 0..<3 {
            profile.addSample(frames: [("main", .user), ("work\(index % 2)", .user)], values: [1], labels: labels,
                              time: 1_700_000_000_000_000_000 + Int64(index) * 1_000_000)
        }
        let timed = try PprofReader.read(PprofWriter.encode(profile, timestamps: true).bytes, name: "timed.pb.gz")
        XCTAssertEqual(timed.sampleTimes, profile.sampleTimes)
        XCTAssertEqual(timed.sampleCount, 3)
        for sample in 0..<timed.sampleCount {
            XCTAssertEqual(timed.labels(ofSample: sample).map { timed.strings[$0.key] }, ["pid"], "the time is no label")
        }
        let plain = try PprofReader.read(PprofWriter.encode(profile).bytes, name: "plain.pb.gz")
        XCTAssertFalse(plain.hasSampleTimes, "without timestamps, no times")
    }

    func testFractionalValuesAreRoundedAndCounted() {
        var profile = Profile()
        profile.addSample(names: ["a"], value: 1.4)
        profile.addSample(names: ["b"], value: 2)
        XCTAssertEqual(PprofWriter.encode(profile).roundedValues, 1)
    }

    func testTheFormatIsToldFromContent() {
        let pprof = PprofWriter.encode(richProfile()).bytes
        XCTAssertEqual(InputFormat.detect(pprof), .pprof)
        XCTAssertEqual(InputFormat.detect(PprofWriter.protobuf(of: richProfile()).bytes), .pprof)
        XCTAssertEqual(InputFormat.detect(Array("main;a 1\nmain;b 2\n".utf8)), .folded)
        XCTAssertEqual(InputFormat.detect(Array("\nmain;a 1\n".utf8)), .folded, "a blank first line is text")
        let perfScript = "app 123/124 [000] 1.5: 1001 cpu-clock:\n\t  1234 main+0x4 (/usr/bin/app)\n\n"
        XCTAssertEqual(InputFormat.detect(Array(perfScript.utf8)), .perfScript)
    }

    // MARK: - Hostile input

    private func error(reading bytes: [UInt8]) -> String {
        do {
            _ = try PprofReader.read(bytes, name: "bad.pb.gz")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testBrokenInputIsAOneLineErrorThatSaysWhere() {
        let good = PprofWriter.protobuf(of: richProfile()).bytes
        let compressed = Gzip.compress(good)

        let truncatedGzip = error(reading: Array(compressed.prefix(compressed.count / 2)))
        XCTAssertTrue(truncatedGzip.contains("truncated gzip data"), truncatedGzip)
        var damaged = compressed
        damaged[12] ^= 0xFF
        damaged[13] ^= 0xFF
        XCTAssertTrue(error(reading: damaged).contains("gzip data"), error(reading: damaged))

        let truncated = error(reading: Array(good.prefix(good.count - 3)))
        XCTAssertTrue(truncated.contains("not a valid pprof profile") && truncated.contains("at byte"), truncated)
        let garbage = error(reading: [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        XCTAssertTrue(garbage.contains("at byte 1"), garbage)
        let badWireType = error(reading: [0x0F, 0x00])
        XCTAssertTrue(badWireType.contains("invalid wire type 7 at byte 0"), badWireType)

        for message in [truncatedGzip, truncated, garbage] { XCTAssertFalse(message.contains("\n"), message) }
    }

    func testIdsMustResolveAndTheStringTableMustStartEmpty() {
        func profileBytes(_ build: (inout ProtobufWriter) -> Void) -> [UInt8] {
            var out = ProtobufWriter()
            var scratch = ProtobufWriter()
            out.message(1, scratch: &scratch) { $0.field(1, Int64(1)); $0.field(2, Int64(2)) }  // samples/count
            build(&out)
            return out.bytes
        }
        func strings(_ out: inout ProtobufWriter, _ values: [String]) {
            for value in values { var value = value; value.withUTF8 { out.field(6, bytes: $0) } }
        }
        var scratch = ProtobufWriter()
        let danglingLocation = profileBytes { out in
            out.message(2, scratch: &scratch) { $0.packed(1, [7 as UInt64]); $0.packed(2, [1 as UInt64]) }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: danglingLocation).contains("names location 7, which is not in the profile"),
                      error(reading: danglingLocation))
        let danglingFunction = profileBytes { out in
            var inner = ProtobufWriter()
            out.message(4, scratch: &scratch) { location in
                location.field(1, UInt64(1))
                location.message(4, scratch: &inner) { $0.field(1, UInt64(9)) }
            }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: danglingFunction).contains("names function 9"), error(reading: danglingFunction))
        let nonEmptyFirst = profileBytes { strings(&$0, ["x", "samples", "count"]) }
        XCTAssertTrue(error(reading: nonEmptyFirst).contains("string_table[0] must be the empty string"))
        let stringOutOfRange = profileBytes { out in
            out.message(5, scratch: &scratch) { $0.field(1, UInt64(1)); $0.field(2, Int64(99)) }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: stringOutOfRange).contains("names string 99"), error(reading: stringOutOfRange))
        let wrongValueCount = profileBytes { out in
            out.message(2, scratch: &scratch) { $0.packed(2, [1, 2] as [UInt64]) }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: wrongValueCount).contains("has 2 values for 1 sample types"), error(reading: wrongValueCount))
        let zeroID = profileBytes { out in
            out.message(5, scratch: &scratch) { $0.field(2, Int64(1)) }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: zeroID).contains("function with id 0"), error(reading: zeroID))
        let duplicate = profileBytes { out in
            for _ in 0..<2 { out.message(5, scratch: &scratch) { $0.field(1, UInt64(3)) } }
            strings(&out, ["", "samples", "count"])
        }
        XCTAssertTrue(error(reading: duplicate).contains("second function with id 3"), error(reading: duplicate))
    }

    func testAnUnnamedLocationIsNamedByItsModuleAndOffset() throws {
        var out = ProtobufWriter()
        var scratch = ProtobufWriter()
        out.message(1, scratch: &scratch) { $0.field(1, Int64(1)); $0.field(2, Int64(2)) }
        out.message(2, scratch: &scratch) { $0.packed(1, [1, 2] as [UInt64]); $0.packed(2, [5 as UInt64]) }
        out.message(3, scratch: &scratch) {
            $0.field(1, UInt64(1)); $0.field(2, UInt64(0x1000)); $0.field(3, UInt64(0x9000))
            $0.field(4, UInt64(0x200)); $0.field(5, Int64(3))
        }
        out.message(4, scratch: &scratch) { $0.field(1, UInt64(1)); $0.field(2, UInt64(1)); $0.field(3, UInt64(0x1234)) }
        out.message(4, scratch: &scratch) { $0.field(1, UInt64(2)); $0.field(3, UInt64(0xabc)) }
        for text in ["", "samples", "count", "/lib/libfoo.so"] { var text = text; text.withUTF8 { out.field(6, bytes: $0) } }
        let profile = try PprofReader.read(out.bytes, name: "unnamed.pb")
        XCTAssertEqual(FoldedWriter.text(of: profile), "0xabc;libfoo.so+0x434 5\n")
    }

    // MARK: - Go's own profiles

    /// Builds samples/go/pprofgen and has it write a CPU and a heap profile.
    private func goProfiles() throws -> (cpu: String, heap: String) {
        let directory = NSTemporaryDirectory() + "ember-go-\(getpid())"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        return try GoPprof.sampleProfiles(in: directory)
    }

    func testGoCPUAndHeapProfilesReadAsGoToolPprofReadsThem() throws {
        let (cpu, heap) = try goProfiles()
        let cpuProfile = try PprofReader.read(try bytes(of: cpu), name: cpu)
        XCTAssertEqual(cpuProfile.sampleTypes, [.samples, .cpuNanoseconds])
        XCTAssertEqual(cpuProfile.defaultSampleType, 1)
        let raw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], cpu))
        for type in 0..<2 {
            var stacks: [[String]: Double] = [:]
            for line in FoldedWriter.text(of: cpuProfile, sampleType: type).split(separator: "\n") {
                let space = try XCTUnwrap(line.lastIndex(of: " "))
                stacks[line[..<space].split(separator: ";").map(String.init), default: 0]
                    += try XCTUnwrap(Double(line[line.index(after: space)...]))
            }
            XCTAssertEqual(stacks, raw.foldedStacks(type: type), "sample type \(type)")
        }
        let text = FoldedWriter.text(of: cpuProfile, sampleType: 0)
        XCTAssertTrue(text.contains("main.hotA;main.spin"), text)
        XCTAssertTrue(text.contains("main.hotB;main.spin"), text)

        let heapProfile = try PprofReader.read(try bytes(of: heap), name: heap)
        XCTAssertEqual(heapProfile.sampleTypes.map(\.type), ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"])
        XCTAssertEqual(heapProfile.defaultSampleType, 3, "the last, as pprof chooses without a default")
        let heapRaw = try GoPprof.parseRaw(try GoPprof.run(["-raw"], heap))
        let space = try XCTUnwrap(heapProfile.sampleType(named: "alloc_space"))
        let allocated = heapRaw.foldedStacks(type: space)
        XCTAssertEqual(heapProfile.total(ofType: space), allocated.values.reduce(0, +))
        let allocA = allocated.filter { $0.key.last == "main.allocA" }.values.reduce(0, +)
        let allocB = allocated.filter { $0.key.last == "main.allocB" }.values.reduce(0, +)
        XCTAssertEqual(allocA, 3 * allocB, accuracy: allocB * 0.01, "allocA allocates three times allocB's bytes")
    }
}

private func bytes(of path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
