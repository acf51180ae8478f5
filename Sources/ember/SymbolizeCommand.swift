import ArgumentParser
import EmberSymbolization
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

struct Symbolize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what addresses resolve to: inline chain, function, file and line.",
        discussion: """
            With --pid, addresses are the process's own (as a stack shows them); with --elf, \
            they are addresses in the file (as nm and addr2line use them); with --kernel, \
            kernel addresses (module functions show as `name [module]`). Addresses are \
            hexadecimal (0x optional); without any on the command line, they are read from \
            standard input, one per line. For each address ember prints it, then its frames \
            innermost first, one per line, indented: inlined functions (marked [inlined]) \
            before the function they were inlined into, each with `at FILE:LINE` when known.

            Examples:
              ember symbolize --elf ./app 0x1139 0x1150
              ember symbolize --pid 4242 7f3a2c001234
              ember symbolize --kernel ffffffff81234567
            """)

    @Option(name: .long, help: "Resolve addresses in this process's address space.")
    var pid: Int32?

    @Option(name: .long, help: ArgumentHelp("Resolve file addresses of this ELF file.", valueName: "file"))
    var elf: String?

    @Flag(name: .long, help: "Resolve kernel addresses through /proc/kallsyms (modules included).")
    var kernel = false

    @Flag(name: .long, help: "Leave out source positions.")
    var noLines = false

    @Flag(name: .long, help: "Leave out inlined functions.")
    var noInlines = false

    @OptionGroup var names: NameOptions

    @Argument(help: "Hexadecimal addresses.")
    var addresses: [String] = []

    func validate() throws {
        guard [pid != nil, elf != nil, kernel].filter({ $0 }).count == 1 else {
            throw ValidationError("name exactly one of --pid PID, --elf FILE or --kernel")
        }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }

    @Flag(name: .long, help: "Print to stderr how long loading and resolving took.")
    var timing = false

    func run() throws {
        let started = Clock.monotonicSeconds()
        let symbolizer = Symbolizer(options: SymbolizerOptions(
            lines: !noLines, debugDirectories: names.debugDir, demangle: !names.noDemangle, inlines: !noInlines))
        if let pid, !symbolizer.refresh(process: pid) {
            throw EmberError("no such process: \(pid) (or /proc/\(pid)/maps is not readable)")
        }
        if let elf {
            // Open it now, so a missing or non-ELF file is one clear error before any output.
            do { _ = try symbolizer.frames(inFile: elf, address: 0) } catch {
                throw EmberError("\(error)")
            }
        }
        if kernel, let note = symbolizer.kernelSymbolsNote { writeStandardError("ember: \(note)\n") }
        let loaded = Clock.monotonicSeconds()
        var inputs: [UInt64] = []
        if addresses.isEmpty {
            inputs = try readAddresses(from: 0)
        } else {
            for text in addresses {
                guard let address = parseAddress(Array(text.utf8)[...]) else {
                    throw EmberError("not a hexadecimal address: \(text)")
                }
                inputs.append(address)
            }
        }
        let parsed = Clock.monotonicSeconds()
        // Resolve everything first, then print: the resolving alone is what --timing measures
        // (in CPU time, which other load on the machine does not inflate).
        let elf = self.elf
        let pid = self.pid ?? 0
        let resolveStart = Clock.threadCPUSeconds()
        var results: [[SymbolizedFrame]] = []
        results.reserveCapacity(inputs.count)
        for address in inputs {
            if let elf {
                results.append(try symbolizer.frames(inFile: elf, address: address))
            } else if kernel {
                results.append(symbolizer.kernelFrames(stack: [address]))
            } else {
                results.append(symbolizer.userFrames(pid: pid, stack: [address]))
            }
        }
        let resolving = Clock.threadCPUSeconds() - resolveStart
        var output: [UInt8] = []
        output.reserveCapacity(1 << 17)
        for (address, frames) in zip(inputs, results) {
            output.append(contentsOf: "0x".utf8)
            appendHex(address, to: &output)
            output.append(10)
            for frame in frames {
                output.append(contentsOf: "  ".utf8)
                output.append(contentsOf: frame.name.utf8)
                switch frame.kind {
                case .function: break
                case .inlined: output.append(contentsOf: " [inlined]".utf8)
                case .jit: output.append(contentsOf: " [jit]".utf8)
                }
                if let location = frame.location {
                    output.append(contentsOf: " at ".utf8)
                    output.append(contentsOf: location.file.utf8)
                    output.append(UInt8(ascii: ":"))
                    output.append(contentsOf: String(location.line).utf8)
                }
                output.append(10)
            }
            if output.count > 1 << 16 { try flush(&output) }
        }
        try flush(&output)
        // The process ends here: freeing every cached frame one by one would take longer
        // than resolving them did.
        _ = Unmanaged.passRetained(symbolizer)
        if timing {
            let end = Clock.monotonicSeconds()
            let rate = resolving > 0 ? Int(Double(inputs.count) / resolving) : 0
            writeStandardError("ember: load \(format3(loaded - started)) s, parse \(format3(parsed - loaded)) s, "
                + "resolve \(format3(resolving)) s CPU (\(rate) addresses/s), total \(format3(end - started)) s "
                + "for \(inputs.count) addresses\n")
        }
    }

    /// Addresses from a file descriptor, one per line (blank lines skipped).
    private func readAddresses(from fd: Int32) throws -> [UInt64] {
        let bytes: [UInt8]
        do { bytes = try FileContents.read(fileDescriptor: fd, name: "standard input") } catch {
            throw EmberError("cannot read addresses from standard input: \(error)")
        }
        var addresses: [UInt64] = []
        for line in bytes.split(separator: 10) {
            var field = line[...]
            while let first = field.first, first == 32 || first == 9 { field = field.dropFirst() }
            while let last = field.last, last == 32 || last == 9 || last == 13 { field = field.dropLast() }
            if field.isEmpty { continue }
            guard let address = parseAddress(field) else {
                throw EmberError("not a hexadecimal address: \(String(decoding: field, as: UTF8.self))")
            }
            addresses.append(address)
        }
        return addresses
    }

    private func parseAddress(_ text: ArraySlice<UInt8>) -> UInt64? {
        var digits = text
        if digits.count > 2, digits[digits.startIndex] == UInt8(ascii: "0"),
           digits[digits.startIndex + 1] | 0x20 == UInt8(ascii: "x") {
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt8
            switch byte {
            case 48...57: digit = byte - 48
            case 97...102: digit = byte - 87
            case 65...70: digit = byte - 55
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    private func appendHex(_ value: UInt64, to output: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 60
        while shift > 0 && (value >> UInt64(shift)) & 15 == 0 { shift -= 4 }
        while shift >= 0 {
            output.append(digits.utf8Start[Int((value >> UInt64(shift)) & 15)])
            shift -= 4
        }
    }

    private func flush(_ output: inout [UInt8]) throws {
        do {
            try output.withUnsafeBytes { try AtomicFile.writeAll(1, $0, name: "standard output") }
        } catch {
            throw EmberError("\(error)")
        }
        output.removeAll(keepingCapacity: true)
    }
}

