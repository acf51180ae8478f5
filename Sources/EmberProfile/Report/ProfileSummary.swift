/// Where a profile's time went, as `perf report --stdio` and `go tool pprof -top` give it:
/// each function's self value (samples whose innermost frame it is) and total value
/// (samples with it anywhere on the stack, counted once however often it recurs), and the
/// same by library, process and thread.
///
/// Functions are told apart by name, as pprof's `-top` tells them apart: an inlined copy
/// counts as its function, wherever it was inlined. Kernel and JIT code keep their kind
/// (`read [k]`), process and thread frames are not functions.
public struct ProfileSummary: Sendable {
    /// One row: a function, library, process or thread and its values.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var selfValue: Double
        public var totalValue: Double
        /// Of a function or library: the process with the most of its total, and how many
        /// processes it ran in (0 where the profile names none).
        public var process: String?
        public var processCount: Int

        public init(name: String, selfValue: Double, totalValue: Double, process: String? = nil, processCount: Int = 0) {
            self.name = name
            self.selfValue = selfValue
            self.totalValue = totalValue
            self.process = process
            self.processCount = processCount
        }
    }

    /// What the values measure (the sample type summarized).
    public let valueType: ValueType
    /// The total over every sample.
    public let total: Double
    /// Samples (the profile's, whatever their values) and distinct stacks with a value.
    public let sampleCount: Int
    public let stackCount: Int
    /// Every function, by self value, largest first (then by name).
    public let functions: [Entry]
    /// Every mapped file (by its base name), by self value; empty where the profile has no
    /// mappings (folded or perf script input).
    public let libraries: [Entry]
    /// Processes: their frames (`comm` labels of pprof, ember's recordings, perf script), or
    /// where there are none and `rootsAreProcesses`, the root frames (folded stacks, whose
    /// root is the process as ember and stackcollapse-perf.pl write them; then not counted
    /// as functions). Self is total.
    public let processes: [Entry]
    /// Threads: thread frames (`--threads`), or the `tid` and `thread_name` labels; empty
    /// where the profile says nothing of threads.
    public let threads: [Entry]

    /// - Parameters:
    ///   - sampleType: the index of the sample type to sum (default: the profile's default).
    ///   - rootsAreProcesses: without process frames, take the root frames as processes.
    public init(profile: Profile, sampleType: Int? = nil, rootsAreProcesses: Bool = false) {
        let type = sampleType ?? profile.defaultSampleType
        valueType = profile.sampleTypes[type]
        sampleCount = profile.sampleCount

        // Values summed per stack (its innermost entry) and per thread label set first:
        // every later walk is per distinct stack, not per sample.
        var stackValues = [Double](repeating: 0, count: profile.stacks.count)
        var emptyStackValue = 0.0
        var threadValues: [String: Double] = [:]
        var labelThread: [Int32: String?] = [:]
        var total = 0.0
        for sample in 0..<profile.sampleCount {
            let value = profile.value(ofSample: sample, type: type)
            total += value
            let stack = profile.sampleStacks[sample]
            if stack >= 0 { stackValues[Int(stack)] += value } else { emptyStackValue += value }
            let set = profile.sampleLabels[sample]
            let thread: String?
            if let known = labelThread[set] {
                thread = known
            } else {
                thread = Self.threadName(profile, labelSet: set)
                labelThread[set] = thread
            }
            if let thread { threadValues[thread, default: 0] += value }
        }
        self.total = total

        var names = FunctionNames(profile: profile)
        var selfValues: [Int: Double] = [:]
        var totalValues: [Int: Double] = [:]
        var librarySelf: [String: Double] = [:]
        var libraryTotal: [String: Double] = [:]
        var processValues: [String: Double] = [:]
        var threadFrameValues: [String: Double] = [:]
        // Folded stacks have no process frames: their roots are the processes, when told so.
        let rootIsProcess = rootsAreProcesses && !profile.locations.contains { $0.kind == .process }
        // Each stack's process (a caller's id is below its callee's: one pass in id order).
        var processOfStack = [Int32](repeating: -1, count: profile.stacks.count)
        var processNames: [String] = []
        var processIDs: [String: Int32] = [:]
        for stack in 0..<profile.stacks.count {
            let caller = profile.stacks.caller(of: Int32(stack))
            let location = profile.locations[Int(profile.stacks.location(of: Int32(stack)))]
            if location.kind == .process || (caller < 0 && rootIsProcess) {
                let name = names.text(location.lines[location.lines.count - 1].function)
                if let id = processIDs[name] {
                    processOfStack[stack] = id
                } else {
                    processOfStack[stack] = Int32(processNames.count)
                    processIDs[name] = Int32(processNames.count)
                    processNames.append(name)
                }
            } else if caller >= 0 {
                processOfStack[stack] = processOfStack[Int(caller)]
            }
        }
        var functionProcesses: [Int: [Int32: Double]] = [:]
        var libraryProcesses: [String: [Int32: Double]] = [:]
        var seen = Set<Int>()
        var seenLibraries = Set<String>()
        var stacks = 0
        for stack in 0..<profile.stacks.count where stackValues[stack] != 0 {
            stacks += 1
            let value = stackValues[stack]
            seen.removeAll(keepingCapacity: true)
            seenLibraries.removeAll(keepingCapacity: true)
            var isLeaf = true
            let process = processOfStack[stack]
            var current = Int32(stack)
            while current >= 0 {
                let locationID = profile.stacks.location(of: current)
                let location = profile.locations[Int(locationID)]
                let isRoot = profile.stacks.caller(of: current) < 0
                switch location.kind {
                case _ where isRoot && rootIsProcess:
                    processValues[names.text(location.lines[location.lines.count - 1].function), default: 0] += value
                case .process:
                    processValues[names.text(location.lines[0].function), default: 0] += value
                case .thread:
                    threadFrameValues[names.text(location.lines[0].function), default: 0] += value
                default:
                    let library = location.mapping >= 0 ? names.library(ofMapping: location.mapping) : nil
                    for (index, line) in location.lines.enumerated() {
                        let function = names.function(line.function, kind: location.kind)
                        if isLeaf && index == 0 {
                            selfValues[function, default: 0] += value
                            if let library { librarySelf[library, default: 0] += value }
                        }
                        if seen.insert(function).inserted {
                            totalValues[function, default: 0] += value
                            if process >= 0 { functionProcesses[function, default: [:]][process, default: 0] += value }
                        }
                    }
                    if let library, seenLibraries.insert(library).inserted {
                        libraryTotal[library, default: 0] += value
                        if process >= 0 { libraryProcesses[library, default: [:]][process, default: 0] += value }
                    }
                    isLeaf = false
                }
                current = profile.stacks.caller(of: current)
            }
        }
        stackCount = stacks + (emptyStackValue != 0 ? 1 : 0)

        func mainProcess(_ values: [Int32: Double]?) -> (String?, Int) {
            guard let values, let top = values.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key })
            else { return (nil, 0) }
            return (processNames[Int(top.key)], values.count)
        }
        functions = Self.ranked(totalValues.map { function, totalValue in
            let (process, count) = mainProcess(functionProcesses[function])
            return Entry(name: names.functionNames[function], selfValue: selfValues[function] ?? 0, totalValue: totalValue,
                         process: process, processCount: count)
        })
        libraries = Self.ranked(libraryTotal.map { library, totalValue in
            let (process, count) = mainProcess(libraryProcesses[library])
            return Entry(name: library, selfValue: librarySelf[library] ?? 0, totalValue: totalValue,
                         process: process, processCount: count)
        })

        processes = Self.ranked(processValues.map { Entry(name: $0.key, selfValue: $0.value, totalValue: $0.value) })
        let threadSource = threadFrameValues.isEmpty ? threadValues : threadFrameValues
        threads = Self.ranked(threadSource.map { Entry(name: $0.key, selfValue: $0.value, totalValue: $0.value) })
    }

    /// Largest self first, then largest total, then by name.
    private static func ranked(_ entries: [Entry]) -> [Entry] {
        entries.sorted {
            $0.selfValue != $1.selfValue ? $0.selfValue > $1.selfValue
                : $0.totalValue != $1.totalValue ? $0.totalValue > $1.totalValue : $0.name < $1.name
        }
    }

    /// The functions by total value, largest first.
    public var functionsByTotal: [Entry] {
        functions.sorted {
            $0.totalValue != $1.totalValue ? $0.totalValue > $1.totalValue
                : $0.selfValue != $1.selfValue ? $0.selfValue > $1.selfValue : $0.name < $1.name
        }
    }

    /// `comm-tid` style thread names from a label set: `thread_name (tid)`, or either alone.
    private static func threadName(_ profile: Profile, labelSet: Int32) -> String? {
        let name = profile.label(LabelKey.threadName, inSet: labelSet)
        let tid = profile.numericLabel(LabelKey.tid, inSet: labelSet)
            ?? profile.label(LabelKey.tid, inSet: labelSet).flatMap { Int64($0) }
        switch (name, tid) {
        case let (name?, tid?): return "\(name) (\(tid))"
        case let (name?, nil): return name
        case let (nil, tid?): return "tid \(tid)"
        case (nil, nil): return nil
        }
    }
}

/// Names of functions and libraries as a summary shows them, each made once.
private struct FunctionNames {
    let profile: Profile
    /// Display names, indexed by the ids `function(_:kind:)` hands out.
    var functionNames: [String] = []
    private var functionIDs: [String: Int] = [:]
    /// Per profile function: its id as user code, kernel code and JIT code (-1 until made).
    private var byFunction: [[Int]]
    private var libraries: [Int32: String] = [:]

    init(profile: Profile) {
        self.profile = profile
        byFunction = [[Int]](repeating: [-1, -1, -1], count: profile.functions.count)
    }

    /// The text of a function's name, safe to print.
    func text(_ function: Int32) -> String {
        profile.strings.withBytes(of: profile.functions[Int(function)].name) { TerminalText.safe($0) }
    }

    /// The summary's id of a function of code of `kind`: inlined copies are their function.
    mutating func function(_ function: Int32, kind: FrameKind) -> Int {
        let slot = kind == .kernel ? 1 : kind == .jit ? 2 : 0
        let known = byFunction[Int(function)][slot]
        if known >= 0 { return known }
        var name = text(function)
        if slot == 1 { name += " [k]" } else if slot == 2 { name += " [j]" }
        let id: Int
        if let existing = functionIDs[name] {
            id = existing
        } else {
            id = functionNames.count
            functionNames.append(name)
            functionIDs[name] = id
        }
        byFunction[Int(function)][slot] = id
        return id
    }

    /// A mapping's file by its base name (`libc.so.6`), or its pseudo-name (`[vdso]`).
    mutating func library(ofMapping mapping: Int32) -> String {
        if let known = libraries[mapping] { return known }
        let file = profile.mappings[Int(mapping)].file
        let base = file.split(separator: "/").last.map(String.init) ?? file
        let name = TerminalText.safe(base.isEmpty ? "[unknown]" : base)
        libraries[mapping] = name
        return name
    }
}

extension ProfileSummary {
    /// The `count` functions with the most self value, largest first (then by name), and
    /// the profile's total: what a recording's closing line names, without walking every
    /// stack to its root as a whole summary does (a CFI-walked recording holds thousands of
    /// distinct stacks). Self values are the summary's: the innermost function frame's.
    public static func hottestFunctions(in profile: Profile, count: Int, sampleType: Int? = nil)
        -> (functions: [Entry], total: Double) {
        let (stackValues, total) = valuesByStack(profile, type: sampleType ?? profile.defaultSampleType)
        var names = FunctionNames(profile: profile)
        var selfValues: [Int: Double] = [:]
        for stack in 0..<profile.stacks.count where stackValues[stack] != 0 {
            var current = Int32(stack)
            while current >= 0 {
                let location = profile.locations[Int(profile.stacks.location(of: current))]
                if location.kind != .process && location.kind != .thread, let line = location.lines.first {
                    selfValues[names.function(line.function, kind: location.kind), default: 0] += stackValues[stack]
                    break
                }
                current = profile.stacks.caller(of: current)
            }
        }
        let ranked = selfValues.map { Entry(name: names.functionNames[$0.key], selfValue: $0.value, totalValue: 0) }
            .sorted { $0.selfValue != $1.selfValue ? $0.selfValue > $1.selfValue : $0.name < $1.name }
        return (Array(ranked.prefix(count)), total)
    }

    /// The samples' values summed by stack (its innermost entry), and their total.
    private static func valuesByStack(_ profile: Profile, type: Int) -> (values: [Double], total: Double) {
        var values = [Double](repeating: 0, count: profile.stacks.count)
        var total = 0.0
        for sample in 0..<profile.sampleCount {
            let value = profile.value(ofSample: sample, type: type)
            total += value
            if profile.sampleStacks[sample] >= 0 { values[Int(profile.sampleStacks[sample])] += value }
        }
        return (values, total)
    }
}

extension ProfileSummary {
    /// Who calls `function` (a name as ``functions`` gives it) and what it calls: each
    /// caller with the value of the samples in which it called the function, each callee
    /// likewise, and `(self)` for the function's own value; `(root)` where nothing called
    /// it. A recursive function is taken at its outermost call.
    public static func neighbors(of function: String, in profile: Profile, sampleType: Int? = nil)
        -> (callers: [Entry], callees: [Entry]) {
        let stackValues = valuesByStack(profile, type: sampleType ?? profile.defaultSampleType).values
        var names = FunctionNames(profile: profile)
        var callers: [String: Double] = [:]
        var callees: [String: Double] = [:]
        var frames: [String] = []
        for stack in 0..<profile.stacks.count where stackValues[stack] != 0 {
            frames.removeAll(keepingCapacity: true)
            var current = Int32(stack)
            while current >= 0 {
                let location = profile.locations[Int(profile.stacks.location(of: current))]
                switch location.kind {
                case .process, .thread:
                    frames.append(names.text(location.lines[location.lines.count - 1].function))
                default:
                    for line in location.lines {
                        frames.append(names.functionNames[names.function(line.function, kind: location.kind)])
                    }
                }
                current = profile.stacks.caller(of: current)
            }
            // Innermost first: the outermost call is the last match.
            guard let index = frames.lastIndex(of: function) else { continue }
            let value = stackValues[stack]
            callers[index + 1 < frames.count ? frames[index + 1] : "(root)", default: 0] += value
            callees[index > 0 ? frames[index - 1] : "(self)", default: 0] += value
        }
        func entries(_ values: [String: Double]) -> [Entry] {
            values.map { Entry(name: $0.key, selfValue: $0.value, totalValue: $0.value) }
                .sorted { $0.totalValue != $1.totalValue ? $0.totalValue > $1.totalValue : $0.name < $1.name }
        }
        return (entries(callers), entries(callees))
    }
}
