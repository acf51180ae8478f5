import EmberSampling
import EmberTestSupport
import XCTest

final class SamplingUnitTests: XCTestCase {
    func testCPUListsParseAsTheKernelWritesThem() {
        XCTAssertEqual(parseCPUList("0-3\n"), [0, 1, 2, 3])
        XCTAssertEqual(parseCPUList("0,2-3,7"), [0, 2, 3, 7])
        XCTAssertEqual(parseCPUList("5"), [5])
        XCTAssertNil(parseCPUList(""))
        XCTAssertNil(parseCPUList("3-1"))
        XCTAssertNil(parseCPUList("a-b"))
    }
}

final class SamplingPeriodVariationTests: XCTestCase {
    func testDrawsStayWithinTheSpreadAndMirrorEachOther() {
        var generator = SeededGenerator(seed: 1)
        let variation = SamplingPeriodVariation(frequency: 99)
        let centre = variation.centreRate()
        for _ in 0..<1000 {
            let (first, second) = variation.drawPeriods(using: &generator)
            let rates = [first, second].map { 1e9 / Double($0) }
            for rate in rates {
                XCTAssertGreaterThanOrEqual(rate, centre * (1 - SamplingPeriodVariation.spread) * 0.999)
                XCTAssertLessThanOrEqual(rate, centre * (1 + SamplingPeriodVariation.spread) * 1.001)
            }
            XCTAssertEqual((rates[0] + rates[1]) / 2, centre, accuracy: centre * 0.001, "a pair's rates average to the centre")
        }
    }

    /// The kernel's behaviour, simulated: each block restarts the timer on its new period,
    /// so the block brings one sample per whole period that fits in it and the period under
    /// way at its end brings none; blocks end up to a poll interval late. Over many blocks
    /// the samples per second are the asked frequency.
    func testTheRestartsLossIsMadeUpSoTheRateIsTheAskedOne() throws {
        for frequency in [49, 99, 997, 4999] {
            let variation = SamplingPeriodVariation(frequency: frequency)
            var schedule = SamplingPeriodSchedule(variation: variation, start: 0, generator: SeededGenerator(seed: UInt64(frequency)))
            var lateness = SeededGenerator(seed: 7)
            var now: Int64 = 0, samples = 0.0, period = Double(1_000_000_000 / frequency)
            for _ in 0..<20_000 {
                let block = schedule.nextDraw - now + Int64(lateness.below(50_000_000))
                samples += (Double(block) / period).rounded(.down)
                now += block
                period = Double(try XCTUnwrap(schedule.periods(at: now, events: 1)?.first))
            }
            XCTAssertNil(schedule.periods(at: now, events: 1), "no draw before the block has run")
            XCTAssertEqual(samples / (Double(now) / 1e9), Double(frequency), accuracy: Double(frequency) * 0.005, "\(frequency) Hz")
        }
    }
}
