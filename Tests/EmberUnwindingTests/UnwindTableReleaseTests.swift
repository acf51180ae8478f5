import CEmberShim
import EmberSampling
@testable import EmberUnwinding
import Foundation
import XCTest

/// The rows map's space: what tables give back is used again.
final class RowSpaceTests: XCTestCase {
    func testFreedRangesMergeAndAreUsedFirstFit() throws {
        var space = RowSpace(capacity: 100)
        let a = try XCTUnwrap(space.allocate(30))
        let b = try XCTUnwrap(space.allocate(30))
        let c = try XCTUnwrap(space.allocate(30))
        XCTAssertEqual([a, b, c], [0..<30, 30..<60, 60..<90])
        XCTAssertNil(space.allocate(11), "10 rows left")
        space.free(a)
        XCTAssertEqual(space.largestFree, 30)
        XCTAssertNil(space.allocate(31), "a hole of 30 and 10 at the end: no 31 in one piece")
        space.free(b)
        XCTAssertEqual(space.free, [0..<60], "neighbours merge")
        XCTAssertEqual(try XCTUnwrap(space.allocate(45)), 0..<45, "first fit, in the merged hole")
        space.free(c)
        XCTAssertEqual(space.free, [], "the last range gives its rows back to the end")
        XCTAssertEqual(space.used, 45)
        XCTAssertEqual(space.largestFree, 55)
        space.free(0..<45)
        XCTAssertEqual(space.used, 0)
        XCTAssertEqual(space.largestFree, 100)
    }
}

/// Tables of files no process maps any more are let go of, and their rows used again.
final class UnwindTableReleaseTests: XCTestCase {
    private var children: [Process] = []

    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading the BPF program needs root") }
    }

    override func tearDown() {
        for child in children where child.isRunning { child.terminate() }
    }

    private func start(_ path: String) throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: path)
        child.arguments = ["30"]
        try child.run()
        children.append(child)
        usleep(100_000)
        return child
    }

    private func stop(_ child: Process) {
        child.terminate()
        child.waitUntilExit()
    }

    /// Polls until no table is being compiled.
    private func loadAll(_ tables: KernelUnwindTables) {
        for _ in 0..<200 {
            tables.poll()
            if tables.compilingCount == 0 { return }
            usleep(20_000)
        }
        XCTFail("tables still compiling after 4 s")
    }

    private func sampler(rows: Int) throws -> Sampler {
        var configuration = SamplerConfiguration(scope: .processes([getpid()]))
        configuration.unwinding = .perProcess
        configuration.samplesCPU = false
        configuration.unwindTableRows = rows
        return try Sampler(configuration: configuration)
    }

    func testAFullBudgetFitsANewProgramOnceTheOldOneIsGone() throws {
        // How many rows sleep's files take: its program, libc, the loader, the vDSO.
        let measured = try sampler(rows: 1 << 20)
        let probe = KernelUnwindTables(sampler: measured)
        let first = try start("/bin/sleep")
        XCTAssertTrue(probe.watch(first.processIdentifier))
        loadAll(probe)
        let rows = probe.statistics.rowsLoaded
        XCTAssertGreaterThan(rows, 0)
        stop(first)
        measured.close()

        // A budget of exactly those rows, full with sleep's tables.
        let sampler = try sampler(rows: rows)
        defer { sampler.close() }
        let tables = KernelUnwindTables(sampler: sampler)
        let old = try start("/bin/sleep")
        XCTAssertTrue(tables.watch(old.processIdentifier))
        loadAll(tables)
        XCTAssertEqual(tables.statistics.rowsLoaded, rows)
        let loaded = tables.statistics.tablesLoaded

        // A copy of sleep (another file, the same rows) shares the libraries; its own table
        // does not fit while the first sleep's is loaded.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-release-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("sleep-copy").path
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: copy)
        let new = try start(copy)
        XCTAssertTrue(tables.watch(new.processIdentifier))
        loadAll(tables)
        XCTAssertEqual(tables.statistics.tablesOverBudget, 1, "the copy's own table")
        XCTAssertEqual(tables.statistics.tablesLoaded, loaded)

        // The first sleep ends: a minute later its program's table is let go of (the
        // libraries are still mapped by the copy), and the copy's table then fits.
        stop(old)
        tables.forget(old.processIdentifier)
        tables.releaseUnmappedFiles(unusedFor: 60, now: 1000)
        XCTAssertEqual(tables.statistics.tablesReleased, 0, "not a minute yet")
        tables.releaseUnmappedFiles(unusedFor: 60, now: 1061)
        XCTAssertEqual(tables.statistics.tablesReleased, 1, "sleep's own table only")
        XCTAssertGreaterThan(tables.statistics.rowsReleased, 0)
        XCTAssertTrue(tables.watch(new.processIdentifier))
        loadAll(tables)
        XCTAssertEqual(tables.statistics.tablesLoaded, loaded + 1, "the copy's table, in the rows given back")
        XCTAssertEqual(tables.rowsInUse, rows)
        XCTAssertEqual(tables.mappingKinds(of: new.processIdentifier).filter { $0 == EMBER_MAPPING_PENDING.rawValue }, [],
                       "every mapping of the copy is walked by a table or frame pointers")
        stop(new)
    }
}
