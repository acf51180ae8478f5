#if canImport(Glibc)
import Glibc
#endif
import EmberSystem

/// The formats ember reads, told apart by their content.
public enum InputFormat: String, Sendable, CaseIterable {
    /// Collapsed stacks, `a;b;c 12` (ember, stackcollapse-*, bpftrace, py-spy, async-profiler).
    case folded
    /// The text `perf script` prints.
    case perfScript = "perf script"
    /// pprof's `profile.proto`, gzip-compressed or not.
    case pprof

    /// The format of an input that starts with `prefix` (its first few kilobytes).
    public static func detect(_ prefix: [UInt8]) -> InputFormat {
        if PprofReader.looksLikePprof(prefix) { return .pprof }
        // perf script: indented frame lines, and headers that are not folded stacks.
        var perfScriptLines = 0
        var foldedLines = 0
        var examined = 0
        prefix.withUnsafeBufferPointer { bytes in
            var start = 0
            while start < bytes.count, examined < 400 {
                let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
                // The last line may be cut off by the prefix's end: left out.
                if end == bytes.count, end - start > 0, bytes.count >= 4096 { break }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                start = end + 1
                guard let first = line.first, first != UInt8(ascii: "#") else { continue }
                examined += 1
                let isStack: Bool
                if case .stack = FoldedParser.parseLine(line) { isStack = true } else { isStack = false }
                if PerfScriptReader.isSpace(first) {
                    if PerfScriptReader.matchFrame(line) != nil { perfScriptLines += 1 }
                } else if isStack {
                    foldedLines += 1
                } else if PerfScriptReader.matchHeader(line) != nil {
                    perfScriptLines += 1
                }
            }
        }
        return perfScriptLines > foldedLines ? .perfScript : .folded
    }
}

/// How inputs are read.
public struct InputOptions: Sendable {
    public var perfScript = PerfScriptReader.Options()
    /// The sample type to keep from a profile with several (pprof, perf script), by its
    /// name; nil keeps the profile's default (for pprof: its `default_sample_type`, else
    /// the last, as pprof does).
    public var sampleType: String?

    public init() {}
}

/// One input file, opened and its format told from its first bytes; standard input (`-`)
/// too, so nothing is read twice.
public final class InputFile {
    public let path: String
    public let format: InputFormat
    private let fd: Int32
    private let ownsDescriptor: Bool
    private let prefix: [UInt8]
    private var consumed = false

    public init(path: String) throws {
        self.path = path
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ProfileInputError("cannot open \(path): \(String(cString: strerror(errno)))") }
            var info = stat()
            if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                close(fd)
                throw ProfileInputError("cannot read \(path): it is a directory")
            }
        }
        self.fd = fd
        ownsDescriptor = path != "-"
        let prefix: [UInt8]
        do {
            prefix = try FileContents.read(fileDescriptor: fd, name: path, upTo: 1 << 16)
        } catch {
            if path != "-" { close(fd) }
            throw ProfileInputError("\(error)")
        }
        self.prefix = prefix
        format = InputFormat.detect(prefix)
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    /// The size of the input if it is a regular file.
    public var regularFileSize: Int? {
        var info = stat()
        guard path != "-", fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// The input's lines, from its first byte (it can be read once).
    public func lines() -> FoldedLineReader {
        precondition(!consumed, "an input is read once")
        consumed = true
        return FoldedLineReader(fileDescriptor: fd, name: path, prefix: prefix, ownsDescriptor: false)
    }

    /// The input's bytes, whole.
    public func bytes(limit: Int = 1 << 32) throws -> [UInt8] {
        precondition(!consumed, "an input is read once")
        consumed = true
        do {
            return prefix + (try FileContents.read(fileDescriptor: fd, name: path, limit: max(limit - prefix.count, 0)))
        } catch let error as SystemError {
            throw ProfileInputError(error.description)
        }
    }

    /// The input as a profile, with warnings about what was skipped (one line each).
    public func profile(options: InputOptions = InputOptions()) throws -> (profile: Profile, warnings: [String]) {
        var warnings: [String] = []
        var profile: Profile
        switch format {
        case .folded:
            var reader = FoldedReader()
            try reader.add(lines())
            profile = reader.profile
            if let summary = reader.report.malformedSummary { warnings.append("skipped \(summary)") }
        case .perfScript:
            var reader = PerfScriptReader(options: options.perfScript)
            try reader.add(lines())
            reader.finish()
            if let first = reader.report.firstFrameWithoutHeader {
                throw ProfileInputError("\(path):\(first): frames of no sample: \(reader.report.framesWithoutHeader) "
                    + "frame line\(reader.report.framesWithoutHeader == 1 ? "" : "s") with no header line "
                    + "(`comm pid time: event:`) since the last blank line")
            }
            profile = reader.profile
            warnings += Self.warnings(of: reader.report, path: path)
        case .pprof:
            profile = try PprofReader.read(bytes(), name: path)
        }
        if let name = options.sampleType {
            guard let type = profile.sampleType(named: name) else {
                throw ProfileInputError("\(path) has no sample type '\(name)' (it has "
                    + profile.sampleTypes.map(\.type).joined(separator: ", ") + ")")
            }
            profile.defaultSampleType = type
        }
        return (profile, warnings)
    }

    static func warnings(of report: PerfScriptReader.Report, path: String) -> [String] {
        var warnings: [String] = []
        if report.unrecognizedLines > 0, let first = report.firstUnrecognized {
            warnings.append("skipped \(report.unrecognizedLines) unrecognized line\(report.unrecognizedLines == 1 ? "" : "s") "
                + "(first: \(path):\(first))")
        }
        if report.filteredSamples > 0, let kept = report.keptEvent {
            warnings.append("kept only the samples of event \(kept): \(report.filteredSamples) samples of "
                + report.otherEvents.sorted().joined(separator: ", ") + " left out (choose with --event-filter)")
        }
        return warnings
    }
}
