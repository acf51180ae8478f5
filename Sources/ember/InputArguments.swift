import ArgumentParser
import EmberProfile

/// How `render`, `diff` and `convert` read their inputs: any format ember reads, told apart
/// by content; `perf script` text the way stackcollapse-perf.pl reads it.
struct InputArguments: ParsableArguments {
    @Option(name: .customLong("sample-type"), help: ArgumentHelp(
        "Of a profile with several sample types (pprof, perf script), the one to use "
            + "(default: its default, as pprof chooses).", valueName: "name"))
    var sampleType: String?

    @Flag(name: .long, help: "perf script input: root frames `comm-PID` (as stackcollapse-perf.pl --pid).")
    var pid = false

    @Flag(name: .long, help: "perf script input: root frames `comm-PID/TID` (as stackcollapse-perf.pl --tid).")
    var tid = false

    @Flag(name: .long, help: "perf script input: `[module <address>]` for frames without a symbol.")
    var addrs = false

    @Option(name: .customLong("event-filter"), help: ArgumentHelp(
        "perf script input: keep the samples of this event (default: the first one seen).", valueName: "event"))
    var eventFilter: String?

    @Flag(name: .long, help: "Fail on malformed or unrecognized lines instead of skipping them with a warning.")
    var strict = false

    var options: InputOptions {
        var options = InputOptions()
        options.sampleType = sampleType
        options.perfScript.pid = pid
        options.perfScript.tid = tid
        options.perfScript.addresses = addrs
        options.perfScript.eventFilter = eventFilter
        return options
    }

    /// Opens `path`, telling its format.
    func open(_ path: String) throws -> InputFile {
        do { return try InputFile(path: path) } catch let error as ProfileInputError { throw EmberError(error.description) }
    }

    /// Reads `input` whole into a profile, reporting what was skipped (an error with --strict).
    func profile(of input: InputFile) throws -> Profile {
        let (profile, warnings): (Profile, [String])
        do { (profile, warnings) = try input.profile(options: options) } catch let error as ProfileInputError {
            throw EmberError(error.description)
        }
        try report(warnings)
        return profile
    }

    /// Reads every file and merges them (they must measure the same sample types); an error
    /// if they hold no samples.
    func mergedProfile(of files: [String]) throws -> Profile {
        var merged: Profile?
        for file in files {
            let profile = try profile(of: try open(file))
            if merged == nil {
                merged = profile
            } else {
                do { try merged!.append(profile) } catch let error as ProfileInputError {
                    throw EmberError("cannot merge \(file): \(error.description)")
                }
            }
        }
        guard let profile = merged, profile.sampleCount > 0 else {
            throw EmberError("no samples in \(files.joined(separator: ", "))")
        }
        return profile
    }

    /// Warnings about skipped input: on stderr, or with --strict the end.
    func report(_ warnings: [String]) throws {
        if strict, let first = warnings.first { throw EmberError("--strict: \(first)") }
        for warning in warnings { warn(warning) }
    }

    /// What a folded file's counts are: microseconds in off-CPU and wall-clock profiles (their
    /// stacks end in `[off-cpu]_[o]`), samples otherwise.
    static func foldedCountName(of tree: FrameTree) -> String {
        (1..<max(tree.nodeCount, 1)).contains { tree.kind(of: $0) == .offCPU } ? "microseconds" : "samples"
    }

    /// What a count is, by the unit of the sample type shown: `samples` for counts.
    static func countName(of profile: Profile, type: Int? = nil) -> String {
        let valueType = profile.sampleTypes[type ?? profile.defaultSampleType]
        return valueType.unit == "count" ? (valueType.type == "samples" ? "samples" : valueType.type) : valueType.unit
    }
}
