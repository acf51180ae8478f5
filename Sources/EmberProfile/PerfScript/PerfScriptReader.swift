/// Reads `perf script` text into a ``Profile`` the way FlameGraph's `stackcollapse-perf.pl`
/// (the de-facto standard) collapses it, so that ember's folded output of a dump is that
/// script's, line for line, with its `--all` annotations:
///
/// - a sample starts with a header line (`comm pid/tid [cpu] time: period event:`) and ends
///   at a blank line; its weight is its period (1 when none is printed);
/// - the process name is the root frame (spaces made `_`), `comm-PID` with ``Options/pid``,
///   `comm-PID/TID` with ``Options/tid``;
/// - only the first event type seen is kept, unless ``Options/eventFilter`` names one;
/// - frame names are tidied: offsets, arguments (after the first `(` that is not
///   `(anonymous namespace)`, except in Go method names) and quotes removed, `;` made `:`;
///   Java's `L` prefix dropped in `java` processes; `[unknown]` named after its module
///   (with ``Options/addresses``, with its address too);
/// - kernel modules (`[...]`, `vmlinux`) mark frames kernel, perf maps JIT, and the later
///   parts of `a->b` inlined.
///
/// Frames that `perf script --inline` prints as `name (inlined)` become inlined lines of the
/// frame they were inlined into, where stackcollapse-perf.pl keeps them as plain frames.
/// Lines it would warn about are counted in ``report``; samples keep their timestamps.
public struct PerfScriptReader {
    public struct Options: Sendable, Equatable {
        /// Root frames `comm-PID`.
        public var pid = false
        /// Root frames `comm-PID/TID`.
        public var tid = false
        /// `[module <address>]` for frames without a symbol.
        public var addresses = false
        /// Keep only samples of this event (default: the first one seen).
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

    private var eventFilter: String?
    /// The current sample: its root frame's name, labels, period, time, and its frames'
    /// locations, leaf first.
    private var processName: [UInt8]?
    private var labels: Int32 = 0
    private var period: Double = 1
    private var time: Int64?
    private var frames: [Int32] = []
    /// Lines `name (inlined)` waiting for the frame they were inlined into.
    private var pendingInlines: [Line] = []
    private var pendingInlineKey: [UInt8] = []
    private var locationKeys = StringTable()
    private var locationOfKey: [Int32] = []
    private var functionOfName: [Int32: Int32] = [:]
    private var rootOfName: [Int32: Int32] = [:]
    private var mappingOfName: [Int32: Int32] = [:]
    private var labelKeys = StringTable()
    private var labelSetOfKey: [Int32] = []
    private var sawEventType = false

    public init(options: Options = Options()) {
        self.options = options
        eventFilter = options.eventFilter
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
        if processName != nil { endSample() }
    }

    // MARK: - Lines

    public mutating func addLine(_ line: UnsafeBufferPointer<UInt8>, number: Int) {
        report.lines += 1
        if line.first == UInt8(ascii: "#") { return }
        if line.isEmpty {
            if processName != nil { endSample() }
            return
        }
        if !Self.isSpace(line[0]) {
            if header(line) { return }
        } else if stackLine(line) {
            return
        }
        report.unrecognizedLines += 1
        if report.firstUnrecognized == nil { report.firstUnrecognized = number }
    }

    /// `comm pid/tid ... time: period event:`; false if the line is not a header.
    private mutating func header(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let (commEnd, pid, tid) = Self.matchHeader(line) else { return false }
        // A header read before the last sample's blank line ends that sample.
        if processName != nil { endSample() }
        var pidText: [UInt8]? = pid
        var tidText = tid
        // `not $tid` in the original: a missing tid, or "0", means the number is a tid.
        if tidText == nil || tidText == [UInt8(ascii: "0")] {
            tidText = pidText
            pidText = nil
        }
        var periodValue: Double?
        if let (periodText, event) = Self.matchEvent(line) {
            if eventFilter == nil {
                eventFilter = event
                report.keptEvent = event
            } else if event != eventFilter {
                report.filteredSamples += 1
                report.otherEvents.insert(event)
                return true
            }
            if !sawEventType {
                sawEventType = true
                profile.renameSampleType(1, to: Self.valueType(ofEvent: event))
            }
            periodValue = periodText.flatMap { Self.decimal($0) }
        }
        period = periodValue.flatMap { $0 == 0 ? nil : $0 } ?? 1
        time = Self.timestamp(in: line, before: commEnd)

        var name = Array(line[0..<commEnd])
        if options.tid {
            name += Array("-".utf8) + (pidText ?? Array("?".utf8)) + Array("/".utf8) + (tidText ?? [])
        } else if options.pid {
            name += Array("-".utf8) + (pidText ?? Array("?".utf8))
        }
        for index in name.indices where name[index] == UInt8(ascii: " ") { name[index] = UInt8(ascii: "_") }
        processName = name
        labels = labelSet(comm: UnsafeBufferPointer(rebasing: line[0..<commEnd]), pid: pidText, tid: tidText)
        frames.removeAll(keepingCapacity: true)
        pendingInlines.removeAll(keepingCapacity: true)
        return true
    }

    /// `\t ADDRESS function+0xOFFSET (module)`; false if the line is not a frame.
    private mutating func stackLine(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let match = Self.matchFrame(line) else { return false }
        // A frame of a sample whose event was filtered out (or before any header) is skipped.
        guard processName != nil else { return true }
        let module = UnsafeBufferPointer(rebasing: line[match.module])
        let isInlinedLine = module.elementsEqual("inlined".utf8)
        let keyBytes = UnsafeBufferPointer(rebasing: line[match.address.lowerBound..<match.module.upperBound])
        if isInlinedLine {
            // Inlined into the next frame out (the next line): kept until it comes.
            guard let function = tidiedFunctions(match: match, line: line).first?.function else { return true }
            pendingInlines.append(Line(function: function))
            pendingInlineKey.append(contentsOf: keyBytes)
            pendingInlineKey.append(0x0A)
            return true
        }
        let keyID: Int32
        if pendingInlines.isEmpty {
            keyID = locationKeys.intern(keyBytes)
        } else {
            pendingInlineKey.append(contentsOf: keyBytes)
            keyID = pendingInlineKey.withUnsafeBufferPointer { locationKeys.intern($0) }
        }
        if Int(keyID) < locationOfKey.count, locationOfKey[Int(keyID)] >= 0 {
            frames.append(locationOfKey[Int(keyID)])
        } else if let location = makeLocation(match: match, line: line) {
            while locationOfKey.count <= Int(keyID) { locationOfKey.append(-1) }
            locationOfKey[Int(keyID)] = location
            frames.append(location)
        } else {
            // The frame names a process (`(...)`) or splits into nothing: no location.
            while locationOfKey.count <= Int(keyID) { locationOfKey.append(-1) }
        }
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
        return true
    }

    private mutating func makeLocation(match: FrameMatch, line: UnsafeBufferPointer<UInt8>) -> Int32? {
        let parts = tidiedFunctions(match: match, line: line)
        guard let physical = parts.first else { return nil }
        // Innermost first: the frames `perf script --inline` listed before this one, then the
        // later parts of `a->b`, then the physical frame.
        let lines = pendingInlines + parts.dropFirst().reversed().map { Line(function: $0.function) }
            + [Line(function: physical.function)]
        let moduleName = profile.intern(UnsafeBufferPointer(rebasing: line[match.module]))
        let mapping: Int32
        if let known = mappingOfName[moduleName] {
            mapping = known
        } else {
            mapping = profile.addMapping(Mapping(start: 0, limit: 0, fileOffset: 0, file: profile.strings[moduleName]))
            mappingOfName[moduleName] = mapping
        }
        return profile.addLocation(Location(
            address: Self.hexValue(UnsafeBufferPointer(rebasing: line[match.address])), mapping: mapping,
            kind: physical.kind, lines: lines))
    }

    /// The frame's name split on `->` and tidied as stackcollapse-perf.pl does, each part
    /// with its kind (the first kernel or JIT by its module, the others inlined).
    private mutating func tidiedFunctions(match: FrameMatch, line: UnsafeBufferPointer<UInt8>)
        -> [(function: Int32, kind: FrameKind)] {
        var raw = Array(line[match.function])
        // `func+0x1f`: the offset goes.
        if let plus = Self.trailingOffsetStart(raw) { raw.removeSubrange(plus...) }
        if raw.first == UInt8(ascii: "(") { return [] }
        let module = Array(line[match.module])
        let moduleIsKernel = (module.first == UInt8(ascii: "[") || module.ends(with: "vmlinux"))
            && !module.contains(subsequence: "unknown")
        let moduleIsJIT = Self.isPerfMap(module)
        let isJava = processName?.starts(with: "java".utf8) ?? false
        var parts = raw.split(separator: "->", omittingEmpty: false)
        // Perl's split drops empty fields at the end.
        while parts.last?.isEmpty == true { parts.removeLast() }
        var result: [(Int32, FrameKind)] = []
        for (index, part) in parts.enumerated() {
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
            Self.tidy(&name, java: isJava)
            let kind: FrameKind
            if index > 0 {
                kind = .inlined
                // Marked once: a name that says `_[i]` already keeps it as its suffix.
                if name.ends(with: "_[i]") { name.removeLast(4) }
            } else if moduleIsKernel {
                kind = .kernel
            } else if moduleIsJIT {
                kind = .jit
                if name.ends(with: "_[j]") { name.removeLast(4) }
            } else {
                kind = .user
            }
            let nameID = name.withUnsafeBufferPointer { profile.intern($0) }
            let function: Int32
            if let known = functionOfName[nameID] {
                function = known
            } else {
                function = profile.addFunction(Function(name: nameID, systemName: nameID))
                functionOfName[nameID] = function
            }
            result.append((function, kind))
        }
        return result
    }

    private mutating func endSample() {
        guard let name = processName else { return }
        let nameID = name.withUnsafeBufferPointer { profile.intern($0) }
        let root: Int32
        if let known = rootOfName[nameID] {
            root = known
        } else {
            let function = profile.addFunction(Function(name: nameID, systemName: nameID))
            root = profile.addLocation(Location(kind: .process, lines: [Line(function: function)]))
            rootOfName[nameID] = root
        }
        var stack = profile.addStack(location: root, caller: -1)
        for location in frames.reversed() { stack = profile.addStack(location: location, caller: stack) }
        profile.addSample(stack: stack, values: [1, period], labels: labels, time: time)
        report.samples += 1
        processName = nil
        frames.removeAll(keepingCapacity: true)
        pendingInlines.removeAll(keepingCapacity: true)
        pendingInlineKey.removeAll(keepingCapacity: true)
    }

    private mutating func labelSet(comm: UnsafeBufferPointer<UInt8>, pid: [UInt8]?, tid: [UInt8]?) -> Int32 {
        var key = Array(comm)
        key.append(0)
        key += pid ?? []
        key.append(0)
        key += tid ?? []
        let keyID = key.withUnsafeBufferPointer { labelKeys.intern($0) }
        if Int(keyID) < labelSetOfKey.count, labelSetOfKey[Int(keyID)] >= 0 { return labelSetOfKey[Int(keyID)] }
        var labels: [Label] = []
        if let pid, let number = Self.decimal(pid) {
            labels.append(Label(key: profile.intern(LabelKey.pid), number: Int64(number)))
        }
        if let tid, let number = Self.decimal(tid) {
            labels.append(Label(key: profile.intern(LabelKey.tid), number: Int64(number)))
        }
        labels.append(Label(key: profile.intern(LabelKey.processName), text: profile.intern(comm)))
        let id = profile.addLabelSet(labels)
        while labelSetOfKey.count <= Int(keyID) { labelSetOfKey.append(-1) }
        labelSetOfKey[Int(keyID)] = id
        return id
    }

    // MARK: - The patterns of stackcollapse-perf.pl

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C || byte == 0x0B
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    @inline(__always)
    static func isWord(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- 0x61 < 26 || byte == UInt8(ascii: "_")
    }

    /// `^(\S.+?)\s+(\d+)\/*(\d+)*\s+`: where the command name ends, and the two numbers.
    static func matchHeader(_ line: UnsafeBufferPointer<UInt8>) -> (commEnd: Int, first: [UInt8], second: [UInt8]?)? {
        guard line.count >= 2, !isSpace(line[0]) else { return nil }
        // The lazy name: the shortest (of at least two characters) after which the rest fits.
        var end = 2
        while end < line.count {
            var index = end
            let spaces = index
            while index < line.count, isSpace(line[index]) { index += 1 }
            if index > spaces {
                let digits = index
                while index < line.count, isDigit(line[index]) { index += 1 }
                if index > digits {
                    let first = Array(line[digits..<index])
                    while index < line.count, line[index] == UInt8(ascii: "/") { index += 1 }
                    let secondStart = index
                    while index < line.count, isDigit(line[index]) { index += 1 }
                    let second = index > secondStart ? Array(line[secondStart..<index]) : nil
                    if index < line.count, isSpace(line[index]) { return (end, first, second) }
                }
            }
            end += 1
        }
        return nil
    }

    /// `:\s*(\d+)*\s+(\S+):\s*$`: the period (if printed) and the event name.
    static func matchEvent(_ line: UnsafeBufferPointer<UInt8>) -> (period: [UInt8]?, event: String)? {
        // The trailing run of non-space characters, ending in `:`, is the event (the rest
        // of the line after it is blank).
        var end = line.count
        while end > 0, isSpace(line[end - 1]) { end -= 1 }
        var start = end
        while start > 0, !isSpace(line[start - 1]) { start -= 1 }
        for colon in 0..<line.count where line[colon] == UInt8(ascii: ":") {
            var index = colon + 1
            while index < line.count, isSpace(line[index]) { index += 1 }
            let spaces = index - colon - 1
            let digitStart = index
            while index < line.count, isDigit(line[index]) { index += 1 }
            // Digits, then spaces, then the event; or no digits, after at least one space.
            var candidates: [(period: [UInt8]?, eventStart: Int)] = []
            if index > digitStart {
                var afterDigits = index
                while afterDigits < line.count, isSpace(line[afterDigits]) { afterDigits += 1 }
                if afterDigits > index { candidates.append((Array(line[digitStart..<index]), afterDigits)) }
            }
            if spaces > 0 { candidates.append((nil, digitStart)) }
            for candidate in candidates {
                // (\S+): a run with no spaces from here to the last run, which ends the line.
                guard candidate.eventStart == start, end - start >= 2, line[end - 1] == UInt8(ascii: ":")
                else { continue }
                return (candidate.period, String(decoding: line[start..<(end - 1)], as: UTF8.self))
            }
        }
        return nil
    }

    struct FrameMatch {
        var address: Range<Int>
        var function: Range<Int>
        var module: Range<Int>
    }

    /// `^\s*(\w+)\s*(.+) \((.*)\)`: the address, the function (up to the last ` (` that a
    /// `)` follows), the module (up to the last `)`).
    static func matchFrame(_ line: UnsafeBufferPointer<UInt8>) -> FrameMatch? {
        var start = 0
        while start < line.count, isSpace(line[start]) { start += 1 }
        var wordEnd = start
        while wordEnd < line.count, isWord(line[wordEnd]) { wordEnd += 1 }
        guard wordEnd > start, let lastParen = line.lastIndex(of: UInt8(ascii: ")")), lastParen >= 2 else { return nil }
        var open = lastParen - 2
        while open >= 0, !(line[open] == UInt8(ascii: " ") && line[open + 1] == UInt8(ascii: "(")) { open -= 1 }
        guard open > start else { return nil }
        // The longest address and spaces after it that leave the function at least a byte.
        var addressEnd = wordEnd
        var functionStart = addressEnd
        while functionStart < line.count, isSpace(line[functionStart]) { functionStart += 1 }
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

    /// Where a trailing `+0x[0-9a-f]+` starts.
    static func trailingOffsetStart(_ name: [UInt8]) -> Int? {
        var index = name.count
        while index > 0, isDigit(name[index - 1]) || (name[index - 1] &- 0x61 < 6) { index -= 1 }
        guard index < name.count, index >= 3, name[index - 1] == UInt8(ascii: "x"), name[index - 2] == UInt8(ascii: "0"),
              name[index - 3] == UInt8(ascii: "+") else { return nil }
        return index - 3
    }

    /// stackcollapse-perf.pl's tidying of a name.
    static func tidy(_ name: inout [UInt8], java: Bool) {
        for index in name.indices where name[index] == UInt8(ascii: ";") { name[index] = UInt8(ascii: ":") }
        // Arguments go, after the first `(` that is not `(anonymous namespace)`; not in a Go
        // method name such as `net/http.(*Client).Do` (a `.(`, later a `).`).
        if !isGoMethod(name) {
            let anonymous = Array("(anonymous namespace)".utf8)
            var index = 0
            while index < name.count {
                if name[index] == UInt8(ascii: "("), !name[index...].starts(with: anonymous) {
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

    static func isPerfMap(_ module: [UInt8]) -> Bool {
        // `/tmp/perf-\d+\.map` anywhere in the module's name.
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

    /// The header's timestamp, `123.456789:`, in nanoseconds.
    static func timestamp(in line: UnsafeBufferPointer<UInt8>, before commEnd: Int) -> Int64? {
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

    static func decimal(_ digits: [UInt8]) -> Double? {
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
