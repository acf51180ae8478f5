@testable import EmberSampling
import EmberTestSupport
import Foundation
import XCTest

/// The stack each BPF program uses with its calls, counted at least as strictly as any kernel
/// counts it, without loading anything: kernels differ. Linux 6.18 adds the frames of bpf_loop
/// callbacks (the CFI walk's steps) to their caller's and refuses a tracing program whose chain
/// passes 512 bytes; an older kernel loaded the same object. A program that fits only on the
/// kernel the tests run on fails here, on any kernel (docs/unwinding.md, "The stack budget").
final class BPFStackTests: XCTestCase {
    func testEveryProgramsStackWithItsCallsFitsIn512Bytes() throws {
        let objects = [("profile.bpf.c", EmbeddedProgram.profile), ("offcpu.bpf.c", EmbeddedProgram.offCPU),
                       ("kernel_names.bpf.c", EmbeddedProgram.kernelNames)]
        var chains: [String: BPFStackUse.Chain] = [:]
        for (name, bytes) in objects {
            let use = try BPFStackUse(disassembly: try disassemble(bytes, name: name))
            for program in use.programs {
                let chain = use.deepestChain(from: program)
                chains[program] = chain
                XCTAssertLessThanOrEqual(chain.bytes, 512, "\(name): \(program): \(chain)")
            }
        }
        print("BPFStackTests: " + chains.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; "))
        // The parse sees what the budget is about: the CFI walk's steps below both programs
        // that walk stacks, and the row lookup below them.
        for program in ["sample", "on_switch"] {
            let frames = try XCTUnwrap(chains[program], "no program \(program)").frames.map(\.name)
            XCTAssertEqual(Array(frames.prefix(3)), [program, "cfi_step", "find_rule"], program)
        }
    }

    /// A stack chain's sum is checked against its frames: rounding, callbacks and calls.
    func testTheCountRoundsEachFrameAndFollowsCallbacksAndCalls() throws {
        let disassembly = """
        Disassembly of section .text:

        0000000000000000 <leaf>:
               0:\t*(u64 *)(r10 - 0x8) = r1
               1:\texit

        0000000000000010 <step>:
               2:\tr3 = r10
               3:\tr3 += -0x8
               4:\tr4 = r3
               5:\t*(u32 *)(r4 - 0x9) = w1
               6:\tcall -0x1
        \t\t0000000000000030:  R_BPF_64_32\tleaf
               7:\texit

        Disassembly of section tp_btf/sched_switch:

        0000000000000000 <program>:
               0:\tr1 = *(u64 *)(r10 - 400)
               1:\tr2 = 0x10 ll
        \t\t0000000000000008:  R_BPF_64_64\t.text
               3:\tcall 0xb5
               4:\tr1 = r10
               5:\tr1 = r6
               6:\tr1 += -0x200
               7:\texit
        """
        let use = try BPFStackUse(disassembly: disassembly)
        XCTAssertEqual(use.programs, ["program"])
        let chain = use.deepestChain(from: "program")
        // 400, then step's 17 bytes (through a copy of a pointer into its stack) as 32, then
        // leaf's 8 as 16; r1 no longer points into the stack at -0x200.
        XCTAssertEqual(chain.frames.map(\.name), ["program", "step", "leaf"])
        XCTAssertEqual(chain.frames.map(\.bytes), [400, 17, 8])
        XCTAssertEqual(chain.bytes, 400 + 32 + 16)
    }

    private func disassemble(_ bytes: [UInt8], name: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ember-stack-\(getpid())-\(name).o")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // The toolchain's (it builds the objects), or Debian's llvm: both read BPF.
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/opt/swift/usr/bin"]
        guard let objdump = directories.map({ "\($0)/llvm-objdump" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("no llvm-objdump on PATH (the Swift toolchain has one) to read the BPF objects") }
        let result = try runProgram(objdump, ["-d", "-r", "--no-show-raw-insn", file.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }
}

/// Stack use of the functions of a BPF object, from `llvm-objdump -d -r`: each function's
/// deepest stack slot, the functions it calls (BPF-to-BPF calls are relocated to their
/// symbol) and the callbacks it hands to helpers such as bpf_loop (a 64-bit load relocated to
/// an offset in an executable section).
struct BPFStackUse {
    struct Frame: CustomStringConvertible {
        var name: String
        var bytes: Int
        var description: String { "\(name) \(bytes)" }
    }

    struct Chain: CustomStringConvertible {
        var frames: [Frame]
        /// As the verifier adds a chain up: each frame rounded up to 16 bytes.
        var bytes: Int { frames.reduce(0) { $0 + ($1.bytes + 15) / 16 * 16 } }
        var description: String { "\(bytes) bytes: " + frames.map(\.description).joined(separator: " → ") }
    }

    private struct Function {
        var section: String
        var offset: Int
        var bytes = 0
        var callees: [String] = []
        var callbacks: [(section: String, offset: Int)] = []
    }

    private var functions: [String: Function] = [:]

    /// The programs: the functions outside .text, sorted by name.
    var programs: [String] { functions.filter { $0.value.section != ".text" }.keys.sorted() }

    init(disassembly: String) throws {
        var section = ""
        var current: String?
        // Registers that point into the stack, by their offset from r10 (the frame's top).
        var stackPointers: [String: Int] = [:]
        var loaded: Int?  // the last 64-bit immediate load's value, for its relocation
        func number(_ text: Substring) -> Int? {
            text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
        }
        func deepen(_ bytes: Int) {
            guard let name = current else { return }
            functions[name]!.bytes = max(functions[name]!.bytes, bytes)
        }
        for line in disassembly.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("Disassembly of section ") {
                section = String(line.dropFirst("Disassembly of section ".count).dropLast())
                continue
            }
            if let open = line.firstIndex(of: "<"), line.hasSuffix(">:"),
               let offset = Int(line[..<open].trimmingCharacters(in: .whitespaces), radix: 16) {
                let name = String(line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)])
                functions[name] = Function(section: section, offset: offset)
                current = name
                stackPointers = [:]
                continue
            }
            // A relocation, under its instruction: `OFFSET:  R_BPF_64_32 SYMBOL`.
            if line.contains("R_BPF_"), let name = current {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                let symbol = String(words.last ?? "")
                if words.contains("R_BPF_64_32") {
                    functions[name]!.callees.append(symbol)
                } else if words.contains("R_BPF_64_64"), symbol == ".text", let offset = loaded {
                    functions[name]!.callbacks.append((symbol, offset))
                }
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 2, fields[0].hasSuffix(":") else { continue }
            let instruction = fields[1...].joined(separator: " ")
            loaded = nil
            // A memory access: `(rN - OFFSET)` or `(rN + OFFSET)`, in decimal or hex.
            var rest = instruction[...]
            while let open = rest.range(of: "(r") {
                let inside = rest[open.upperBound...].prefix { $0 != ")" }
                let parts = inside.split(separator: " ")
                if parts.count == 3, let register = Int(parts[0]), let offset = number(parts[2]),
                   let base = register == 10 ? 0 : stackPointers["r\(register)"] {
                    deepen(-(base + (parts[1] == "-" ? -offset : offset)))
                }
                rest = rest[open.upperBound...]
            }
            let words = instruction.split(separator: " ")
            if words.first == "call" {
                for register in ["r1", "r2", "r3", "r4", "r5"] { stackPointers[register] = nil }
                continue
            }
            guard words.count >= 3 else { continue }
            let target = String(words[0]).replacingOccurrences(of: "w", with: "r")
            if words[1] == "=" {
                let source = String(words[2])
                stackPointers[target] = words.count == 3 ? (source == "r10" ? 0 : stackPointers[source]) : nil
                if words.count == 4, words[3] == "ll" { loaded = number(words[2]) }
            } else if words[1] == "+=", let base = stackPointers[target], words.count == 3 {
                let negative = words[2].hasPrefix("-")
                if let step = number(negative ? words[2].dropFirst() : words[2]) {
                    stackPointers[target] = base + (negative ? -step : step)
                    deepen(-(base + (negative ? -step : step)))
                } else {
                    stackPointers[target] = nil
                }
            } else if words[1].hasSuffix("=") {
                stackPointers[target] = nil  // other arithmetic: no longer a known stack address
            }
        }
        // Callbacks are named by their section and offset.
        for (name, function) in functions {
            for callback in function.callbacks {
                guard let callee = functions.first(where: { $0.value.section == callback.section && $0.value.offset == callback.offset })
                else { throw BPFStackUseError(description: "\(name) hands over a callback at \(callback) that is no function") }
                functions[name]!.callees.append(callee.key)
            }
        }
    }

    /// The chain of calls from `name` whose stacks add up to the most.
    func deepestChain(from name: String) -> Chain {
        guard let function = functions[name] else { return Chain(frames: []) }
        let deepest = function.callees.map { deepestChain(from: $0) }.max { $0.bytes < $1.bytes }
        return Chain(frames: [Frame(name: name, bytes: function.bytes)] + (deepest?.frames ?? []))
    }
}

struct BPFStackUseError: Error, CustomStringConvertible {
    var description: String
}
