import Foundation
import XCTest

/// A speedscope file, checked against `src/lib/file-format-spec.ts` of jlfwong/speedscope as
/// it is read: every field the spec requires, of its type; indices in range; one weight per
/// sample.
public struct SpeedscopeFile {
    public struct Sampled {
        public var name: String
        public var unit: String
        public var startValue: Double
        public var endValue: Double
        public var samples: [[Int]]
        public var weights: [Double]
    }

    public var frames: [String]
    public var profiles: [Sampled]

    public init(path: String) throws {
        try self.init(data: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    public init(data: Data) throws {
        let json = try JSONSerialization.jsonObject(with: data)
        let root = try XCTUnwrap(json as? [String: Any])
        XCTAssertEqual(root["$schema"] as? String, "https://www.speedscope.app/file-format-schema.json")
        let shared = try XCTUnwrap(root["shared"] as? [String: Any])
        let frameObjects = try XCTUnwrap(shared["frames"] as? [[String: Any]])
        frames = try frameObjects.map { frame in
            if let file = frame["file"] { XCTAssertTrue(file is String) }
            if let line = frame["line"] { XCTAssertTrue(line is NSNumber) }
            return try XCTUnwrap(frame["name"] as? String)
        }
        let units = ["none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"]
        let profileObjects = try XCTUnwrap(root["profiles"] as? [[String: Any]])
        if let index = root["activeProfileIndex"] as? Int { XCTAssertTrue(profileObjects.indices.contains(index)) }
        profiles = try profileObjects.map { object in
            XCTAssertEqual(object["type"] as? String, "sampled")
            let unit = try XCTUnwrap(object["unit"] as? String)
            XCTAssertTrue(units.contains(unit), unit)
            let samples = try XCTUnwrap(object["samples"] as? [[Int]])
            let weights = try XCTUnwrap(object["weights"] as? [Double])
            XCTAssertEqual(samples.count, weights.count, "one weight per sample")
            let frameCount = frameObjects.count
            XCTAssertTrue(samples.allSatisfy { $0.allSatisfy { (0..<frameCount).contains($0) } }, "frame indices in range")
            XCTAssertTrue(weights.allSatisfy { $0 >= 0 }, "weights are not negative")
            let start = try XCTUnwrap((object["startValue"] as? NSNumber)?.doubleValue)
            let end = try XCTUnwrap((object["endValue"] as? NSNumber)?.doubleValue)
            XCTAssertGreaterThanOrEqual(end, start)
            return Sampled(name: try XCTUnwrap(object["name"] as? String), unit: unit, startValue: start,
                           endValue: end, samples: samples, weights: weights)
        }
    }
}
