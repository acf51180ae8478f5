import ArgumentParser
import EmberSymbolization
#if canImport(Glibc)
import Glibc
#endif

struct Symbolize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what addresses resolve to: inline chain, function, file and line.",
        discussion: """
            With --pid, addresses are the process's own (as a stack shows them); with --elf, \
            they are addresses in the file (as nm and addr2line use them). Addresses are \
            hexadecimal (0x optional); without any on the command line, they are read from \
            standard input, one per line. For each address ember prints it, then its frames \
            innermost first, one per line, indented: inlined functions (marked [inlined]) \
            before the function they were inlined into, each with `at FILE:LINE` when known.

            Examples:
              ember symbolize --elf ./app 0x1139 0x1150
              ember symbolize --pid 4242 7f3a2c001234
            """)

    @Option(name: .long, help: "Resolve addresses in this process's address space.")
    var pid: Int32?

    @Option(name: .long, help: ArgumentHelp("Resolve file addresses of this ELF file.", valueName: "file"))
    var elf: String?

    @Flag(name: .long, help: "Leave out source positions.")
    var noLines = false

    @Flag(name: .long, help: "Leave out inlined functions.")
    var noInlines = false

    @Option(name: .long, help: ArgumentHelp(
        "Also look for debug files under this directory (as under /usr/lib/debug). Repeatable.",
        valueName: "dir"))
    var debugDir: [String] = []

    @Flag(name: .long, help: "Keep C++, Rust and Swift names as mangled.")
    var noDemangle = false

    @Argument(help: "Hexadecimal addresses.")
    var addresses: [String] = []

    func validate() throws {
        guard (pid == nil) != (elf == nil) else {
            throw ValidationError("name exactly one of --pid PID or --elf FILE")
        }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }

    func run() throws {
        let symbolizer = Symbolizer(options: SymbolizerOptions(
            lines: !noLines, debugDirectories: debugDir, demangle: !noDemangle, inlines: !noInlines))
        if let pid, !symbolizer.refresh(process: pid) {
            throw EmberError("no such process: \(pid) (or /proc/\(pid)/maps is not readable)")
        }
        if let elf {
            // Open it now, so a missing or non-ELF file is one clear error before any output.
            do { _ = try symbolizer.frames(inFile: elf, address: 0) } catch {
                throw EmberError("\(error)")
            }
        }
        var inputs = addresses
        if inputs.isEmpty {
            while let line = readLine() {
                let trimmed = line.trimmingSpaces()
                if !trimmed.isEmpty { inputs.append(trimmed) }
            }
        }
        var output = ""
        output.reserveCapacity(inputs.count * 64)
        for text in inputs {
            guard let address = parseAddress(text) else {
                flush(&output)
                throw EmberError("not a hexadecimal address: \(text)")
            }
            let frames: [Frame]
            if let elf {
                frames = try symbolizer.frames(inFile: elf, address: address)
            } else {
                frames = symbolizer.userFrames(pid: pid!, stack: [address])
            }
            output += "0x" + String(address, radix: 16) + "\n"
            for frame in frames {
                output += "  " + frame.name
                switch frame.kind {
                case .function: break
                case .inlined: output += " [inlined]"
                case .jit: output += " [jit]"
                }
                if let location = frame.location { output += " at \(location.file):\(location.line)" }
                output += "\n"
            }
            if output.utf8.count > 1 << 16 { flush(&output) }
        }
        flush(&output)
    }

    private func parseAddress(_ text: String) -> UInt64? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        return UInt64(digits, radix: 16)
    }

    private func flush(_ output: inout String) {
        output.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
        output.removeAll(keepingCapacity: true)
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var result = Substring(self)
        while let first = result.first, first == " " || first == "\t" || first == "\r" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result = result.dropLast() }
        return String(result)
    }
}
