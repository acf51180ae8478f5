import EmberSampling
import EmberSystem
import EmberTestSupport
import Foundation
import XCTest

/// Off-CPU blocks that find no room anywhere are counted and reported, never dropped
/// silently: a counts map of 2 entries sends nearly every block of a ping-pong (two blocks
/// per round trip, each with its waker) through a ring buffer of one page, which cannot
/// take them between two polls. And nothing of an off-CPU recording stays in the kernel
/// after it, however it ends.
final class OffCPULossTests: RecordingTestCase {
    /// A number as the report prints it ("1,234.567").
    private func number(_ text: Substring) -> Double? { Double(text.replacingOccurrences(of: ",", with: "")) }

    /// The CPU time the hypervisor has taken from this machine's CPUs so far (/proc/stat's
    /// steal, all CPUs). A thread running when its virtual CPU is stolen is neither off the
    /// CPU (the guest never switched it out) nor using it (its CPU time leaves steal out).
    private func stolenSeconds() -> Double { StolenTime.machineSeconds() ?? 0 }

    /// Checks that `total` seconds (kept and lost) are the two threads' time off the CPU: their
    /// lives less their CPU time, and less what the hypervisor stole meanwhile (up to the
    /// machine's steal during the recording, which also counts other programs'). The
    /// ping-pong runs on one CPU (``pingPong(_:)``) for this to hold.
    private func checkOffCPUTotal(_ total: Double, seconds: Double, stdout: String, stolen: Double, _ detail: String,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let cpuLine = try XCTUnwrap(stdout.split(separator: " ").first { $0.hasPrefix("cpu=") }, stdout,
                                    file: file, line: line)
        let cpu = try XCTUnwrap(Double(cpuLine.dropFirst("cpu=".count).trimmingCharacters(in: .whitespacesAndNewlines)))
        let offCPU = 2 * seconds - cpu
        let message = "\(total) s against \(offCPU) s off the CPU, \(stolen) s stolen\n\(detail)"
        XCTAssertGreaterThan(total, max(offCPU - stolen, 0) * 0.85, message, file: file, line: line)
        XCTAssertLessThan(total, offCPU * 1.15, message, file: file, line: line)
    }

    /// The ping-pong pinned to the first CPU this test may run on. Its threads' CPU time and their
    /// time switched out then add up to their lives: each wakeup hands the CPU straight to
    /// the woken thread. On two CPUs they do not: the kernel charges a thread woken on an
    /// idle CPU with CPU time from its wakeup (the runqueue's clock, read at the wakeup, is
    /// not read again at the switch), so the idle CPU's wake-up latency, several µs per
    /// block on a virtual machine, counts as both the thread's CPU time and its time
    /// switched out, as ember measures it at the switch.
    private func pingPong(_ seconds: Double) throws -> [String] {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let allowed = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let cpu = try XCTUnwrap(parseCPUList(allowed.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))?.first)
        return ["taskset", "-c", "\(cpu)", try sampleBinary("blocking"), "pingpong", "\(seconds)"]
    }

    func testAFullRingBufferWithWakeupsCountsAndReportsWhatItLost() throws {
        let output = path("lossy.folded")
        let seconds = 2.0
        let stolenBefore = stolenSeconds()
        let result = try ember(["record", "--off-cpu", "--wakeups", "--counts-map-size", "2", "--ring-buffer-size", "4096",
                                "-o", output, "--"] + pingPong(seconds))
        let stolen = stolenSeconds() - stolenBefore
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("blocks sent through the ring buffer: the counts map was full"), result.stderr)
        // "N blocks (T ms) lost: the ring buffer was full"
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("lost: the ring buffer was full") },
                                 result.stderr)
        let words = line.split(separator: " ")
        let lostBlocks = try XCTUnwrap(words.firstIndex(of: "blocks").flatMap { number(words[$0 - 1]) }, String(line))
        let lostSeconds = try XCTUnwrap(words.firstIndex(of: "ms)").flatMap { number(words[$0 - 1].dropFirst()) }, String(line)) / 1e3
        XCTAssertGreaterThan(lostBlocks, 1000, "a page cannot hold a ping-pong's blocks: \(line)")

        // What was kept and what was lost add up to the two threads' time off the CPU.
        let kept = try Folded(path: output).total / 1e6
        XCTAssertGreaterThan(kept, 0, "some blocks were kept")
        try checkOffCPUTotal(kept + lostSeconds, seconds: seconds, stdout: result.stdout, stolen: stolen,
                             "kept \(kept) s + lost \(lostSeconds) s\n\(result.stderr)")
    }

    func testDWARFCopiesThatFindTheRingBufferFullAreCountedAndTheirTimeKept() throws {
        // A ping-pong blocks about 300k times a second, each block's copy up to 16 KiB: a ring
        // buffer of 64 KiB takes a few of them between two polls. The others' time stays in
        // the profile, under a lost user stack, and the report says how many.
        let output = path("dwarf-lossy.folded")
        let seconds = 2.0
        let stolenBefore = stolenSeconds()
        let result = try ember(["record", "--off-cpu", "--unwind", "dwarf", "--ring-buffer-size", "65536",
                                "-o", output, "--"] + pingPong(seconds))
        let stolen = stolenSeconds() - stolenBefore
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first {
            $0.contains("off-CPU stacks found the ring buffer full at their switch-out")
        }, result.stderr)
        let lost = try XCTUnwrap(line.split(separator: " ").dropFirst().first.flatMap { number($0) }, String(line))
        // Pinned to one CPU, the ping-pong leaves ember's reader a CPU of its own: hundreds
        // are lost rather than thousands.
        XCTAssertGreaterThan(lost, 100, "a 64 KiB buffer cannot hold a ping-pong's copies: \(line)")
        let folded = try Folded(path: output)
        let lostTime = folded.stacks.filter { $0.key.contains("[lost user stack: ring buffer full]") }.values.reduce(0, +)
        let unwound = folded.stacks.filter { $0.key.contains("bounce") && $0.key.contains("start_thread") }.values.reduce(0, +)
        XCTAssertGreaterThan(lostTime, 0, "\(folded.stacks.keys)")
        XCTAssertGreaterThan(unwound, 0, "the copies that fit are unwound: \(folded.stacks.keys)")
        XCTAssertTrue(result.stderr.contains("off-CPU lost their user stack: ring buffer full"), result.stderr)
        // Nothing's time is dropped: kept and lost stacks add up to the two threads' time off the CPU.
        try checkOffCPUTotal(folded.total / 1e6, seconds: seconds, stdout: result.stdout, stolen: stolen, result.stderr)
    }

    /// The ids of the BPF maps and programs a process holds (its descriptors' fdinfo: a map's
    /// `map_id`, a program's or a link's `prog_id`), read while it runs: other sessions'
    /// profilers on a shared machine have maps and programs of the same names.
    private func bpfObjects(of pid: Int32) -> (maps: Set<Int>, programs: Set<Int>) {
        var maps = Set<Int>(), programs = Set<Int>()
        let directory = "/proc/\(pid)/fdinfo"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let text = try? String(contentsOfFile: "\(directory)/\(entry)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let id = Int(parts[1]) else { continue }
                if parts[0] == "map_id" { maps.insert(id) }
                if parts[0] == "prog_id" { programs.insert(id) }
            }
        }
        return (maps, programs)
    }

    /// Whether the kernel still has a BPF map or program of this id.
    private func bpfObjectExists(_ kind: String, _ id: Int) throws -> Bool {
        guard let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("bpftool is not installed (scripts/bootstrap installs it)") }
        return try runProgram(bpftool, [kind, "show", "id", "\(id)"]).status == 0
    }

    func testNoBPFMapOrProgramOfAnOffCPURecordingOutlivesIt() throws {
        let workload = try Workload(sample: "blocking", arguments: ["30"])
        defer { workload.stop() }
        for signal in [SIGINT, SIGKILL] {
            let recorder = Process()
            recorder.executableURL = URL(fileURLWithPath: emberBinary)
            recorder.arguments = ["record", "--wall", "--wakeups", "--pid", "\(workload.pid)", "-o", path("r\(signal).folded")]
            recorder.standardError = FileHandle.nullDevice
            try recorder.run()
            // Until the off-CPU program is attached: its object's maps (blocked, offcpu_counts)
            // are among the maps it holds, beside the CPU program's it shares.
            var held = (maps: Set<Int>(), programs: Set<Int>())
            let deadline = Date().addingTimeInterval(15)
            while held.programs.count < 5 && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                held = bpfObjects(of: recorder.processIdentifier)
            }
            Thread.sleep(forTimeInterval: 0.5)
            held = bpfObjects(of: recorder.processIdentifier)
            XCTAssertGreaterThanOrEqual(held.programs.count, 5, "sample, the process tracepoints, on_switch, on_exit, on_waking")
            XCTAssertGreaterThan(held.maps.count, 10, "the CPU program's maps and the off-CPU program's")
            for id in held.maps { XCTAssertTrue(try bpfObjectExists("map", id), "map \(id) while recording") }
            kill(recorder.processIdentifier, signal)
            recorder.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.5)  // the kernel frees them after the last reference (RCU)
            for id in held.maps { XCTAssertFalse(try bpfObjectExists("map", id), "map \(id) after signal \(signal)") }
            for id in held.programs { XCTAssertFalse(try bpfObjectExists("prog", id), "program \(id) after signal \(signal)") }
        }
    }
}
