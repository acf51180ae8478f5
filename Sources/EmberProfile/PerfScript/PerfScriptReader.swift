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

    /// The locations each distinct frame line gives (leaf first), by the line's bytes from
    /// the address to the module: `frameSlots[2 * key + (java process ? 1 : 0)]` is a range
    /// of `cachedLocations`, since a `java` process's names are tidied differently.
    private var frameKeys = StringTable()
    private var frameSlots: [FrameSlot] = []
    private var cachedLocations: [Int32] = []
    private var functionOfName: [Int32: Int32] = [:]
    private var mappingOfName: [Int32: Int32] = [:]
    /// The root locations of each process name (a `;` in it separates several), root first.
    private var rootsOfName: [Int32: [Int32]] = [:]
    private var labelKeys = StringTable()
    private var labelSetOfKey: [Int32] = []
    private var scratch: [UInt8] = []
    /// The sample's stack id per sequence of locations, so that a repeated stack is looked up
    /// once rather than frame by frame.
    private var stackKeys = StringTable()
    private var stackOfKey: [Int32] = []

    private struct FrameSlot {
        var start: Int32 = -1
        var count: Int32 = 0
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
        guard let first = line.first else {
            if hasProcessName { endSample() }
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
        if let (periodDigits, event) = Self.matchEvent(line) {
            let eventBytes = UnsafeBufferPointer(rebasing: line[event])
            if let filter = eventFilter {
                if !filter.elementsEqual(eventBytes) {
                    // Skipped alone: the sample read so far goes on (see the type's comment).
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
        time = Self.timestamp(in: line, after: commEnd)

        processName.removeAll(keepingCapacity: true)
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
        hasProcessName = true
        processIsJava = processName.starts(with: "java".utf8)
        labels = labelSet(line: line, comm: 0..<commEnd, pid: pid, tid: tid)
        return true
    }

    /// `\t ADDRESS function+0xOFFSET (module)`; false if the line is not a frame.
    private mutating func frameLine(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let match = Self.matchFrame(line) else { return false }
        // A frame before any header, or after a header skipped since the last blank line.
        guard hasProcessName else { return true }
        let keyBytes = UnsafeBufferPointer(rebasing: line[match.address.lowerBound..<match.module.upperBound])
        if Self.equals(line, match.module, "inlined") {
            // Inlined into the next frame out (a later line): kept until it comes.
            let parts = tidiedParts(match: match, line: line, inlinedLine: true)
            for part in parts.reversed() { pendingInlines.append(Line(function: part.function)) }
            pendingInlineKey.append(contentsOf: keyBytes)
            pendingInlineKey.append(processIsJava ? 1 : 0)
            pendingInlineKey.append(0x0A)
            return true
        }
        let key: Int32
        if pendingInlines.isEmpty {
            key = frameKeys.intern(keyBytes)
        } else {
            pendingInlineKey.append(contentsOf: keyBytes)
            key = pendingInlineKey.withUnsafeBufferPointer { frameKeys.intern($0) }
        }
        let slot = Int(key) * 2 + (processIsJava ? 1 : 0)
        if slot >= frameSlots.count {
            frameSlots.append(contentsOf: repeatElement(FrameSlot(), count: slot + 1 - frameSlots.count))
        }
        if frameSlots[slot].start < 0 {
            let locations = locations(match: match, line: line)
            frameSlots[slot] = FrameSlot(start: Int32(cachedLocations.count), count: Int32(locations.count))
            cachedLocations.append(contentsOf: locations)
        }
        let cached = frameSlots[slot]
        frames.append(contentsOf: cachedLocations[Int(cached.start)..<Int(cached.start + cached.count)])
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
        return true
    }

    /// The locations of a frame line, and of the inlined frames waiting for it, leaf first:
    /// a location per part of its name that is not inlined, with the inlined parts after it
    /// as its inlined lines.
    private mutating func locations(match: FrameMatch, line: UnsafeBufferPointer<UInt8>) -> [Int32] {
        let parts = tidiedParts(match: match, line: line, inlinedLine: false)
        guard !parts.isEmpty else {
            // The script leaves the frame out; what was inlined into it stands alone.
            return pendingInlines.isEmpty ? [] : [inlinedLocation()]
        }
        let moduleName = profile.intern(UnsafeBufferPointer(rebasing: line[match.module]))
        let mapping: Int32
        if let known = mappingOfName[moduleName] {
            mapping = known
        } else {
            mapping = profile.addMapping(Mapping(start: 0, limit: 0, fileOffset: 0, file: profile.strings[moduleName]))
            mappingOfName[moduleName] = mapping
        }
        let address = Self.hexValue(UnsafeBufferPointer(rebasing: line[match.address]))
        // Root first: the parts of `a->b`, then the frames `perf script --inline` listed
        // before this one (inlined into its last part).
        var rootFirst: [Int32] = []
        var lines: [Line] = []
        var kind = parts[0].kind
        func addLocation() {
            lines.reverse()
            rootFirst.append(profile.addLocation(Location(address: address, mapping: mapping, kind: kind, lines: lines)))
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
        return rootFirst.reversed()
    }

    /// A location of the inlined frames waiting for a frame that did not come.
    private mutating func inlinedLocation() -> Int32 {
        profile.addLocation(Location(kind: .inlined, lines: pendingInlines))
    }

    /// The frame's name split on `->` and tidied as stackcollapse-perf.pl does, root first,
    /// each part with its kind (the first by its module, the others inlined); all of them
    /// inlined for a line `name (inlined)`. Empty when the script leaves the frame out.
    private mutating func tidiedParts(match: FrameMatch, line: UnsafeBufferPointer<UInt8>, inlinedLine: Bool) -> [Part] {
        var raw = Array(line[match.function])
        // `func+0x1f`: the offset goes.
        if let plus = Self.trailingOffsetStart(raw) { raw.removeSubrange(plus...) }
        if raw.first == UInt8(ascii: "(") { return [] }
        let module = Array(line[match.module])
        let moduleIsKernel = (module.first == UInt8(ascii: "[") || module.ends(with: "vmlinux"))
            && !module.contains(subsequence: "unknown")
        let moduleIsJIT = Self.isPerfMap(module)
        var result: [Part] = []
        for (index, part) in Self.perlSplit(raw, on: "->").enumerated() {
            var name = part
            if name.elementsEqual("[unknown]".utf8) {
                if !module.elementsEqual("[unknown]".utf8) {
                    let slash = module.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? 0
                    name = Array(module[slash...])
                } else {
                    name = Array("unknown".utf8)
                }
                if options.addresses {
                    name = [UInt8(ascii: "[")] + name + Array(" <".utf8) + Array(line[match.address]) + Array(">]".utf8)
                } else {
                    name = [UInt8(ascii: "[")] + name + [UInt8(ascii: "]")]
                }
            }
            Self.tidy(&name, java: processIsJava)
            let kind: FrameKind
            if inlinedLine {
                kind = .inlined
                if name.ends(with: "_[i]") { name.removeLast(4) }
            } else if index > 0 {
                kind = Self.unmarked(&name, "_[i]") ? .inlined : .user
            } else if moduleIsKernel {
                // Marked even when the name holds the mark already, as the script does.
                kind = .kernel
            } else if moduleIsJIT {
                kind = Self.unmarked(&name, "_[j]") ? .jit : .user
            } else {
                kind = .user
            }
            result.append(Part(function: function(named: name), kind: kind))
        }
        return result
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
        let nameID = processName.withUnsafeBufferPointer { profile.intern($0) }
        // The stack: the root frames' name and the frames, as a key of 4-byte ids.
        scratch.removeAll(keepingCapacity: true)
        Self.appendID(nameID, to: &scratch)
        for location in frames { Self.appendID(location, to: &scratch) }
        let key = Int(scratch.withUnsafeBufferPointer { stackKeys.intern($0) })
        if key >= stackOfKey.count { stackOfKey.append(contentsOf: repeatElement(-1, count: key + 1 - stackOfKey.count)) }
        if stackOfKey[key] < 0 {
            var stack: Int32 = -1
            for location in roots(of: nameID) { stack = profile.addStack(location: location, caller: stack) }
            for location in frames.reversed() { stack = profile.addStack(location: location, caller: stack) }
            stackOfKey[key] = stack
        }
        profile.addSample(stack: stackOfKey[key], values: [1, period], labels: labels, time: time)
        report.samples += 1
        hasProcessName = false
        frames.removeAll(keepingCapacity: true)
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private static func appendID(_ id: Int32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The root locations of a process name: one per `;`-separated part, since the script's
    /// line splits there.
    private mutating func roots(of nameID: Int32) -> [Int32] {
        if let known = rootsOfName[nameID] { return known }
        let roots = Self.perlSplitKeepingAll(processName, on: UInt8(ascii: ";")).map { part in
            profile.addLocation(Location(kind: .process, lines: [Line(function: function(named: part))]))
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
        let keyID = scratch.withUnsafeBufferPointer { labelKeys.intern($0) }
        if Int(keyID) < labelSetOfKey.count, labelSetOfKey[Int(keyID)] >= 0 { return labelSetOfKey[Int(keyID)] }
        var labels: [Label] = []
        if let pid, let number = Self.decimal(UnsafeBufferPointer(rebasing: line[pid])) {
            labels.append(Label(key: profile.intern(LabelKey.pid), number: Int64(number)))
        }
        if let tid, let number = Self.decimal(UnsafeBufferPointer(rebasing: line[tid])) {
            labels.append(Label(key: profile.intern(LabelKey.tid), number: Int64(number)))
        }
        labels.append(Label(key: profile.intern(LabelKey.processName), text: profile.intern(UnsafeBufferPointer(rebasing: line[comm]))))
        let id = profile.addLabelSet(labels)
        while labelSetOfKey.count <= Int(keyID) { labelSetOfKey.append(-1) }
        labelSetOfKey[Int(keyID)] = id
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
    static func matchEvent(_ line: UnsafeBufferPointer<UInt8>) -> (period: Range<Int>?, event: Range<Int>)? {
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
        return (digits.isEmpty ? nil : digits, start..<(end - 1))
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

    /// Where a trailing `\+0x[\da-f]+$` starts.
    static func trailingOffsetStart(_ name: [UInt8]) -> Int? {
        var index = name.count
        while index > 0, isDigit(name[index - 1]) || (name[index - 1] &- 0x61 < 6) { index -= 1 }
        guard index < name.count, index >= 3, name[index - 1] == UInt8(ascii: "x"), name[index - 2] == UInt8(ascii: "0"),
              name[index - 3] == UInt8(ascii: "+") else { return nil }
        return index - 3
    }

    /// `split /\->/`: Perl's split keeps empty fields but drops those at the end.
    static func perlSplit(_ bytes: [UInt8], on separator: StaticString) -> [[UInt8]] {
        var parts = bytes.split(separator: separator, omittingEmpty: false)
        while parts.last?.isEmpty == true { parts.removeLast() }
        return parts
    }

    /// Every field between the separators, empty ones too (how a folded line splits).
    static func perlSplitKeepingAll(_ bytes: [UInt8], on separator: UInt8) -> [[UInt8]] {
        bytes.split(separator: separator, omittingEmptySubsequences: false).map { Array($0) }
    }

    /// stackcollapse-perf.pl's tidying of a name.
    static func tidy(_ name: inout [UInt8], java: Bool) {
        for index in name.indices where name[index] == UInt8(ascii: ";") { name[index] = UInt8(ascii: ":") }
        // Arguments go, after the first `(` that is not `(anonymous namespace)`; not in a Go
        // method name such as `net/http.(*Client).Do` (a `.(`, later a `).`).
        if !isGoMethod(name) {
            let anonymous = Array("anonymous namespace)".utf8)
            var index = 0
            while index < name.count {
                if name[index] == UInt8(ascii: "("), !name[(index + 1)...].starts(with: anonymous) {
                    name.removeSubrange(index...)
                    break
                }
                index += 1
            }
        }
        name.removeAll { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }
        if java, name.contains(UInt8(ascii: "/")), name.first == UInt8(ascii: "L") { name.removeFirst() }
    }

    /// `m/\.\(.*\)\./`.
    static func isGoMethod(_ name: [UInt8]) -> Bool {
        guard let open = name.indices.dropLast().first(where: { name[$0] == UInt8(ascii: ".") && name[$0 + 1] == UInt8(ascii: "(") })
        else { return false }
        var index = name.count - 2
        while index > open + 1 {
            if name[index] == UInt8(ascii: ")") && name[index + 1] == UInt8(ascii: ".") { return true }
            index -= 1
        }
        return false
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
        let needle = UnsafeBufferPointer(start: subsequence.utf8Start, count: subsequence.utf8CodeUnitCount)
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    func split(separator: StaticString, omittingEmpty: Bool) -> [[UInt8]] {
        let needle = Array(UnsafeBufferPointer(start: separator.utf8Start, count: separator.utf8CodeUnitCount))
        var parts: [[UInt8]] = []
        var start = 0
        var index = 0
        while index + needle.count <= count {
            if self[index..<(index + needle.count)].elementsEqual(needle) {
                parts.append(Array(self[start..<index]))
                index += needle.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(Array(self[start...]))
        return omittingEmpty ? parts.filter { !$0.isEmpty } : parts
    }
}
