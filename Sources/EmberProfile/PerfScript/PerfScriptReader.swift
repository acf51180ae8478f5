/// Reads `perf script` text into a ``Profile`` the way FlameGraph's `stackcollapse-perf.pl`
/// (the de-facto standard) collapses it, so that ember's folded output of a dump is that
/// script's, line for line, with its `--all` annotations:
///
/// - a sample starts with a header line (`comm pid/tid [cpu] time: period event:`) and ends
///   at a blank line, and only there: frames read before a header that no blank line
///   preceded stay in the sample, which takes the later header's name and period (the
///   script keeps one stack until a blank line); its weight is its period (1 when none is
///   printed);
/// - the process name is the root frame (spaces made `_`), `comm-PID` with ``Options/pid``,
///   `comm-PID/TID` with ``Options/tid``; a `;` in it separates root frames, as in the
///   script's output;
/// - only the first event type seen is kept, unless ``Options/eventFilter`` names one; the
///   header of another event is skipped alone, so its frames join the sample before it when
///   no blank line ended that one;
/// - frame lines are recognized wherever they start (indented or not) when the line is not
///   a header; frame names are tidied: offsets, arguments (after the first `(` that is not
///   `(anonymous namespace)`, except in Go method names) and quotes removed, `;` made `:`;
///   Java's `L` prefix dropped in `java` processes; `[unknown]` named after its module
///   (with ``Options/addresses``, with its address too); a frame whose name starts with `(`
///   is left out;
/// - kernel modules (`[...]`, `vmlinux`) mark frames kernel, perf maps JIT, and the later
///   parts of `a->b` inlined; a name that already holds the script's `_[i]` or `_[j]` mark
///   is not marked again (as a name of that kind when it ends with the mark, as an ordinary
///   name when the mark is inside it).
///
/// Deliberate differences from the script: frames that `perf script --inline` prints as
/// `name (inlined)` become inlined lines of the frame they were inlined into (or, with none
/// after them, a location of inlined frames of its own), where stackcollapse-perf.pl keeps
/// them as plain frames; a last sample that no blank line ends is kept (the script drops
/// it). Lines it would warn about are counted in ``report``; samples keep their timestamps.
public struct PerfScriptReader {
    public struct Options: Sendable, Equatable {
        /// Root frames `comm-PID`.
        public var pid = false
        /// Root frames `comm-PID/TID`.
        public var tid = false
        /// `[module <address>]` for frames without a symbol.
        public var addresses = false
        /// Keep only samples of this event (default, or empty: the first one seen).
        public var eventFilter: String?
        public init() {}
    }

    /// What the reader could not use.
    public struct Report: Sendable, Equatable {
        public var lines = 0
        public var samples = 0
        /// Lines that are neither a header, a frame, a comment nor blank.
        public var unrecognizedLines = 0
        public var firstUnrecognized: Int?
        /// Frame lines of no sample: with no header line before them since the last blank
        /// line (not a sample of a left-out event). The script skips them without a word;
        /// ember makes them an error, since a block of frames lost its header.
        public var framesWithoutHeader = 0
        public var firstFrameWithoutHeader: Int?
        /// Samples of other events than the one kept, and that event.
        public var filteredSamples = 0
        public var keptEvent: String?
        public var otherEvents: Set<String> = []
    }

    public private(set) var profile = Profile(sampleTypes: [.samples, ValueType(type: "events", unit: "count")])
    public private(set) var report = Report()
    public let options: Options

    private var eventFilter: [UInt8]?
    private var sawEventType = false
    /// The line being read, and whether the frames since the last blank line belong to a
    /// sample of a left-out event.
    private var lineNumber = 0
    private var skippingLeftOutSample = false
    /// The sample being read (the script's `$pname`, `$m_period` and `@stack`): its root
    /// frames' name, labels, period, time, and its frames' locations, leaf first.
    private var hasProcessName = false
    private var processName: [UInt8] = []
    private var processIsJava = false
    private var labels: Int32 = 0
    private var period: Double = 1
    private var time: Int64?
    private var frames: [Int32] = []
    /// Lines `name (inlined)` waiting for the frame they were inlined into, innermost first,
    /// and the bytes of their frame lines (a part of the cache key of that frame).
    private var pendingInlines: [Line] = []
    private var pendingInlineKey: [UInt8] = []

    /// The locations each distinct frame line gives, by the line's bytes, tagged with whether
    /// the process is `java` (whose names are tidied differently): the location and 1, or
    /// where they start in `cachedLocations` (leaf first) and how many, 0 or 2 or more; for
    /// a line `name (inlined)`, where its lines start in `cachedInlines` and -1 - how many.
    private var frameLines = ByteKeyTable()
    /// The previous line's record, when it was a frame of this sample (not inlined).
    private var previousFrameLine: ByteKeyTable.Record?
    private var cachedLocations: [Int32] = []
    private var cachedInlines: [Line] = []
    /// Each distinct module's mapping, and whether the script marks its frames.
    private var modules = ByteKeyTable()
    private var functionOfName: [Int32: Int32] = [:]
    /// The root locations of each process name (a `;` in it separates several), root first.
    private var rootsOfName: [Int32: [Int32]] = [:]
    /// The label set of each command name, pid and tid.
    private var labelSets = ByteKeyTable()
    /// What a header's bytes up to its numbers give: an index of `threadHeaders`.
    private var threads = ByteKeyTable()
    private var threadHeaders: [(processName: [UInt8], isJava: Bool, labels: Int32)] = []
    /// The index of `threadHeaders` the last header kept gave.
    private var headerThread: Int32 = 0
    /// The stack id of each distinct sample (its thread and locations), so that a
    /// repeated stack is looked up once rather than frame by frame.
    private var stacks = ByteKeyTable()
    /// Per index of `threadHeaders`: its root locations, and the last new stack of the thread,
    /// root first: its locations and their stack ids, since a thread's next stack shares
    /// most of its callers.
    private var lastStackOfThread: [(roots: [Int32], locations: [Int32], stacks: [Int32])] = []
    /// Per stack id: the callee it was last given, and that stack.
    private var lastCallee: [(location: Int32, stack: Int32)] = []
    private var rootFirst: [Int32] = []
    /// The parts of each distinct name and module (tagged `java` process 1, inlined line 2):
    /// where they start in `cachedParts` and how many.
    private var tidiedNames = ByteKeyTable()
    private var cachedParts: [Part] = []
    private var scratch: [UInt8] = []
    private var nameScratch: [UInt8] = []

    private struct ModuleInfo {
        var mapping: Int32
        var isKernel: Bool
        var isJIT: Bool
    }

    /// One part of a frame name split on `->`, tidied, and its kind.
    private struct Part {
        var function: Int32
        var kind: FrameKind
    }

    public init(options: Options = Options()) {
        self.options = options
        // The script's default filter is the empty string.
        if let filter = options.eventFilter, !filter.isEmpty { eventFilter = Array(filter.utf8) }
    }

    /// Reads a whole file (`-` for standard input).
    public static func read(path: String, options: Options = Options()) throws -> (profile: Profile, report: Report) {
        var reader = PerfScriptReader(options: options)
        try reader.add(FoldedLineReader(path: path))
        reader.finish()
        return (reader.profile, reader.report)
    }

    /// Reads text held in memory.
    public static func read<Bytes: Collection>(bytes: Bytes, options: Options = Options())
        -> (profile: Profile, report: Report) where Bytes.Element == UInt8 {
        var reader = PerfScriptReader(options: options)
        try! reader.add(FoldedLineReader(bytes: bytes, name: "-"))
        reader.finish()
        return (reader.profile, reader.report)
    }

    /// Adds every line `lines` gives; ``finish()`` ends the last sample.
    public mutating func add(_ lines: FoldedLineReader) throws {
        while let line = try lines.next() { addLine(line, number: lines.lineNumber) }
    }

    /// Ends a sample the input did not end with a blank line.
    public mutating func finish() {
        if hasProcessName { endSample() }
    }

    // MARK: - Lines

    public mutating func addLine(_ line: UnsafeBufferPointer<UInt8>, number: Int) {
        report.lines += 1
        lineNumber = number
        guard let first = line.first else {
            if hasProcessName { endSample() }
            skippingLeftOutSample = false
            return
        }
        if first == UInt8(ascii: "#") { return }
        // The script tries the header's pattern first, then the frame's, on every line.
        if !Self.isSpace(first), header(line) { return }
        if frameLine(line) { return }
        report.unrecognizedLines += 1
        if report.firstUnrecognized == nil { report.firstUnrecognized = number }
    }

    /// `comm pid/tid ... time: period event:`; false if the line is not a header.
    private mutating func header(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let (commEnd, firstNumber, secondNumber) = Self.matchHeader(line) else { return false }
        var pid: Range<Int>? = firstNumber
        var tid = secondNumber
        // `not $tid` in the script: a missing tid, or "0", means the number is a tid.
        if tid == nil || (tid!.count == 1 && line[tid!.lowerBound] == UInt8(ascii: "0")) {
            tid = pid
            pid = nil
        }
        var periodValue: Double = 1
        var eventColon: Int?
        if let (periodDigits, event, colon) = Self.matchEvent(line) {
            eventColon = colon
            let eventBytes = UnsafeBufferPointer(rebasing: line[event])
            if let filter = eventFilter {
                let same = filter.count == eventBytes.count
                    && filter.withUnsafeBufferPointer { ByteString.equal($0.baseAddress!, eventBytes.baseAddress!, filter.count) }
                if !same {
                    // Skipped alone: the sample read so far goes on (see the type's comment).
                    if !hasProcessName { skippingLeftOutSample = true }
                    report.filteredSamples += 1
                    report.otherEvents.insert(ByteString.text(of: eventBytes))
                    return true
                }
            } else {
                eventFilter = Array(eventBytes)
                report.keptEvent = ByteString.text(of: eventBytes)
            }
            if !sawEventType {
                sawEventType = true
                profile.renameSampleType(1, to: Self.valueType(ofEvent: ByteString.text(of: eventBytes)))
            }
            if let periodDigits { periodValue = Self.period(UnsafeBufferPointer(rebasing: line[periodDigits])) }
        }
        period = periodValue
        // The time is most often what ends at the event's colon.
        time = eventColon.flatMap { Self.timestamp(in: line, endingAt: $0, after: commEnd) }
            ?? Self.timestamp(in: line, after: commEnd)
        hasProcessName = true

        // The root frames' name and the labels come from the bytes up to the numbers, the
        // same for every sample of a thread: made once per thread.
        let threadKey = UnsafeBufferPointer(rebasing: line[0..<(secondNumber ?? firstNumber).upperBound])
        if let (thread, _) = threads.values(of: threadKey) {
            (processName, processIsJava, labels) = threadHeaders[Int(thread)]
            headerThread = thread
            return true
        }
        processName = []
        processName.append(contentsOf: line[0..<commEnd])
        if options.tid || options.pid {
            processName.append(UInt8(ascii: "-"))
            if let pid { processName.append(contentsOf: line[pid]) } else { processName.append(UInt8(ascii: "?")) }
            if options.tid {
                processName.append(UInt8(ascii: "/"))
                if let tid { processName.append(contentsOf: line[tid]) }
            }
        }
        for index in processName.indices where processName[index] == UInt8(ascii: " ") {
            processName[index] = UInt8(ascii: "_")
        }
        processIsJava = processName.starts(with: "java".utf8)
        labels = labelSet(line: line, comm: 0..<commEnd, pid: pid, tid: tid)
        headerThread = Int32(threadHeaders.count)
        threads.insert(threadKey, values: (headerThread, 0))
        threadHeaders.append((processName, processIsJava, labels))
        return true
    }

    /// `\t ADDRESS function+0xOFFSET (module)`; false if the line is not a frame.
    private mutating func frameLine(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        // A frame before any header, or after a header skipped since the last blank line.
        guard hasProcessName else {
            guard Self.matchFrame(line) != nil else { return false }
            if !skippingLeftOutSample {
                report.framesWithoutHeader += 1
                if report.firstFrameWithoutHeader == nil { report.firstFrameWithoutHeader = lineNumber }
            }
            return true
        }
        // Most lines were seen before: found by their bytes, without matching them again;
        // most often they are the line that followed the previous one last time.
        let tag: UInt8 = processIsJava ? 1 : 0
        var record: ByteKeyTable.Record? = nil
        if let previous = previousFrameLine, let next = frameLines.successor(of: previous),
           frameLines.matches(next, line, tag: tag) {
            record = next
        } else {
            record = frameLines.find(line, tag: tag)
            if let previous = previousFrameLine, let record { frameLines.setSuccessor(of: previous, to: record) }
        }
        if let record {
            let (first, count) = frameLines.values(at: record)
            if count < 0 {
                addPendingInlines(line, tag: tag, first: first, count: -1 - count)
                previousFrameLine = nil
                return true
            }
            if pendingInlines.isEmpty {
                appendFrames(first, count)
                previousFrameLine = record
                return true
            }
        }
        previousFrameLine = nil
        guard let match = Self.matchFrame(line) else { return false }
        if Self.equals(line, match.module, "inlined") {
            // Inlined into the next frame out (a later line): kept until it comes.
            let parts = tidiedParts(match: match, line: line, inlinedLine: true)
            let first = Int32(cachedInlines.count)
            for part in parts.reversed() { cachedInlines.append(Line(function: part.function)) }
            frameLines.insert(line, tag: tag, values: (first, -1 - Int32(parts.count)))
            addPendingInlines(line, tag: tag, first: first, count: Int32(parts.count))
            return true
        }
        if pendingInlines.isEmpty {
            let (first, count) = locations(match: match, line: line)
            previousFrameLine = frameLines.insert(line, tag: tag, values: (first, count))
            appendFrames(first, count)
            return true
        }
        // After inlined lines: found by their bytes and this line's.
        pendingInlineKey.append(contentsOf: line)
        let key = pendingInlineKey
        if let (first, count) = key.withUnsafeBufferPointer({ frameLines.values(of: $0, tag: tag) }) {
            appendFrames(first, count)
        } else {
            let (first, count) = locations(match: match, line: line)
            _ = key.withUnsafeBufferPointer { frameLines.insert($0, tag: tag, values: (first, count)) }
            appendFrames(first, count)
        }
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
        return true
    }

    /// Keeps the lines of a frame line `name (inlined)` (`cachedInlines[first...]`, innermost
    /// first) for the frame they were inlined into.
    private mutating func addPendingInlines(_ line: UnsafeBufferPointer<UInt8>, tag: UInt8, first: Int32, count: Int32) {
        pendingInlines.append(contentsOf: cachedInlines[Int(first)..<Int(first + count)])
        // No line holds a `\n`: the lines of the key stay apart.
        pendingInlineKey.append(contentsOf: line)
        pendingInlineKey.append(tag)
        pendingInlineKey.append(0x0A)
    }

    /// A frame line's locations as `frameLines` keeps them.
    private mutating func cache(_ locations: [Int32]) -> (Int32, Int32) {
        if locations.count == 1 { return (locations[0], 1) }
        let start = Int32(cachedLocations.count)
        cachedLocations.append(contentsOf: locations)
        return (start, Int32(locations.count))
    }

    @inline(__always)
    private mutating func appendFrames(_ first: Int32, _ count: Int32) {
        if count == 1 {
            frames.append(first)
        } else {
            frames.append(contentsOf: cachedLocations[Int(first)..<Int(first + count)])
        }
    }

    /// The locations of a frame line, and of the inlined frames waiting for it, leaf first:
    /// a location per part of its name that is not inlined, with the inlined parts after it
    /// as its inlined lines.
    private mutating func locations(match: FrameMatch, line: UnsafeBufferPointer<UInt8>) -> (Int32, Int32) {
        let (firstPart, partCount) = tidiedPartRange(match: match, line: line, inlinedLine: false)
        guard partCount > 0 else {
            // The script leaves the frame out; what was inlined into it stands alone.
            return pendingInlines.isEmpty ? cache([]) : (inlinedLocation(), 1)
        }
        let mapping = module(line, match.module).mapping
        let address = Self.hexValue(UnsafeBufferPointer(rebasing: line[match.address]))
        if partCount == 1, pendingInlines.isEmpty {
            let part = cachedParts[Int(firstPart)]
            return (profile.appendLocation(Location(address: address, mapping: mapping, kind: part.kind,
                                                 lines: [Line(function: part.function)])), 1)
        }
        let parts = cachedParts[Int(firstPart)..<Int(firstPart + partCount)]
        // Root first: the parts of `a->b`, then the frames `perf script --inline` listed
        // before this one (inlined into its last part).
        var rootFirst: [Int32] = []
        var lines: [Line] = []
        var kind = parts.first!.kind
        func addLocation() {
            lines.reverse()
            rootFirst.append(profile.appendLocation(Location(address: address, mapping: mapping, kind: kind, lines: lines)))
            lines.removeAll()
        }
        for part in parts {
            if part.kind != .inlined, !lines.isEmpty {
                addLocation()
                kind = part.kind
            }
            lines.append(Line(function: part.function))
        }
        lines.append(contentsOf: pendingInlines.reversed())
        addLocation()
        return cache(rootFirst.reversed())
    }

    /// A location of the inlined frames waiting for a frame that did not come.
    private mutating func inlinedLocation() -> Int32 {
        profile.appendLocation(Location(kind: .inlined, lines: pendingInlines))
    }

    /// The frame's name split on `->` and tidied as stackcollapse-perf.pl does, root first,
    /// each part with its kind (the first by its module, the others inlined); all of them
    /// inlined for a line `name (inlined)`. Empty when the script leaves the frame out.
    private mutating func tidiedParts(match: FrameMatch, line: UnsafeBufferPointer<UInt8>, inlinedLine: Bool) -> [Part] {
        let (first, count) = tidiedPartRange(match: match, line: line, inlinedLine: inlinedLine)
        return Array(cachedParts[Int(first)..<Int(first + count)])
    }

    /// Where ``tidiedParts(match:line:inlinedLine:)`` are in `cachedParts`.
    private mutating func tidiedPartRange(match: FrameMatch, line: UnsafeBufferPointer<UInt8>, inlinedLine: Bool) -> (Int32, Int32) {
        var name = match.function
        // `func+0x1f`: the offset goes.
        if let plus = Self.trailingOffsetStart(line, name) { name = name.lowerBound..<plus }
        if !name.isEmpty, line[name.lowerBound] == UInt8(ascii: "(") { return (0, 0) }
        // The same name in the same module, at other addresses: tidied once. The address is
        // a part of the name of `[unknown]` with `--addrs`.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: line[name])
        scratch.append(0)
        scratch.append(contentsOf: line[match.module])
        if options.addresses {
            scratch.append(0)
            scratch.append(contentsOf: line[match.address])
        }
        let tag: UInt8 = (processIsJava ? 1 : 0) | (inlinedLine ? 2 : 0)
        if let found = scratch.withUnsafeBufferPointer({ tidiedNames.values(of: $0, tag: tag) }) { return found }
        let key = scratch
        let parts = tidy(name: name, match: match, line: line, inlinedLine: inlinedLine)
        let range = (Int32(cachedParts.count), Int32(parts.count))
        _ = key.withUnsafeBufferPointer { tidiedNames.insert($0, tag: tag, values: range) }
        cachedParts.append(contentsOf: parts)
        return range
    }

    private mutating func tidy(name: Range<Int>, match: FrameMatch, line: UnsafeBufferPointer<UInt8>, inlinedLine: Bool) -> [Part] {
        let module = module(line, match.module)
        var result: [Part] = []
        for (index, field) in Self.perlSplit(line, name).enumerated() {
            nameScratch.removeAll(keepingCapacity: true)
            if Self.equals(line, field, "[unknown]") {
                // Named after the module's file, if it has one.
                nameScratch.append(UInt8(ascii: "["))
                if Self.equals(line, match.module, "[unknown]") {
                    nameScratch.append(contentsOf: "unknown".utf8)
                } else {
                    let slash = line[match.module].lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? match.module.lowerBound
                    nameScratch.append(contentsOf: line[slash..<match.module.upperBound])
                }
                if options.addresses {
                    nameScratch.append(contentsOf: " <".utf8)
                    nameScratch.append(contentsOf: line[match.address])
                    nameScratch.append(UInt8(ascii: ">"))
                }
                nameScratch.append(UInt8(ascii: "]"))
            } else {
                nameScratch.append(contentsOf: line[field])
            }
            Self.tidy(&nameScratch, java: processIsJava)
            let kind: FrameKind
            if inlinedLine {
                kind = .inlined
                if nameScratch.ends(with: "_[i]") { nameScratch.removeLast(4) }
            } else if index > 0 {
                kind = Self.unmarked(&nameScratch, "_[i]") ? .inlined : .user
            } else if module.isKernel {
                // Marked even when the name holds the mark already, as the script does.
                kind = .kernel
            } else if module.isJIT {
                kind = Self.unmarked(&nameScratch, "_[j]") ? .jit : .user
            } else {
                kind = .user
            }
            result.append(Part(function: function(named: nameScratch), kind: kind))
        }
        return result
    }

    /// What the module of a frame is, its mapping added when new.
    private mutating func module(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> ModuleInfo {
        let bytes = UnsafeBufferPointer(rebasing: line[range])
        if let (mapping, flags) = modules.values(of: bytes) {
            return ModuleInfo(mapping: mapping, isKernel: flags & 1 != 0, isJIT: flags & 2 != 0)
        }
        let name = Array(bytes)
        let isKernel = (name.first == UInt8(ascii: "[") || name.ends(with: "vmlinux")) && !name.contains(subsequence: "unknown")
        let isJIT = Self.isPerfMap(name)
        let mapping = profile.addMapping(Mapping(start: 0, limit: 0, fileOffset: 0, file: ByteString.text(of: bytes)))
        modules.insert(bytes, values: (mapping, (isKernel ? 1 : 0) | (isJIT ? 2 : 0)))
        return ModuleInfo(mapping: mapping, isKernel: isKernel, isJIT: isJIT)
    }

    /// Whether a name the script would mark with `mark` (unless the name holds it already)
    /// is of the mark's kind: the script's text is the name with the writer's suffix when the
    /// name lacks the mark, or ends with it (removed here, the writer adds it back); a name
    /// with the mark inside it is written as it is, an ordinary name.
    private static func unmarked(_ name: inout [UInt8], _ mark: StaticString) -> Bool {
        if name.ends(with: mark) {
            name.removeLast(mark.utf8CodeUnitCount)
            return true
        }
        return !name.contains(subsequence: mark)
    }

    private mutating func function(named name: [UInt8]) -> Int32 {
        let nameID = name.withUnsafeBufferPointer { profile.intern($0) }
        if let known = functionOfName[nameID] { return known }
        let function = profile.addFunction(Function(name: nameID, systemName: nameID))
        functionOfName[nameID] = function
        return function
    }

    private mutating func endSample() {
        if !pendingInlines.isEmpty { frames.append(inlinedLocation()) }
        // The stack's key: the header's thread (which gives the process name), then the
        // frames' location ids.
        scratch.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: headerThread) { scratch.append(contentsOf: $0) }
        frames.withUnsafeBytes { scratch.append(contentsOf: $0) }
        let stack: Int32
        if let (known, _) = scratch.withUnsafeBufferPointer({ stacks.values(of: $0) }) {
            stack = known
        } else {
            stack = newStack()
            var key: [UInt8] = []
            swap(&key, &scratch)
            _ = key.withUnsafeBufferPointer { stacks.insert($0, values: (stack, 0)) }
            swap(&key, &scratch)
        }
        profile.addSample(stack: stack, values: [1, period], labels: labels, time: time)
        report.samples += 1
        hasProcessName = false
        previousFrameLine = nil
        frames.removeAll(keepingCapacity: true)
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
    }

    /// The stack of the sample read, added to the profile: its callers as far as they are
    /// the last new stack's of the same thread are that stack's.
    private mutating func newStack() -> Int32 {
        let thread = Int(headerThread)
        if thread >= lastStackOfThread.count {
            lastStackOfThread.append(contentsOf: repeatElement((roots: [Int32](), locations: [Int32](), stacks: [Int32]()), count: thread + 1 - lastStackOfThread.count))
        }
        if lastStackOfThread[thread].roots.isEmpty {
            lastStackOfThread[thread].roots = roots(of: processName.withUnsafeBufferPointer { profile.intern($0) })
        }
        rootFirst.removeAll(keepingCapacity: true)
        rootFirst.append(contentsOf: lastStackOfThread[thread].roots)
        rootFirst.append(contentsOf: frames.reversed())
        // Worked on outside the array, so that growing them copies nothing.
        var (locations, stacks) = ([Int32](), [Int32]())
        swap(&locations, &lastStackOfThread[thread].locations)
        swap(&stacks, &lastStackOfThread[thread].stacks)
        var shared = 0
        let limit = min(locations.count, rootFirst.count)
        while shared < limit, locations[shared] == rootFirst[shared] { shared += 1 }
        locations.removeLast(locations.count - shared)
        stacks.removeLast(stacks.count - shared)
        var stack: Int32 = shared > 0 ? stacks[shared - 1] : -1
        for location in rootFirst[shared...] {
            stack = addStack(location: location, caller: stack)
            locations.append(location)
            stacks.append(stack)
        }
        swap(&locations, &lastStackOfThread[thread].locations)
        swap(&stacks, &lastStackOfThread[thread].stacks)
        return stack
    }

    /// The stack `location` called from `caller`: the callee a stack was last given comes
    /// without a lookup in the profile's table (hot paths repeat).
    @inline(__always)
    private mutating func addStack(location: Int32, caller: Int32) -> Int32 {
        if caller >= 0, Int(caller) < lastCallee.count, lastCallee[Int(caller)].location == location {
            return lastCallee[Int(caller)].stack
        }
        let stack = profile.addStack(location: location, caller: caller)
        if caller >= 0 {
            if Int(caller) >= lastCallee.count {
                lastCallee.append(contentsOf: repeatElement((location: Int32(-1), stack: Int32(-1)), count: profile.stacks.count - lastCallee.count))
            }
            lastCallee[Int(caller)] = (location, stack)
        }
        return stack
    }

    /// The root locations of a process name: one per `;`-separated part, since the script's
    /// line splits there.
    private mutating func roots(of nameID: Int32) -> [Int32] {
        if let known = rootsOfName[nameID] { return known }
        let roots = Self.perlSplitKeepingAll(processName, on: UInt8(ascii: ";")).map { part in
            profile.appendLocation(Location(kind: .process, lines: [Line(function: function(named: part))]))
        }
        rootsOfName[nameID] = roots
        return roots
    }

    private mutating func labelSet(line: UnsafeBufferPointer<UInt8>, comm: Range<Int>, pid: Range<Int>?, tid: Range<Int>?) -> Int32 {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: line[comm])
        scratch.append(0)
        if let pid { scratch.append(contentsOf: line[pid]) }
        scratch.append(0)
        if let tid { scratch.append(contentsOf: line[tid]) }
        if let (known, _) = scratch.withUnsafeBufferPointer({ labelSets.values(of: $0) }) { return known }
        var labels: [Label] = []
        // A number past 64 bits is no process: its label is left out (the name keeps it).
        if let pid, let number = Self.integer(UnsafeBufferPointer(rebasing: line[pid])) {
            labels.append(Label(key: profile.intern(LabelKey.pid), number: number))
        }
        if let tid, let number = Self.integer(UnsafeBufferPointer(rebasing: line[tid])) {
            labels.append(Label(key: profile.intern(LabelKey.tid), number: number))
        }
        labels.append(Label(key: profile.intern(LabelKey.processName), text: profile.intern(UnsafeBufferPointer(rebasing: line[comm]))))
        let id = profile.addLabelSet(labels)
        let key = scratch
        _ = key.withUnsafeBufferPointer { labelSets.insert($0, values: (id, 0)) }
        return id
    }

    // MARK: - The patterns of stackcollapse-perf.pl

    // Perl reads the input as bytes: `\s`, `\d` and `\w` are ASCII classes (`\s` with the
    // vertical tab, as in Perl 5.18 and later), and `.` is any byte but `\n`, which no line
    // holds.

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    @inline(__always)
    static func isWord(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- 0x61 < 26 || byte == UInt8(ascii: "_")
    }

    @inline(__always)
    static func equals(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ text: StaticString) -> Bool {
        range.count == text.utf8CodeUnitCount
            && ByteString.equal(line.baseAddress! + range.lowerBound, text.utf8Start, range.count)
    }

    /// `^(\S.+?)\s+(\d+)\/*(\d+)*\s+`: where the command name ends, and the two numbers
    /// (`$2`, and `$3` when digits follow the slashes).
    static func matchHeader(_ line: UnsafeBufferPointer<UInt8>) -> (commEnd: Int, first: Range<Int>, second: Range<Int>?)? {
        guard line.count >= 2, !isSpace(line[0]) else { return nil }
        // The lazy name: the shortest (of at least two characters) after which the rest fits.
        // Backtracking into the greedy parts cannot make a failed try fit: every split of a
        // run of digits ends where the run does.
        var end = 2
        while end < line.count {
            var index = end
            while index < line.count, isSpace(line[index]) { index += 1 }
            if index > end {
                let digits = index
                while index < line.count, isDigit(line[index]) { index += 1 }
                if index > digits {
                    let first = digits..<index
                    while index < line.count, line[index] == UInt8(ascii: "/") { index += 1 }
                    let secondStart = index
                    while index < line.count, isDigit(line[index]) { index += 1 }
                    let second = index > secondStart ? secondStart..<index : nil
                    if index < line.count, isSpace(line[index]) { return (end, first, second) }
                }
                // The name can take the spaces, not end inside them: go on after the run.
            }
            end += 1
        }
        return nil
    }

    /// `:\s*(\d+)*\s+(\S+):\s*$`: the period's digits (if printed) and the event name.
    static func matchEvent(_ line: UnsafeBufferPointer<UInt8>) -> (period: Range<Int>?, event: Range<Int>, colon: Int)? {
        // `(\S+):` is the last run of non-space bytes (only spaces follow it), ending in `:`.
        var end = line.count
        while end > 0, isSpace(line[end - 1]) { end -= 1 }
        var start = end
        while start > 0, !isSpace(line[start - 1]) { start -= 1 }
        guard end - start >= 2, line[end - 1] == UInt8(ascii: ":") else { return nil }
        // Before it, back to the `:`: spaces (at least one), digits, spaces, which no other
        // split fits (the classes do not overlap).
        var index = start
        while index > 0, isSpace(line[index - 1]) { index -= 1 }
        guard index < start else { return nil }
        let digitsEnd = index
        while index > 0, isDigit(line[index - 1]) { index -= 1 }
        let digits = index..<digitsEnd
        while !digits.isEmpty, index > 0, isSpace(line[index - 1]) { index -= 1 }
        guard index > 0, line[index - 1] == UInt8(ascii: ":") else { return nil }
        return (digits.isEmpty ? nil : digits, start..<(end - 1), index - 1)
    }

    struct FrameMatch {
        var address: Range<Int>
        var function: Range<Int>
        var module: Range<Int>
    }

    /// `^\s*(\w+)\s*(.+) \((.*)\)`: the address, the function (up to the last ` (` that a
    /// `)` follows), the module (up to the last `)`).
    static func matchFrame(_ line: UnsafeBufferPointer<UInt8>) -> FrameMatch? {
        let count = line.count
        var start = 0
        while start < count, isSpace(line[start]) { start += 1 }
        var wordEnd = start
        while wordEnd < count, isWord(line[wordEnd]) { wordEnd += 1 }
        guard wordEnd > start else { return nil }
        var lastParen = count - 1
        while lastParen >= 2, line[lastParen] != UInt8(ascii: ")") { lastParen -= 1 }
        guard lastParen >= 2 else { return nil }
        var open = lastParen - 2
        while open > start, !(line[open] == UInt8(ascii: " ") && line[open + 1] == UInt8(ascii: "(")) { open -= 1 }
        guard open > start else { return nil }
        // The longest address and spaces after it that leave the function at least a byte.
        var addressEnd = wordEnd
        var functionStart = addressEnd
        while functionStart < count, isSpace(line[functionStart]) { functionStart += 1 }
        while functionStart >= open {
            if functionStart > addressEnd {
                functionStart -= 1
            } else {
                addressEnd -= 1
                functionStart = addressEnd
            }
            if addressEnd == start { return nil }
        }
        return FrameMatch(address: start..<addressEnd, function: functionStart..<open, module: (open + 2)..<lastParen)
    }

    /// Where a trailing `\+0x[\da-f]+$` of the name at `range` starts.
    static func trailingOffsetStart(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        var index = range.upperBound
        while index > range.lowerBound, isDigit(line[index - 1]) || (line[index - 1] &- 0x61 < 6) { index -= 1 }
        guard index < range.upperBound, index - range.lowerBound >= 3, line[index - 1] == UInt8(ascii: "x"),
              line[index - 2] == UInt8(ascii: "0"), line[index - 3] == UInt8(ascii: "+") else { return nil }
        return index - 3
    }

    /// `split /\->/` of the name at `range`: Perl's split keeps empty fields but drops those
    /// at the end.
    static func perlSplit(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [Range<Int>] {
        var fields: [Range<Int>] = []
        var start = range.lowerBound
        var index = range.lowerBound
        while index + 1 < range.upperBound {
            if line[index] == UInt8(ascii: "-"), line[index + 1] == UInt8(ascii: ">") {
                fields.append(start..<index)
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        fields.append(start..<range.upperBound)
        while fields.last?.isEmpty == true { fields.removeLast() }
        return fields
    }

    /// Every field between the separators, empty ones too (how a folded line splits).
    static func perlSplitKeepingAll(_ bytes: [UInt8], on separator: UInt8) -> [[UInt8]] {
        bytes.split(separator: separator, omittingEmptySubsequences: false).map { Array($0) }
    }

    /// stackcollapse-perf.pl's tidying of a name: `s/;/:/g`; unless `m/\.\(.*\)\./` (a Go
    /// method name such as `net/http.(*Client).Do`), `s/\((?!anonymous namespace\)).*//`;
    /// `tr/"\'//d`; in a `java` process, `s/^L//` if it holds a `/`.
    static func tidy(_ name: inout [UInt8], java: Bool) {
        let kept = name.withUnsafeMutableBufferPointer { name -> Int in
            let count = name.count
            var goOpen = -1
            for index in 0..<count {
                if name[index] == UInt8(ascii: ";") { name[index] = UInt8(ascii: ":") }
                if goOpen < 0, index + 1 < count, name[index] == UInt8(ascii: "."), name[index + 1] == UInt8(ascii: "(") {
                    goOpen = index
                }
            }
            var isGoMethod = false
            if goOpen >= 0 {
                var index = count - 2
                while index > goOpen + 1, !isGoMethod {
                    isGoMethod = name[index] == UInt8(ascii: ")") && name[index + 1] == UInt8(ascii: ".")
                    index -= 1
                }
            }
            var end = count
            if !isGoMethod {
                let anonymous: StaticString = "anonymous namespace)"
                for index in 0..<count where name[index] == UInt8(ascii: "(") {
                    let rest = count - index - 1
                    if rest < anonymous.utf8CodeUnitCount
                        || !ByteString.equal(name.baseAddress! + index + 1, anonymous.utf8Start, anonymous.utf8CodeUnitCount) {
                        end = index
                        break
                    }
                }
            }
            // Quotes go; the rest moves up.
            var kept = 0
            var hasSlash = false
            for index in 0..<end where name[index] != UInt8(ascii: "\"") && name[index] != UInt8(ascii: "'") {
                if name[index] == UInt8(ascii: "/") { hasSlash = true }
                name[kept] = name[index]
                kept += 1
            }
            if java, hasSlash, kept > 0, name[0] == UInt8(ascii: "L") {
                for index in 1..<kept { name[index - 1] = name[index] }
                kept -= 1
            }
            return kept
        }
        name.removeLast(name.count - kept)
    }

    /// `m:/tmp/perf-\d+\.map:`, anywhere in the module's name.
    static func isPerfMap(_ module: [UInt8]) -> Bool {
        let prefix = Array("/tmp/perf-".utf8)
        var start = 0
        while start + prefix.count < module.count {
            if module[start...].starts(with: prefix) {
                var index = start + prefix.count
                let digits = index
                while index < module.count, isDigit(module[index]) { index += 1 }
                if index > digits, module[index...].starts(with: ".map".utf8) { return true }
            }
            start += 1
        }
        return false
    }

    /// The header's timestamp, `123.456789:`, in nanoseconds: the first number with a
    /// fraction and a colon after the command name.
    static func timestamp(in line: UnsafeBufferPointer<UInt8>, after commEnd: Int) -> Int64? {
        var index = commEnd
        while index < line.count {
            guard isDigit(line[index]), index == 0 || isSpace(line[index - 1]) else {
                index += 1
                continue
            }
            var seconds: Int64 = 0
            var cursor = index
            while cursor < line.count, isDigit(line[cursor]), seconds < Int64.max / 100 {
                seconds = seconds * 10 + Int64(line[cursor] - 0x30)
                cursor += 1
            }
            guard cursor < line.count, line[cursor] == UInt8(ascii: ".") else {
                index = cursor
                continue
            }
            cursor += 1
            var fraction: Int64 = 0
            var digits = 0
            while cursor < line.count, isDigit(line[cursor]) {
                if digits < 9 { fraction = fraction * 10 + Int64(line[cursor] - 0x30) }
                digits += 1
                cursor += 1
            }
            guard cursor < line.count, line[cursor] == UInt8(ascii: ":"), digits > 0, seconds < 1 << 33 else {
                index = cursor
                continue
            }
            for _ in min(digits, 9)..<9 { fraction *= 10 }
            return seconds * 1_000_000_000 + fraction
        }
        return nil
    }

    /// The timestamp `123.456789` that ends at `colon` and starts after a space, after the
    /// command name, in nanoseconds.
    static func timestamp(in line: UnsafeBufferPointer<UInt8>, endingAt colon: Int, after commEnd: Int) -> Int64? {
        var start = colon
        while start > commEnd, isDigit(line[start - 1]) { start -= 1 }
        let fractionDigits = colon - start
        guard fractionDigits > 0, start - 1 > commEnd, line[start - 1] == UInt8(ascii: ".") else { return nil }
        let dot = start - 1
        start = dot
        while start > commEnd, isDigit(line[start - 1]) { start -= 1 }
        guard start < dot, dot - start < 11, start > 0, isSpace(line[start - 1]) else { return nil }
        var seconds: Int64 = 0
        for index in start..<dot { seconds = seconds * 10 + Int64(line[index] - 0x30) }
        guard seconds < 1 << 33 else { return nil }
        var fraction: Int64 = 0
        for index in (dot + 1)..<min(colon, dot + 10) { fraction = fraction * 10 + Int64(line[index] - 0x30) }
        for _ in min(fractionDigits, 9)..<9 { fraction *= 10 }
        return seconds * 1_000_000_000 + fraction
    }

    /// The value type of a sample's period: nanoseconds for the clock events.
    static func valueType(ofEvent event: String) -> ValueType {
        let name = event.split(separator: ":").first.map(String.init) ?? event
        switch name {
        case "cpu-clock", "task-clock": return ValueType(type: name, unit: "nanoseconds")
        default: return ValueType(type: name.isEmpty ? "events" : name, unit: "count")
        }
    }

    /// A printed period: `not $period` in the script makes only "0" a period of 1 (as
    /// none printed); "00" is a true string in Perl, a period of 0.
    static func period(_ digits: UnsafeBufferPointer<UInt8>) -> Double {
        if digits.count == 1, digits[0] == UInt8(ascii: "0") { return 1 }
        return decimal(digits) ?? 1
    }

    static func decimal(_ digits: UnsafeBufferPointer<UInt8>) -> Double? {
        guard !digits.isEmpty else { return nil }
        var value = 0.0
        for digit in digits {
            guard isDigit(digit) else { return nil }
            value = value * 10 + Double(digit - 0x30)
        }
        return value
    }

    /// Decimal digits as an Int64; nil when they are not all digits or do not fit.
    static func integer(_ digits: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for digit in digits {
            guard isDigit(digit) else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(Int64(digit - 0x30))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }

    static func hexValue(_ text: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for byte in text.prefix(16) {
            let digit: UInt64
            switch byte {
            case 0x30...0x39: digit = UInt64(byte - 0x30)
            case 0x61...0x66: digit = UInt64(byte - 0x57)
            case 0x41...0x46: digit = UInt64(byte - 0x37)
            default: return 0
            }
            value = value << 4 | digit
        }
        return value
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: StaticString) -> Bool {
        let suffix = UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount)
        return count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }

    func contains(subsequence: StaticString) -> Bool {
        let needle = subsequence.utf8CodeUnitCount
        guard needle <= count else { return false }
        return withUnsafeBufferPointer { bytes in
            (0...(count - needle)).contains { ByteString.equal(bytes.baseAddress! + $0, subsequence.utf8Start, needle) }
        }
    }
}

/// A map from byte strings, each with a one-byte tag, to two numbers: the reader's caches
/// of frame lines, modules, label sets and whole stacks. Open addressing over slots that
/// keep part of the hash, so that a probe reads a key only when the hashes agree; each key
/// is stored once, after its length, tag and numbers, so that a lookup touches a slot and
/// one run of bytes (caches of a few hundred thousand lines do not fit in the processor's
/// caches, and each separate array read would be another miss). A key can name another as
/// its successor, to be compared first next time (the caller that followed a frame line).
struct ByteKeyTable {
    /// A key's place in the table.
    typealias Record = Int

    /// Per key: its length, its two numbers, its successor's record + 1 (0: none), its tag,
    /// then its bytes.
    private var records: [UInt8] = []
    private static let headerSize = 21
    /// Per key: where its record starts, and its hash (to grow the slots).
    private var recordStarts: [Int] = []
    private var hashes: [UInt64] = []
    /// `(record start + 1) << 24 | 24 bits of the hash` per slot, 0 when empty.
    private var slots = [UInt64](repeating: 0, count: 1024)

    var count: Int { recordStarts.count }

    /// The record of `key` with `tag`, if it is in the table.
    @inline(__always)
    func find(_ key: UnsafeBufferPointer<UInt8>, tag: UInt8 = 0) -> Record? {
        let hash = Self.hash(key, tag)
        let check = hash & 0xFF_FFFF
        return slots.withUnsafeBufferPointer { slots in
            records.withUnsafeBytes { records -> Record? in
                let mask = slots.count - 1
                var slot = Int(truncatingIfNeeded: hash >> 32) & mask
                while true {
                    let value = slots[slot]
                    if value == 0 { return nil }
                    if value & 0xFF_FFFF == check {
                        let record = Int(value >> 24) - 1
                        if Self.matches(records, record, key, tag) { return record }
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
    }

    /// The numbers stored with `key` and `tag`, or nil if it is not in the table.
    @inline(__always)
    func values(of key: UnsafeBufferPointer<UInt8>, tag: UInt8 = 0) -> (Int32, Int32)? {
        find(key, tag: tag).map(values)
    }

    @inline(__always)
    func values(at record: Record) -> (Int32, Int32) {
        records.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: record + 4, as: Int32.self),
             $0.loadUnaligned(fromByteOffset: record + 8, as: Int32.self))
        }
    }

    /// Whether `record` is `key` with `tag`.
    @inline(__always)
    func matches(_ record: Record, _ key: UnsafeBufferPointer<UInt8>, tag: UInt8) -> Bool {
        records.withUnsafeBytes { Self.matches($0, record, key, tag) }
    }

    /// The record named as `record`'s successor, if any.
    @inline(__always)
    func successor(of record: Record) -> Record? {
        let next = records.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: record + 12, as: Int.self) }
        return next == 0 ? nil : next - 1
    }

    @inline(__always)
    mutating func setSuccessor(of record: Record, to next: Record) {
        records.withUnsafeMutableBytes { $0.storeBytes(of: next + 1, toByteOffset: record + 12, as: Int.self) }
    }

    /// Adds `key` with `tag` and its numbers; it must not be in the table.
    @discardableResult
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, tag: UInt8 = 0, values: (Int32, Int32)) -> Record {
        let hash = Self.hash(key, tag)
        let record = records.count
        // A table that grows large gets room ahead, which costs address space until used and
        // saves copying it again and again (small inputs keep small tables).
        if record >= 1 << 16, records.capacity < 1 << 22 { records.reserveCapacity(1 << 22) }
        var header = (Int32(key.count), values.0, values.1, 0, tag)
        withUnsafeBytes(of: &header) { header in
            records.append(contentsOf: UnsafeRawBufferPointer(rebasing: header[0..<12]))
            records.append(contentsOf: UnsafeRawBufferPointer(rebasing: header[16..<25]))
        }
        records.append(contentsOf: key)
        recordStarts.append(record)
        hashes.append(hash)
        if recordStarts.count * 2 > slots.count {
            grow()
        } else {
            place(record, hash: hash)
        }
        return record
    }

    @inline(__always)
    private static func matches(_ records: UnsafeRawBufferPointer, _ record: Record, _ key: UnsafeBufferPointer<UInt8>,
                                _ tag: UInt8) -> Bool {
        records.loadUnaligned(fromByteOffset: record, as: Int32.self) == Int32(key.count)
            && records[record + 20] == tag
            && (key.isEmpty || ByteString.equal(
                records.baseAddress!.assumingMemoryBound(to: UInt8.self) + record + headerSize, key.baseAddress!, key.count))
    }

    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>, _ tag: UInt8) -> UInt64 {
        let tagged = UInt64(tag) &* 0x9E37_79B9_7F4A_7C15
        guard let base = key.baseAddress, !key.isEmpty else { return tagged }
        return ByteString.hash(base, key.count) ^ tagged
    }

    private mutating func place(_ record: Record, hash: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash >> 32) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = UInt64(record + 1) << 24 | (hash & 0xFF_FFFF)
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        for (record, hash) in zip(recordStarts, hashes) { place(record, hash: hash) }
    }
}
