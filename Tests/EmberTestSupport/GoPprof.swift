import Foundation
import XCTest

/// pprof's real consumer, `go tool pprof` (Debian's golang-go, installed by scripts/bootstrap),
/// and what it prints, read back for comparison with ember's own outputs.
public enum GoPprof {
    /// The `go` binary, or a skip that says why there is none.
    public static func goBinary() throws -> String {
        for path in ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw XCTSkip("go is not installed (scripts/bootstrap installs golang-go)")
    }

    /// Builds samples/go/pprofgen in `directory` and has it write a CPU and a heap profile
    /// there (real Go profiles: hotA about two thirds of the CPU, allocA three times allocB).
    public static func sampleProfiles(in directory: String) throws -> (cpu: String, heap: String) {
        let go = try goBinary()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let source = packageRoot.appendingPathComponent("samples/go/pprofgen.go").path
        let binary = directory + "/pprofgen"
        let build = Process()
        build.executableURL = URL(fileURLWithPath: go)
        build.arguments = ["build", "-o", binary, source]
        build.environment = ["GO111MODULE": "off", "GOCACHE": directory + "/cache", "HOME": directory,
                             "PATH": "/usr/bin:/bin"]
        try build.run()
        build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0, "go build \(source)")
        let cpu = directory + "/cpu.pprof", heap = directory + "/heap.pprof"
        let run = try runProgram(binary, [cpu, heap, "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        return (cpu, heap)
    }

    /// One row of `go tool pprof -top`: flat% and cum% of a function.
    public struct TopRow: Equatable {
        public var name: String
        public var flatPercent: Double
        public var cumulativePercent: Double
    }

    /// Every function `go tool pprof -top` lists for `file` (no node dropped).
    public static func top(_ file: String, sampleIndex: String? = nil) throws -> [TopRow] {
        let text = try run(["-top", "-nodefraction=0", "-nodecount=100000"] + (sampleIndex.map { ["-sample_index=\($0)"] } ?? []),
                           file)
        var rows: [TopRow] = []
        var inTable = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "flat" { inTable = true; continue }
            guard inTable, fields.count >= 6,
                  let flat = Double(fields[1].dropLast()), let cumulative = Double(fields[4].dropLast())
            else { continue }
            // Functions seen only inlined are marked `(inline)`.
            var name = fields[5...].joined(separator: " ")
            if name.hasSuffix(" (inline)") { name = String(name.dropLast(" (inline)".count)) }
            rows.append(TopRow(name: name, flatPercent: flat, cumulativePercent: cumulative))
        }
        return rows
    }

    /// Runs `go tool pprof ARGUMENTS FILE` and returns what it printed; fails the test if it
    /// refused the file.
    public static func run(_ arguments: [String], _ file: String,
                           sourceFile: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try runProgram(try goBinary(), ["tool", "pprof"] + arguments + [file])
        XCTAssertEqual(result.status, 0, "go tool pprof refused \(file): \(result.stderr)", file: sourceFile, line: line)
        return result.stdout
    }

    /// One sample as `go tool pprof -raw` lists it.
    public struct Sample {
        public var values: [Double]
        public var locations: [Int]
        public var labels: [String: String]
    }

    /// One location: its mapping and its lines' function names, innermost first.
    public struct Location {
        public var mapping: Int
        public var functions: [String]
    }

    /// A profile as `go tool pprof -raw` prints it.
    public struct Raw {
        public var sampleTypes: [String] = []
        public var defaultType: Int?
        public var samples: [Sample] = []
        public var locations: [Int: Location] = [:]
        public var mappingFiles: [Int: String] = [:]

        /// The samples as ember's folded stacks would name them: the `comm` label as the root,
        /// then each location's lines outermost first, kernel frames (in `[kernel.kallsyms]`)
        /// `_[k]`, JIT frames (in a perf map) `_[j]`, inlined lines `_[i]`.
        public func foldedStacks(type: Int) -> [[String]: Double] {
            var stacks: [[String]: Double] = [:]
            for sample in samples {
                var frames: [String] = []
                if let comm = sample.labels["comm"] { frames.append(comm) }
                for id in sample.locations.reversed() {
                    guard let location = locations[id] else { continue }
                    let file = mappingFiles[location.mapping] ?? ""
                    let suffix = file.hasPrefix("[kernel") ? "_[k]"
                        : (file == "[jit]" || (file.hasPrefix("/tmp/perf-") && file.hasSuffix(".map"))) ? "_[j]"
                        : file == "[waker]" ? "_[w]" : file == "[off-cpu]" ? "_[o]" : ""
                    for (index, function) in location.functions.enumerated().reversed() {
                        frames.append(function + (index == location.functions.count - 1 ? suffix : "_[i]"))
                    }
                }
                stacks[frames, default: 0] += sample.values[type]
            }
            return stacks.filter { $0.value != 0 }
        }
    }

    /// Reads `go tool pprof -raw` output.
    public static func parseRaw(_ text: String) throws -> Raw {
        var raw = Raw()
        enum Section { case header, samples, locations, mappings }
        var section = Section.header
        var lastLocation: Int?
        let labelPattern = try NSRegularExpression(pattern: #"([A-Za-z_][A-Za-z0-9_.]*):\[([^\]]*)\]"#)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line == "Samples:" { section = .samples; continue }
            if line == "Locations" { section = .locations; continue }
            if line == "Mappings" { section = .mappings; continue }
            if trimmed.isEmpty { continue }
            switch section {
            case .header:
                continue
            case .samples:
                if raw.sampleTypes.isEmpty {
                    let types = trimmed.split(separator: " ").map(String.init)
                    raw.sampleTypes = types.map { $0.replacingOccurrences(of: "[dflt]", with: "") }
                    raw.defaultType = types.firstIndex { $0.hasSuffix("[dflt]") }
                } else if let colon = trimmed.firstIndex(of: ":"),
                          trimmed[..<colon].split(separator: " ").allSatisfy({ Double($0) != nil }),
                          !trimmed[..<colon].isEmpty {
                    let values = trimmed[..<colon].split(separator: " ").compactMap { Double($0) }
                    let ids = trimmed[trimmed.index(after: colon)...].split(separator: " ").compactMap { Int($0) }
                    raw.samples.append(Sample(values: values, locations: ids, labels: [:]))
                } else {
                    let range = NSRange(trimmed.startIndex..., in: trimmed)
                    for match in labelPattern.matches(in: trimmed, range: range) {
                        let key = String(trimmed[Range(match.range(at: 1), in: trimmed)!])
                        let value = String(trimmed[Range(match.range(at: 2), in: trimmed)!])
                        raw.samples[raw.samples.count - 1].labels[key] = value
                    }
                }
            case .locations:
                // `     7: 0x55…2a M=1 now :0 s=0`, then one line per outer inlined function.
                var rest = Substring(trimmed)
                if let colon = rest.firstIndex(of: ":"), let id = Int(rest[..<colon]),
                   rest[rest.index(after: colon)...].hasPrefix(" 0x") {
                    // The address, then `M=id` unless the location has no mapping.
                    rest = rest[rest.index(after: colon)...].dropFirst()
                    rest = rest.drop { $0 != " " }.dropFirst()
                    var mapping = 0
                    if rest.hasPrefix("M=") {
                        mapping = Int(rest.dropFirst(2).prefix { $0 != " " }) ?? 0
                        rest = rest.drop { $0 != " " }.dropFirst()
                    }
                    raw.locations[id] = Location(mapping: mapping, functions: [])
                    lastLocation = id
                    if rest.isEmpty { continue }
                }
                guard let id = lastLocation else { continue }
                // `name file:line s=N`: the name is all before the last two fields.
                var fields = rest.split(separator: " ", omittingEmptySubsequences: false)
                if fields.count >= 3, fields.last!.hasPrefix("s=") { fields.removeLast(2) }
                raw.locations[id]!.functions.append(fields.joined(separator: " "))
            case .mappings:
                // `3: 0x0/0xffffffffffffffff/0x0 [kernel.kallsyms]  [FN]`
                let parts = trimmed.split(separator: " ", maxSplits: 2).map(String.init)
                guard parts.count >= 3, let id = Int(parts[0].dropLast()) else { continue }
                raw.mappingFiles[id] = parts[2].split(separator: " ").first.map(String.init) ?? ""
            }
        }
        return raw
    }

    /// Per function, its flat and cumulative values as `go tool pprof -top` prints them.
    public static func parseTop(_ text: String) -> [String: (flat: Double, cumulative: Double)] {
        var rows: [String: (flat: Double, cumulative: Double)] = [:]
        var inTable = false
        for line in text.split(separator: "\n").map(String.init) {
            if line.contains("flat%") && line.contains("cum%") {
                inTable = true
                continue
            }
            guard inTable else { continue }
            // `       199   100%   100%        199   100%  spin`
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, let flat = Double(fields[0]), let cumulative = Double(fields[3]) else { continue }
            rows[fields[5].trimmingCharacters(in: .whitespaces)] = (flat, cumulative)
        }
        return rows
    }
}

/// Flat and cumulative values per function of folded stacks, as pprof counts them: flat
/// for the leaf, cumulative once per stack for every function in it. The root (the
/// process) and kind suffixes are left out, as pprof has neither.
public func pprofFigures(ofFolded stacks: [[String]: Double], hasProcessRoot: Bool = true)
    -> [String: (flat: Double, cumulative: Double)] {
    func name(_ frame: String) -> String {
        for suffix in ["_[k]", "_[i]", "_[j]", "_[w]"] where frame.hasSuffix(suffix) {
            return String(frame.dropLast(4)) + (suffix == "_[i]" ? " (inline)" : "")
        }
        return frame
    }
    var figures: [String: (flat: Double, cumulative: Double)] = [:]
    for (stack, count) in stacks {
        let frames = (hasProcessRoot ? Array(stack.dropFirst()) : stack).map(name)
        guard let leaf = frames.last else { continue }
        figures[leaf, default: (0, 0)].flat += count
        for function in Set(frames) { figures[function, default: (0, 0)].cumulative += count }
    }
    return figures
}
