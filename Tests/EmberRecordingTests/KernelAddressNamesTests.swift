import EmberSampling
import EmberSymbolization
import EmberSystem
import XCTest

/// The kernel's own names for kernel addresses (a BPF program run on demand) against
/// /proc/kallsyms, which they replace in recordings.
final class KernelAddressNamesTests: XCTestCase {
    func testTheKernelNamesItsFunctionsAsKallsymsDoes() throws {
        guard geteuid() == 0 else { throw XCTSkip("loading the BPF program needs root") }
        let text = try FileContents.text("/proc/kallsyms")
        // Text symbols alone at their address (an alias may be named either way), each asked
        // one byte in: the function holds it.
        var countAtAddress: [UInt64: Int] = [:]
        var functions: [(address: UInt64, name: String)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16) else { continue }
            countAtAddress[address, default: 0] += 1
            if ["t", "T"].contains(fields[1]), !fields[2].hasPrefix("__pfx_"), !fields[2].hasPrefix("__cfi_") {
                functions.append((address, String(fields[2])))
            }
        }
        try XCTSkipIf(functions.allSatisfy { $0.address == 0 }, "kallsyms hides its addresses (kptr_restrict)")
        let unique = functions.filter { countAtAddress[$0.address] == 1 }
        // Spread over the whole kernel, more than one batch.
        let asked = stride(from: 0, to: unique.count, by: max(1, unique.count / 200)).map { unique[$0] }
        XCTAssertGreaterThan(asked.count, 100)

        let kallsyms = KernelSymbols(parsing: text)
        let names = try KernelAddressNames()
        defer { names.close() }
        let answers = names.names(of: asked.map { $0.address + 1 } + [0x1000])
        XCTAssertEqual(answers.count, asked.count + 1)
        var agreed = 0
        for (function, answer) in zip(asked, answers) {
            guard case .function(let name) = answer else {
                XCTFail("\(function.name): \(answer)")
                continue
            }
            XCTAssertTrue(name == function.name || name.hasPrefix(function.name + " ["), "\(name), \(function.name)")
            XCTAssertEqual(KernelSymbols.functionName(name), kallsyms.name(of: function.address + 1),
                           "at \(String(function.address, radix: 16))")
            agreed += 1
        }
        XCTAssertEqual(agreed, asked.count)
        XCTAssertEqual(answers.last, .noFunction, "a user-space address")

        names.close()
        XCTAssertEqual(names.names(of: [asked[0].address]), [.unanswered], "closed: kallsyms is asked instead")
    }
}
