@testable import EmberSampling
import Foundation
import XCTest

/// The embedded BPF objects' decoder, against Foundation's (which ember no longer links).
final class EmbeddedProgramTests: XCTestCase {
    private func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { Base64.decode($0) }
    }

    func testEveryLengthDecodesAsFoundationDoes() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<67 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Data(bytes).base64EncodedString()
            XCTAssertEqual(decode(text), bytes, "\(length) bytes: \(text)")
        }
    }

    /// Stricter than Foundation, which takes "AB=C" and "====".
    func testMalformedTextIsRefused() {
        for text in ["A", "AB=", "A===", "AB=C", "AB==AAAA", "ab!d", "YQ==YQ==", "====", "Zm9v\n"] {
            XCTAssertNil(decode(text), text)
        }
    }

    func testTheEmbeddedObjectsAreELF() {
        for object in [EmbeddedProgram.profile, EmbeddedProgram.offCPU, EmbeddedProgram.kernelNames] {
            XCTAssertEqual(Array(object.prefix(4)), [0x7F, 0x45, 0x4C, 0x46])
        }
    }
}
