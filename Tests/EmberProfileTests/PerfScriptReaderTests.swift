import EmberTestSupport
import Foundation
import XCTest

@testable import EmberProfile

/// The perf script reader against FlameGraph's stackcollapse-perf.pl itself: ember's folded
/// output of each input must be the script's (`--all`, same options), allowing for the
/// reader's deliberate differences and nothing else:
/// 1. `name (inlined)` frames are inlined frames in ember (`name_[i]`), plain in the script;
/// 2. line order: compared sorted bytewise;
/// 3. a last sample that no blank line ends is kept by ember (the script drops it): the
///    script's input gets a blank line at its end.
final class PerfScriptReaderTests: XCTestCase {
    // MARK: - Headers

    func testHeadersWithAndWithoutPidAndTid() throws {
        let input = """
            bash 123 1000.000001: 10 cycles:
            \t400100 main (/usr/bin/bash)

            bash 12/34 1000.000002: 20 cycles:
            \t400100 main (/usr/bin/bash)

            bash 12/0 1000.000003: 30 cycles:
            \t400100 main (/usr/bin/bash)

            java 24636/25607 [000] 94564.109216: 1 cycles:
            \t400200 Interpreter (/tmp/perf-24636.map)

            V8 WorkerThread 25607/25608 [001] 94564.109216: 100 cycles:
            \t400300 v8::internal::Heap::Scavenge() (/usr/bin/node)

            V8 WorkerThread 25607 94564.109217: 104345 cycles:
            \t400300 v8::internal::Heap::Scavenge() (/usr/bin/node)

            kworker/0:1 57 [000] 3.500000: 7 cycles:
            \tffffffff81000100 worker_thread+0x120 ([kernel.kallsyms])

            kworker/u4:2-events_unbound 99/99 [001] 3.500001: 8 cycles:
            \tffffffff81000100 worker_thread+0x120 ([kernel.kallsyms])

            sh 5 6 [000] 1.000000: 9 cycles:
            \t400100 main (/bin/sh)

            Web Content 77/78   [002]    12.000000:     11   cycles:  
            \t400100 main (/usr/lib/firefox/firefox)


            """
        for options in [CollapseOptions(), CollapseOptions(pid: true), CollapseOptions(tid: true)] {
            let (_, report) = try assertMatchesPerl(input, options)
            XCTAssertEqual(report.samples, 10)
            XCTAssertEqual(report.unrecognizedLines, 0)
        }
    }

    func testPeriods() throws {
        try assertMatchesPerl("""
            app 10 1.000000: 250 cycles:
            \t1 work (/app)

            app 10 1.000001: cycles:
            \t1 work (/app)

            app 10 1.000002: 0 cycles:
            \t1 work (/app)

            app 10 1.000003:    007 cycles:\t
            \t1 work (/app)

            app 10 1.000004: 10000000000 cycles:
            \t1 idle (/app)

            app 10 1.000005
            \t1 nothing_printed (/app)

            app 10 1.000006: 5 cycles: 3
            \t1 no_event (/app)


            """)
    }

    // MARK: - Events

    func testOnlyTheFirstEventIsKeptByDefault() throws {
        let input = """
            app 10 1.000000: 100 cycles:
            \t1 on_cycles (/app)

            app 10 1.000001: 200 instructions:
            \t1 on_instructions (/app)

            app 10 1.000002: 300 cycles:
            \t1 on_cycles (/app)

            app 10 1.000003: 400 cpu-clock:pppH:
            \t1 on_clock (/app)


            """
        let (_, report) = try assertMatchesPerl(input)
        XCTAssertEqual(report.keptEvent, "cycles")
        XCTAssertEqual(report.filteredSamples, 2)
        XCTAssertEqual(report.otherEvents, ["instructions", "cpu-clock:pppH"])
        let (profile, filtered) = try assertMatchesPerl(input, CollapseOptions(eventFilter: "instructions"))
        XCTAssertEqual(filtered.filteredSamples, 3)
        XCTAssertEqual(profile.sampleTypes[1], ValueType(type: "instructions", unit: "count"))
        try assertMatchesPerl(input, CollapseOptions(eventFilter: "cpu-clock:pppH"))
        try assertMatchesPerl(input, CollapseOptions(eventFilter: "none-of-these"))
        // The script's default filter is the empty one (which it cannot be given).
        XCTAssertEqual(emberLines(of: input, CollapseOptions(eventFilter: "")), emberLines(of: input))
    }

    func testTheHeaderOfAnotherEventIsSkippedAlone() throws {
        // Without a blank line before it, its frames join the sample read before it, as the
        // script keeps one stack until a blank line.
        try assertMatchesPerl("""
            app 10 1.000000: 100 cycles:
            \t1 leaf_of_first (/app)
            app 10 1.000001: 200 instructions:
            \t1 leaf_of_second (/app)
            \t1 main (/app)

            app 10 1.000002: 300 instructions:
            \t1 dropped (/app)


            """)
    }

    func testAHeaderWithoutABlankLineBeforeItContinuesTheSample() throws {
        let (_, report) = try assertMatchesPerl("""
            first 10 1.000000: 100 cycles:
            \t1 inner (/app)
            second 11 1.000001: 7 cycles:
            \t1 outer (/app)

            one-line 12 1.000002: 5 cycles: 400100 main (/app)
            one-line 12 1.000003: 5 cycles: 400100 main (/app)

            """)
        // What ember keeps at the end and the script drops: the last, unended, sample.
        XCTAssertEqual(report.samples, 2)
    }

    // MARK: - Frames

    func testUnknownSymbols() throws {
        let input = """
            app 10 1.000000: 1 cycles:
            \t7f0000001234 [unknown] (/usr/lib/x86_64-linux-gnu/libfoo.so.1)
            \t7f0000005678 [unknown] ([unknown])
            \tffffffffc0001000 [unknown] ([nf_conntrack])
            \t7f0000009abc [unknown] (libbare.so)
            \t7f000000aaaa [unknown]+0x10 (/opt/lib(x).so)
            \t7f000000bbbb [unknown] (/lib;semi/libz.so)
            \t7f000000cccc [unknown]->[unknown] (/lib/libinline.so)
            \t400100 main (/app)


            """
        try assertMatchesPerl(input)
        try assertMatchesPerl(input, CollapseOptions(addresses: true))
    }

    func testNamesAreTidied() throws {
        let input = """
            app 10 1.000000: 1 cycles:
            \t1 offset+0x1f (/app)
            \t1 upper_offset+0x1F (/app)
            \t1 empty_offset+0x (/app)
            \t1 twice+0x10+0x20 (/app)
            \t1 std::vector<int, std::allocator<int> >::push_back(int const&) (/usr/lib/libstdc++.so.6)
            \t1 (anonymous namespace)::helper(int)+0x4 (/app)
            \t1 outer(int)::(anonymous namespace)::inner (/app)
            \t1 net/http.(*Client).Do (/app)
            \t1 runtime.(*mheap).alloc.func1+0x2a (/app)
            \t1 main.(*T).m (/app)
            \t1 RegExp:[&<>\\"\\'] (/tmp/perf-7539.map)
            \t1 say "hello" 'there' (/app)
            \t1 semi;colon;name (/app)
            \t1 Lcom/example/Foo;.bar(Ljava/lang/String;)V (/app)
            \t1 (skipped_process_name) (/app)
            \t1 (anything)+0x10 (/app)
            \t1 operator() (x) (/app)
            \t1 name with spaces (/app)
            \t1 \t tabbed (/app)
            \t1 "" (/app)

            java 20 1.000001: 1 cycles:
            \t1 Lcom/example/Foo;.bar(Ljava/lang/String;)V (/app)
            \t1 Lnoslash (/app)
            \t1 Lorg/mozilla/javascript/MemberBox;.<init>(Ljava/lang/reflect/Method;)V (/tmp/perf-20.map)

            javac 21 1.000002: 1 cycles:
            \t1 Lcom/example/Foo;.bar(Ljava/lang/String;)V (/app)


            """
        try assertMatchesPerl(input)
        // The same frame line in a `java` process and another one: tidied differently.
        let (profile, _) = try assertMatchesPerl(input, CollapseOptions(pid: true))
        let names = Set(profile.functions.map { profile.strings[$0.name] })
        XCTAssertTrue(names.isSuperset(of: ["com/example/Foo:.bar", "Lcom/example/Foo:.bar"]))
    }

    func testKernelAndJITModules() throws {
        try assertMatchesPerl("""
            app 10 1.000000: 1 cycles:
            \tffffffff81000010 native_safe_halt+0x10 ([kernel.kallsyms])
            \tffffffffc0000100 ipv4_conntrack_local+0x7f8f80b8 ([nf_conntrack_ipv4])
            \t8c3453 tcp_sendmsg (/lib/modules/4.3.0-rc1-virtual/build/vmlinux)
            \t8c3453 tcp_recvmsg (/lib/modules/vmlinux.debug)
            \t7ffd000008f0 __vdso_clock_gettime+0x30 ([vdso])
            \t7ffd000008f0 something ([unknown_module])
            \t7ffd000008f0 something_else ([unknown])
            \t7ffd000008f0 already_marked_[k] ([kernel.kallsyms])
            \t7f722d142778 Ljava/io/PrintStream;::print (/tmp/perf-19982.map)
            \t7f722d142778 jitted_[j] (/tmp/perf-19982.map)
            \t7f722d142778 jit_[j]ted (/tmp/perf-19982.map)
            \t7f722d142778 jit_stub (/tmp/perf-.map)
            \t7f722d142778 jit_in_dir (/var/tmp/perf-5.map.old)
            \t400100 main (/app)


            """)
    }

    func testSplitsOfInlinedParts() throws {
        let (profile, _) = try assertMatchesPerl("""
            app 10 1.000000: 1 cycles:
            \t1 caller->inlined_once->inlined_twice (/app)
            \t1 vfs_read->rw_verify_area+0x12 ([kernel.kallsyms])
            \t1 ->leading_empty (/app)
            \t1 trailing_empty-> (/app)
            \t1 -> (/app)
            \t1 a->->b (/app)
            \t1 outer->marked_[i] (/app)
            \t1 outer->mark_[i]_inside->after (/app)
            \t1 jit_outer->jit_inlined (/tmp/perf-42.map)
            \t1 main (/app)


            """)
        let frames = try stackFrames(profile, containing: "inlined_twice")
        XCTAssertEqual(frames.suffix(3).map(\.name), ["caller", "inlined_once", "inlined_twice"])
        XCTAssertEqual(frames.suffix(3).map(\.kind), [.user, .inlined, .inlined])
    }

    func testCommentsBlankAndUnrecognizedLines() throws {
        let (_, report) = try assertMatchesPerl("""
            # ========
            # cmdline : /usr/bin/perf record -g ./app
            # ========
            #
            \t1 before_any_header (/app)
            app 10 1.000000: 1 cycles:
            \t1 leaf (/app)
            # a comment inside a sample
            this line is neither
            \t\t
            1 at_column_zero (/app)
            \t1 main (/app)

            \t1 after_the_blank_line (/app)


            app 10 1.000001: 1 cycles:
            \t1 second (/app)
            no parens here
            \t-not-a-frame (/app)

            """)
        XCTAssertEqual(report.unrecognizedLines, 4)
        XCTAssertEqual(report.firstUnrecognized, 9)
        XCTAssertEqual(report.samples, 2)
    }

    func testInlinedLinesBecomeInlinedFrames() throws {
        let input = """
            app 10 1.000000: 1 cycles:
            \t4005d1 inl_leaf (inlined)
            \t4005d1 inl_middle(int) (inlined)
            \t4005d1 outer+0x21 (/app)
            \t400400 main (/app)

            app 10 1.000001: 1 cycles:
            \t4005d1 inl_before_skipped (inlined)
            \t4005d1 (skipped) (/app)
            \t400400 main (/app)

            app 10 1.000002: 1 cycles:
            \t400400 main (/app)
            \t4005d1 inl_with_nothing_after (inlined)


            """
        let inlined: Set<String> = ["inl_leaf", "inl_middle", "inl_before_skipped", "inl_with_nothing_after"]
        let (profile, _) = try assertMatchesPerl(input, inlined: inlined)
        let frames = try stackFrames(profile, containing: "inl_leaf")
        XCTAssertEqual(frames.map(\.name), ["app", "main", "outer", "inl_middle", "inl_leaf"])
        XCTAssertEqual(frames.map(\.kind), [.process, .user, .user, .inlined, .inlined])
        // One location: the address's physical frame and what was inlined into it.
        let location = profile.locations[Int(profile.locations(ofStack: profile.sampleStacks[0])[0])]
        XCTAssertEqual(location.lines.count, 3)
        XCTAssertEqual(location.kind, .user)
        XCTAssertEqual(location.address, 0x4005d1)
        // With nothing to be inlined into, a location of inlined frames alone.
        let alone = try stackFrames(profile, containing: "inl_with_nothing_after")
        XCTAssertEqual(alone.map(\.kind), [.process, .inlined, .user])

        // The parts of `a->b (inlined)` are all inlined, where the script leaves the first plain.
        let split = PerfScriptReader.read(bytes: Array("""
            app 10 1.000000: 1 cycles:
            \t4005d1 inl_a->inl_b (inlined)
            \t4005d1 outer (/app)

            """.utf8)).profile
        XCTAssertEqual(FoldedWriter.text(of: split), "app;outer;inl_a_[i];inl_b_[i] 1\n")
    }

    func testALastSampleWithoutABlankLineIsKept() throws {
        let input = "app 10 1.000000: 3 cycles:\n\t1 leaf (/app)\n\t1 main (/app)"
        try assertMatchesPerl(input)
        // The script itself drops it: the difference is deliberate.
        let perl = try StackCollapse.folded(Array(input.utf8), arguments: ["--all"])
        XCTAssertEqual(perl, [])
        XCTAssertEqual(emberLines(of: input), ["app;main;leaf 3"])
    }

    func testASemicolonInTheCommandNameSeparatesRootFrames() throws {
        let (profile, _) = try assertMatchesPerl("""
            odd;name 10 1.000000: 1 cycles:
            \t1 leaf (/app)

            trailing; 11 1.000001: 1 cycles:
            \t1 leaf (/app)


            """)
        XCTAssertEqual(profile.label(LabelKey.processName, inSet: profile.sampleLabels[0]), "odd;name")
    }

    // MARK: - The model

    func testKindsLabelsTimesAndValuesAreData() throws {
        let input = """
            java 4242/4243 [001] 1235.637838: 250000 cpu-clock:
            \tffffffff81000010 do_syscall_64+0x10 ([kernel.kallsyms])
            \t7f0000001000 Interpreter_[j] (/tmp/perf-4242.map)
            \t7f0000002000 leaf (inlined)
            \t7f0000002000 outer+0x5 (/usr/lib/libx.so)
            \t7f0000003000 a->b (/usr/lib/libx.so)

            worker 77 [000] 1235.7: 1000 cpu-clock:
            \t400100 main (/usr/bin/worker)

            """
        let (profile, report) = try assertMatchesPerl(input, inlined: ["leaf"])
        XCTAssertEqual(report.samples, 2)
        XCTAssertEqual(profile.sampleTypes, [.samples, ValueType(type: "cpu-clock", unit: "nanoseconds")])
        XCTAssertEqual(profile.sampleTypes[profile.defaultSampleType].type, "cpu-clock")
        XCTAssertEqual(profile.value(ofSample: 0, type: 0), 1)
        XCTAssertEqual(profile.value(ofSample: 0, type: 1), 250000)
        XCTAssertEqual(profile.sampleTimes, [1_235_637_838_000, 1_235_700_000_000])

        let frames = profile.frames(ofStack: profile.sampleStacks[0]).map { (name: profile.name(ofFunction: $0.function), kind: $0.kind) }
        XCTAssertEqual(frames.map(\.name), ["java", "a", "b", "outer", "leaf", "Interpreter", "do_syscall_64"])
        XCTAssertEqual(frames.map(\.kind), [.process, .user, .inlined, .user, .inlined, .jit, .kernel])

        let first = profile.sampleLabels[0]
        XCTAssertEqual(profile.numericLabel(LabelKey.pid, inSet: first), 4242)
        XCTAssertEqual(profile.numericLabel(LabelKey.tid, inSet: first), 4243)
        XCTAssertEqual(profile.label(LabelKey.processName, inSet: first), "java")
        // Only a tid printed: no pid label.
        let second = profile.sampleLabels[1]
        XCTAssertNil(profile.numericLabel(LabelKey.pid, inSet: second))
        XCTAssertEqual(profile.numericLabel(LabelKey.tid, inSet: second), 77)
        XCTAssertEqual(profile.label(LabelKey.processName, inSet: second), "worker")

        let kernel = profile.locations[Int(profile.locations(ofStack: profile.sampleStacks[0])[0])]
        XCTAssertEqual(kernel.address, 0xffffffff81000010)
        XCTAssertEqual(profile.mappings[Int(kernel.mapping)].file, "[kernel.kallsyms]")
    }

    /// Numbers no process prints, past 64 bits: read as the script reads them, and every
    /// writer and value format takes them.
    func testNumbersPastSixtyFourBits() throws {
        let input = """
            app 123456789012345678901234/99999999999999999999999 [000] 12345.678901: 999999999999999999999999999999 cpu-clock:
            \t400100 main (/app)

            app 12/13 [000] 12346.000001: 1 cpu-clock:
            \t400100 main (/app)


            """
        for options in [CollapseOptions(), CollapseOptions(tid: true)] {
            let (profile, report) = try assertMatchesPerl(input, options)
            XCTAssertEqual(report.samples, 2)
            XCTAssertEqual(profile.value(ofSample: 0, type: 1), 1e30)
            XCTAssertNil(profile.numericLabel(LabelKey.pid, inSet: profile.sampleLabels[0]))
            XCTAssertNil(profile.numericLabel(LabelKey.tid, inSet: profile.sampleLabels[0]))
            XCTAssertEqual(profile.numericLabel(LabelKey.tid, inSet: profile.sampleLabels[1]), 13)

            let speedscope = try JSONSerialization.jsonObject(with: Data(SpeedscopeWriter.encode(profile))) as? [String: Any]
            XCTAssertEqual((speedscope?["profiles"] as? [Any])?.count, 2)
            let pprof = try PprofReader.read(PprofWriter.encode(profile).bytes, name: "big")
            XCTAssertEqual(pprof.value(ofSample: 0, type: 1), Double(Int64.max))
        }
        for value in [1e30, -1e30, 9.3e18, .infinity, .nan] {
            for unit in [ValueType.samples, .cpuNanoseconds, ValueType(type: "space", unit: "bytes")] {
                XCTAssertFalse(ValueFormat(unit).text(value).isEmpty)
            }
            XCTAssertFalse(SummaryText.percent(value, of: 1e-300).isEmpty)
        }
    }

    func testOtherEventsCountEvents() {
        let profile = PerfScriptReader.read(bytes: Array("app 1/2 [000] 5.000000: 4096 cycles:u:\n\t1 main (/app)\n\n".utf8)).profile
        XCTAssertEqual(profile.sampleTypes[1], ValueType(type: "cycles", unit: "count"))
        XCTAssertEqual(FoldedWriter.text(of: profile, sampleType: 0), "app;main 1\n")
    }

    // MARK: - Generated and real dumps

    func testGeneratedDumpsMatchPerl() throws {
        for seed: UInt64 in [1, 2] {
            let dump = GeneratedDump(seed: seed, samples: 300)
            for options in [
                CollapseOptions(), CollapseOptions(pid: true), CollapseOptions(tid: true, addresses: true),
                CollapseOptions(eventFilter: "instructions"),
            ] {
                try assertMatchesPerl(dump.text, options, inlined: dump.inlinedNames, context: "seed \(seed)")
            }
        }
    }

    func testRealPerfOutputMatchesPerl() throws {
        guard geteuid() == 0 else { throw XCTSkip("perf record needs root") }
        guard let perf = ["/usr/bin/perf", "/usr/local/bin/perf"].first(where: FileManager.default.isExecutableFile)
        else { throw XCTSkip("perf is not installed") }
        let workload = packageRoot.appendingPathComponent("samples/build/split").path
        guard FileManager.default.isExecutableFile(atPath: workload) else {
            throw XCTSkip("samples/build/split is not built (make -C samples)")
        }
        try StackCollapse.requirePerl()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("perf.data").path
        let record = try runProgram(perf, ["record", "-g", "-F", "999", "-o", data, "--", workload, "1"])
        XCTAssertEqual(record.status, 0, record.stderr)
        for fields in [[], ["-F", "comm,pid,tid,time,event,ip,sym,dso,period"]] {
            let script = try runProgram(perf, ["script", "-i", data] + fields)
            XCTAssertEqual(script.status, 0, script.stderr)
            let dump = script.stdout
            XCTAssertTrue(dump.contains("split"), "no samples of the workload")
            for options in [CollapseOptions(), CollapseOptions(pid: true), CollapseOptions(tid: true)] {
                let (profile, report) = try assertMatchesPerl(dump, options, context: "perf script \(fields.joined(separator: " "))")
                XCTAssertEqual(report.unrecognizedLines, 0)
                XCTAssertGreaterThan(report.samples, 100)
                XCTAssertEqual(profile.sampleTypes[1], ValueType(type: "cpu-clock", unit: "nanoseconds"))
                XCTAssertTrue(profile.hasSampleTimes)
                XCTAssertNotNil(profile.numericLabel(LabelKey.tid, inSet: profile.sampleLabels[0]))
                XCTAssertEqual(profile.numericLabel(LabelKey.pid, inSet: profile.sampleLabels[0]) != nil, !fields.isEmpty)
            }
        }
    }

    // MARK: - Helpers

    /// The frames (name and kind) of the first sample whose stack has a function `name`.
    private func stackFrames(_ profile: Profile, containing name: String) throws -> [(name: String, kind: FrameKind)] {
        for stack in profile.sampleStacks {
            let frames = profile.frames(ofStack: stack).map { (name: profile.name(ofFunction: $0.function), kind: $0.kind) }
            if frames.contains(where: { $0.name == name }) { return frames }
        }
        XCTFail("no stack with \(name)")
        return []
    }

    private func emberLines(of input: String, _ options: CollapseOptions = CollapseOptions()) -> [String] {
        FoldedWriter.text(of: PerfScriptReader.read(bytes: Array(input.utf8), options: options.reader).profile)
            .split(separator: "\n").map(String.init)
    }

    /// Compares ember's folded lines of `input` with stackcollapse-perf.pl's (see the type's
    /// comment for what is allowed for). `inlined`: the names, as the script prints them, of
    /// `(inlined)` frames; no other frame of the input may have these names.
    @discardableResult
    private func assertMatchesPerl(
        _ input: String, _ options: CollapseOptions = CollapseOptions(), inlined: Set<String> = [],
        context: String = "", file: StaticString = #filePath, line: UInt = #line
    ) throws -> (profile: Profile, report: PerfScriptReader.Report) {
        try assertMatchesPerl(Array(input.utf8), options, inlined: Set(inlined.map { Array($0.utf8) }),
                              context: context, file: file, line: line)
    }

    @discardableResult
    private func assertMatchesPerl(
        _ input: [UInt8], _ options: CollapseOptions, inlined: Set<[UInt8]>,
        context: String = "", file: StaticString = #filePath, line: UInt = #line
    ) throws -> (profile: Profile, report: PerfScriptReader.Report) {
        let (profile, report) = PerfScriptReader.read(bytes: input, options: options.reader)
        var written: [UInt8] = []
        try FoldedWriter.write(profile) { written.append(contentsOf: $0) }
        let ember = StackCollapse.lines(of: written).sorted { $0.lexicographicallyPrecedes($1) }

        // Difference 3: the script ends a sample only at a blank line.
        let perl = try StackCollapse.folded(input + [0x0A, 0x0A], arguments: options.perlArguments)
        // Difference 1: the script's plain names of `(inlined)` frames.
        let expected = perl.map { StackCollapse.markingInlined($0, inlined) }.sorted { $0.lexicographicallyPrecedes($1) }

        if ember != expected {
            let emberSet = Set(ember), expectedSet = Set(expected)
            let missing = expected.filter { !emberSet.contains($0) }.map(StackCollapse.shown)
            let extra = ember.filter { !expectedSet.contains($0) }.map(StackCollapse.shown)
            XCTFail("""
                ember differs from stackcollapse-perf.pl \(options.perlArguments.joined(separator: " ")) \(context)
                only the script's (\(missing.count)):
                \(missing.prefix(20).joined(separator: "\n"))
                only ember's (\(extra.count)):
                \(extra.prefix(20).joined(separator: "\n"))
                """, file: file, line: line)
        }
        return (profile, report)
    }

    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-perfscript-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    func testFramesWithNoHeaderAreCountedAndAnErrorForTheCommands() throws {
        let text = "\t1234 main+0x4 (/usr/bin/app)\n\napp 12/13 1.0: 1 cpu-clock:\n\t1234 main+0x4 (/usr/bin/app)\n\n"
            + "other 14 2.0: 5 cycles:\n\t99 skipped (/usr/bin/other)\n\n"
        let (profile, report) = PerfScriptReader.read(bytes: Array(text.utf8))
        XCTAssertEqual(report.framesWithoutHeader, 1, "frames of a left-out event are no such frames")
        XCTAssertEqual(report.firstFrameWithoutHeader, 1)
        XCTAssertEqual(FoldedWriter.text(of: profile), "app;main 1\n")
        let path = NSTemporaryDirectory() + "ember-headerless-\(getpid()).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        XCTAssertThrowsError(try InputFile(path: path).profile()) { error in
            XCTAssertEqual("\(error)", "\(path):1: frames of no sample: 1 frame line with no header line "
                + "(`comm pid time: event:`) since the last blank line")
        }
    }
}

/// The options given to both: ember's reader and the script's arguments.
private struct CollapseOptions {
    var pid = false
    var tid = false
    var addresses = false
    var eventFilter: String?

    var reader: PerfScriptReader.Options {
        var options = PerfScriptReader.Options()
        options.pid = pid
        options.tid = tid
        options.addresses = addresses
        options.eventFilter = eventFilter
        return options
    }

    var perlArguments: [String] {
        var arguments = ["--all"]
        if pid { arguments.append("--pid") }
        if tid { arguments.append("--tid") }
        if addresses { arguments.append("--addrs") }
        if let eventFilter { arguments.append("--event-filter=\(eventFilter)") }
        return arguments
    }
}

/// Runs FlameGraph's stackcollapse-perf.pl, from the peers' directory beside the project
/// (`../shared/peers`, as the benchmarks find it), or from `$EMBER_PEERS` for a checkout
/// elsewhere.
private enum StackCollapse {
    static let script = (ProcessInfo.processInfo.environment["EMBER_PEERS"].map { URL(fileURLWithPath: $0) }
        ?? packageRoot.appendingPathComponent("../shared/peers"))
        .appendingPathComponent("stackcollapse-perf.pl").standardizedFileURL.path

    static var perl: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/perl" } + ["/usr/bin/perl"])
            .first(where: FileManager.default.isExecutableFile)
    }

    static func requirePerl() throws {
        guard perl != nil else { throw XCTSkip("perl is not installed: stackcollapse-perf.pl cannot run") }
    }

    /// The script's output lines for `input`, as bytes.
    static func folded(_ input: [UInt8], arguments: [String]) throws -> [[UInt8]] {
        guard let perl else { throw XCTSkip("perl is not installed: stackcollapse-perf.pl cannot run") }
        guard FileManager.default.fileExists(atPath: script) else {
            throw ComparisonError("stackcollapse-perf.pl is not at \(script) (set EMBER_PEERS to its directory)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-perl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputFile = directory.appendingPathComponent("input.txt")
        try Data(input).write(to: inputFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: perl)
        process.arguments = [script] + arguments + [inputFile.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ComparisonError("stackcollapse-perf.pl \(arguments) exited with \(process.terminationStatus)")
        }
        return lines(of: [UInt8](data))
    }

    static func lines(of bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init).filter { !$0.isEmpty }
    }

    /// A line with `_[i]` added to each of its frames named in `inlined`.
    static func markingInlined(_ line: [UInt8], _ inlined: Set<[UInt8]>) -> [UInt8] {
        guard !inlined.isEmpty, let space = line.lastIndex(of: UInt8(ascii: " ")) else { return line }
        let frames = line[..<space].split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        var marked: [UInt8] = []
        for (index, frame) in frames.enumerated() {
            if index > 0 { marked.append(UInt8(ascii: ";")) }
            marked.append(contentsOf: frame)
            if inlined.contains(Array(frame)) { marked.append(contentsOf: "_[i]".utf8) }
        }
        return marked + line[space...]
    }

    static func shown(_ line: [UInt8]) -> String { line.withUnsafeBufferPointer { ByteString.text(of: $0) } }
}

private struct ComparisonError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A `perf script` dump of random samples built from names, modules and header forms that
/// exercise every rule of the script (deterministic for a seed).
private struct GeneratedDump {
    private(set) var text: [UInt8] = []
    /// The names of the `(inlined)` frames as the script prints them.
    let inlinedNames: Set<[UInt8]> = Set(["inl_alpha", "inl_beta", "inl::gamma<int>", "inl_delta"].map { Array($0.utf8) })

    private static let commands: [[UInt8]] = [
        "swapper", "java", "javac", "node", "V8 WorkerThread", "kworker/0:1", "perf-exec", "Chrome_IOThread",
        "sh", "python3.11", "a;b", "x",
    ].map { Array($0.utf8) } + [Array("caf".utf8) + [0xE9]]

    private static let names: [[UInt8]] = [
        "main", "__libc_start_call_main", "std::vector<int, std::allocator<int> >::push_back(int const&)",
        "(anonymous namespace)::helper(int)", "foo(anonymous namespace)", "net/http.(*Client).Do",
        "runtime.(*mheap).alloc", "main.main.func1", "Lcom/example/Foo;.bar(Ljava/lang/String;)V",
        "Ljava/lang/Thread;.run()V", "LNoSlash", "RegExp:[&<>\"']", "a;b", "operator()", "operator() (x)",
        "[unknown]", "(anonymous)", "(deleted)", "foo+0x1f", "foo+0x1F", "bar+0x", "a->b->c", "->x", "y->",
        "x_[i]", "mid_[i]dle", "jit_[j]", "j_[j]x", "k_[k]", "'quoted'", "\"dq\"", "with space name",
        "__lll_lock_wait", "memcpy@plt", "_ZN3foo3barEv", "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
        "v8::internal::Heap::Scavenge()", "<lambda()>::operator()", "", "  ", "::", "tab\tname",
    ].map { Array($0.utf8) } + [Array("na".utf8) + [0xEF, 0xBB] + Array("ive".utf8)]

    private static let modules: [[UInt8]] = [
        "/usr/lib/x86_64-linux-gnu/libc.so.6", "[kernel.kallsyms]", "[nf_conntrack]", "/boot/vmlinux", "[vdso]",
        "[unknown]", "/tmp/perf-4242.map", "/opt/app/bin/server", "/usr/lib/jvm/lib/server/libjvm.so",
        "[unknown_module]", "/path with space/lib.so", "/usr/lib/lib(paren).so", "/x/vmlinux.debug", "libbare.so",
        "/usr/lib/a;b.so", "",
    ].map { Array($0.utf8) }

    private static let addresses: [[UInt8]] = ["ffffffff81000010", "7f0011223344", "400100", "0", "1", "deadbeef", "_x"]
        .map { Array($0.utf8) }

    init(seed: UInt64, samples: Int) {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<samples {
            let roll = random.below(100)
            if roll < 3 { append("# a comment\n") }
            if roll >= 3, roll < 5 { append("!! not a perf script line\n") }
            appendHeader(&random)
            for _ in 0..<random.below(13) { appendFrame(&random) }
            // Mostly a blank line; sometimes none (the next header continues the sample), or two.
            switch random.below(20) {
            case 0: break
            case 1: append("\n\n")
            default: append("\n")
            }
        }
    }

    private mutating func append(_ text: String) { self.text.append(contentsOf: text.utf8) }

    private mutating func appendHeader(_ random: inout SeededGenerator) {
        text.append(contentsOf: random.pick(Self.commands))
        let pid = 1 + random.below(99999)
        let tid = random.below(3) == 0 ? pid : 1 + random.below(99999)
        let time = "\(random.below(100000)).\(String(format: "%06d", random.below(1_000_000)))"
        let period = [1, 0, 250_000, 10_101_010, 1 + random.below(10_000_000)][random.below(5)]
        let event = random.below(10) < 8 ? "cycles" : ["instructions", "cpu-clock:pppH"][random.below(2)]
        switch random.below(6) {
        case 0: append(" \(tid) [00\(random.below(4))] \(time): \(period) \(event):\n")
        case 1: append(" \(pid)/\(tid) \(time): \(period) \(event): \n")
        case 2: append(" \(tid) \(time): \(event):\n")
        case 3: append(" \(pid)/0 [001] \(time): \(period) \(event):\n")
        case 4: append("   \(pid)/\(tid)  [003]   \(time):   \(period)\t\(event):\n")
        default: append(" \(pid)/\(tid) [000] \(time):\n")
        }
    }

    private mutating func appendFrame(_ random: inout SeededGenerator) {
        append(["\t", "\t            ", "  ", ""][random.below(8) == 0 ? 3 : random.below(3)])
        text.append(contentsOf: random.pick(Self.addresses))
        append(random.below(10) == 0 ? "   " : " ")
        if random.below(12) == 0 {
            append(["inl_alpha", "inl_beta(int)", "inl::gamma<int>()", "inl_delta+0x4"][random.below(4)])
            append(" (inlined)\n")
            return
        }
        text.append(contentsOf: random.pick(Self.names))
        if random.below(2) == 0 { append("+0x\(String(random.below(4096), radix: 16))") }
        append(" (")
        text.append(contentsOf: random.pick(Self.modules))
        append(")\n")
    }
}
