/// A profile: samples, each with a stack of locations and one value per sample type, in the
/// shape of pprof's `profile.proto` (samples → locations → functions and mappings, values
/// with units, labels), with stacks kept in a shared prefix table (as samply and the Firefox
/// profiler keep them), so that a million samples of a few thousand stacks cost a million
/// small integers, not a million arrays.
///
/// Every reader makes one (folded text, `perf script`, pprof, a recording) and every writer
/// takes one (folded, pprof, speedscope, and through ``FrameTree`` the flame graphs).
/// Indices are 0-based here; pprof's ids are these plus one.
public struct Profile: Sendable {
    /// What each value of a sample measures, such as `samples`/`count` and `cpu`/`nanoseconds`.
    public private(set) var sampleTypes: [ValueType]
    /// The sample type shown when a viewer is not told which (pprof's `default_sample_type`).
    public var defaultSampleType: Int
    /// What one sampling period measures, and its length (pprof's `period_type`, `period`).
    public var periodType: ValueType?
    public var period: Int64 = 0
    /// When the recording started, in nanoseconds since the Unix epoch (0: unknown).
    public var startTime: Int64 = 0
    /// How long it lasted, in nanoseconds (0: unknown).
    public var duration: Int64 = 0
    /// Free-form notes (pprof's `comment`).
    public var comments: [String] = []

    public private(set) var strings = StringTable()
    public private(set) var mappings: [Mapping] = []
    public private(set) var functions: [Function] = []
    public private(set) var locations: [Location] = []
    public private(set) var stacks = StackTable()
    /// Label sets; id 0 is the empty set.
    public private(set) var labelSets: [[Label]] = [[]]

    /// Per sample: its stack (the id of its innermost frame, -1 for an empty stack), its
    /// label set, and `sampleTypes.count` values.
    public private(set) var sampleStacks: [Int32] = []
    public private(set) var sampleLabels: [Int32] = []
    public private(set) var sampleValues: [Double] = []
    /// One timestamp per sample (nanoseconds since the Unix epoch), or none at all when the
    /// recording did not keep them.
    public private(set) var sampleTimes: [Int64] = []

    private var functionIndex: [Function: Int32] = [:]
    private var locationIndex: [Location: Int32] = [:]
    /// Locations below this index are in `locationIndex` (``appendLocation(_:)`` leaves
    /// its locations out until an ``addLocation(_:)`` needs them).
    private var indexedLocations = 0
    private var mappingIndex: [Mapping: Int32] = [:]
    private var labelSetIndex: [[Label]: Int32] = [[]: 0]

    /// An empty profile whose samples have these values (at least one type).
    public init(sampleTypes: [ValueType] = [.samples], defaultSampleType: Int? = nil) {
        precondition(!sampleTypes.isEmpty, "a profile measures something")
        self.sampleTypes = sampleTypes
        self.defaultSampleType = defaultSampleType ?? sampleTypes.count - 1
    }

    public var sampleCount: Int { sampleStacks.count }
    public var hasSampleTimes: Bool { !sampleTimes.isEmpty && sampleTimes.count == sampleStacks.count }

    // MARK: - Building

    /// The id of `text` in the string table.
    public mutating func intern(_ text: String) -> Int32 { strings.intern(text) }

    /// The id of the string made of these bytes.
    public mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 { strings.intern(bytes) }

    /// The id of a function with these properties, added if new.
    public mutating func addFunction(_ function: Function) -> Int32 {
        if let known = functionIndex[function] { return known }
        let id = Int32(functions.count)
        functions.append(function)
        functionIndex[function] = id
        return id
    }

    /// The id of a function named `name` (its system name too), added if new.
    public mutating func addFunction(name: String, systemName: String? = nil, file: String = "", startLine: Int64 = 0) -> Int32 {
        let nameID = intern(name)
        return addFunction(Function(name: nameID, systemName: systemName.map { intern($0) } ?? nameID, file: intern(file),
                                    startLine: startLine))
    }

    /// The id of this location, added if new.
    public mutating func addLocation(_ location: Location) -> Int32 {
        while indexedLocations < locations.count {
            locationIndex[locations[indexedLocations]] = Int32(indexedLocations)
            indexedLocations += 1
        }
        if let known = locationIndex[location] { return known }
        let id = Int32(locations.count)
        locations.append(location)
        locationIndex[location] = id
        indexedLocations += 1
        return id
    }

    /// Adds a location without looking for an equal one: for readers that keep their own
    /// index of what they made (by the input's bytes). A later ``addLocation(_:)`` still
    /// finds it.
    public mutating func appendLocation(_ location: Location) -> Int32 {
        locations.append(location)
        return Int32(locations.count - 1)
    }

    /// The id of this mapping, added if new.
    public mutating func addMapping(_ mapping: Mapping) -> Int32 {
        if let known = mappingIndex[mapping] { return known }
        let id = Int32(mappings.count)
        mappings.append(mapping)
        mappingIndex[mapping] = id
        return id
    }

    /// Puts these mappings first, in this order (pprof's viewers name a profile after its
    /// first mapping); the locations follow them.
    public mutating func moveMappingsToFront(_ front: [Int32]) {
        var order: [Int32] = []
        var seen = Set<Int32>()
        for id in front where mappings.indices.contains(Int(id)) && seen.insert(id).inserted { order.append(id) }
        for id in mappings.indices.map(Int32.init) where !seen.contains(id) { order.append(id) }
        guard order != Array(mappings.indices.map(Int32.init)) else { return }
        var newID = [Int32](repeating: -1, count: mappings.count)
        for (position, id) in order.enumerated() { newID[Int(id)] = Int32(position) }
        mappings = order.map { mappings[Int($0)] }
        mappingIndex = Dictionary(uniqueKeysWithValues: mappings.enumerated().map { ($1, Int32($0)) })
        for index in locations.indices where locations[index].mapping >= 0 {
            locations[index].mapping = newID[Int(locations[index].mapping)]
        }
        locationIndex = [:]
        indexedLocations = 0
    }

    /// The id of this set of labels, added if new.
    public mutating func addLabelSet(_ labels: [Label]) -> Int32 {
        if let known = labelSetIndex[labels] { return known }
        let id = Int32(labelSets.count)
        labelSets.append(labels)
        labelSetIndex[labels] = id
        return id
    }

    /// The id of the stack whose innermost frame is `location`, called from `caller` (-1:
    /// `location` is the outermost frame).
    public mutating func addStack(location: Int32, caller: Int32) -> Int32 {
        stacks.intern(caller: caller, location: location)
    }

    /// The id of the stack of these locations, outermost first.
    public mutating func addStack<Locations: Sequence>(rootFirst locations: Locations) -> Int32
    where Locations.Element == Int32 {
        var stack: Int32 = -1
        for location in locations { stack = addStack(location: location, caller: stack) }
        return stack
    }

    /// Adds one sample: `values` holds one value per sample type.
    public mutating func addSample(stack: Int32, values: [Double], labels: Int32 = 0, time: Int64? = nil) {
        precondition(values.count == sampleTypes.count, "one value per sample type")
        appendSample(stack: stack, labels: labels, time: time)
        sampleValues.append(contentsOf: values)
    }

    /// Adds `values` (one per sample type) to those of sample `index`: for writers that merge
    /// equal samples as they come.
    public mutating func addValues(_ values: [Double], toSample index: Int) {
        precondition(values.count == sampleTypes.count, "one value per sample type")
        let first = index * sampleTypes.count
        for (offset, value) in values.enumerated() { sampleValues[first + offset] += value }
    }

    /// Adds one sample of a profile with one sample type.
    public mutating func addSample(stack: Int32, value: Double, labels: Int32 = 0, time: Int64? = nil) {
        precondition(sampleTypes.count == 1, "one value per sample type")
        appendSample(stack: stack, labels: labels, time: time)
        sampleValues.append(value)
    }

    /// Adds a sample of a stack of named frames, outermost first, each a location of its
    /// own function (what text formats know of a frame).
    public mutating func addSample(
        frames: [(name: String, kind: FrameKind)], values: [Double], labels: Int32 = 0, time: Int64? = nil
    ) {
        let locations = frames.map { frame in
            addLocation(Location(kind: frame.kind, lines: [Line(function: addFunction(name: frame.name))]))
        }
        addSample(stack: addStack(rootFirst: locations), values: values, labels: labels, time: time)
    }

    /// Adds a sample of a stack of ordinary frames, outermost first, to a profile of one
    /// sample type.
    public mutating func addSample(names: [String], value: Double) {
        addSample(frames: names.map { ($0, .user) }, values: [value])
    }

    private mutating func appendSample(stack: Int32, labels: Int32, time: Int64?) {
        if let time {
            // The first timestamp after samples without one: those get 0 (unknown).
            if sampleTimes.count < sampleStacks.count {
                sampleTimes.append(contentsOf: repeatElement(0, count: sampleStacks.count - sampleTimes.count))
            }
            sampleTimes.append(time)
        } else if !sampleTimes.isEmpty {
            sampleTimes.append(0)
        }
        sampleStacks.append(stack)
        sampleLabels.append(labels)
    }

    /// Adds `value` to the value of type `type` of `sample`.
    public mutating func addToValue(ofSample sample: Int, type: Int, _ value: Double) {
        sampleValues[sample * sampleTypes.count + type] += value
    }

    /// Adds a sample type, with `fill(sample)` as each existing sample's value of it.
    public mutating func addSampleType(_ type: ValueType, fill: (Int) -> Double) {
        let oldStride = sampleTypes.count
        var values: [Double] = []
        values.reserveCapacity(sampleValues.count + sampleCount)
        for sample in 0..<sampleCount {
            values.append(contentsOf: sampleValues[sample * oldStride..<(sample + 1) * oldStride])
            values.append(fill(sample))
        }
        sampleValues = values
        sampleTypes.append(type)
    }

    /// Calls sample type `index` something else (its values stay).
    public mutating func renameSampleType(_ index: Int, to type: ValueType) {
        sampleTypes[index] = type
    }

    /// Keeps only the sample types at `kept` (in that order); the default follows if kept.
    public mutating func selectSampleTypes(_ kept: [Int]) {
        precondition(!kept.isEmpty && kept.allSatisfy { sampleTypes.indices.contains($0) })
        let oldStride = sampleTypes.count
        var values: [Double] = []
        values.reserveCapacity(sampleCount * kept.count)
        for sample in 0..<sampleCount {
            for type in kept { values.append(sampleValues[sample * oldStride + type]) }
        }
        sampleValues = values
        let oldDefault = defaultSampleType
        sampleTypes = kept.map { sampleTypes[$0] }
        defaultSampleType = kept.firstIndex(of: oldDefault) ?? sampleTypes.count - 1
    }

    /// Adds every sample of `other`, which must measure the same sample types (a merge of
    /// several inputs). Its tables are carried over; its stacks keep their frames.
    public mutating func append(_ other: Profile) throws {
        guard other.sampleTypes == sampleTypes else {
            throw ProfileInputError("it measures " + other.sampleTypes.map(\.description).joined(separator: ", ")
                + ", not " + sampleTypes.map(\.description).joined(separator: ", "))
        }
        var strings = [Int32](repeating: 0, count: other.strings.count)
        for id in 1..<Int32(other.strings.count) { strings[Int(id)] = other.strings.withBytes(of: id) { intern($0) } }
        let mappings = other.mappings.map { addMapping($0) }
        let functions = other.functions.map {
            addFunction(Function(name: strings[Int($0.name)], systemName: strings[Int($0.systemName)],
                                 file: strings[Int($0.file)], startLine: $0.startLine))
        }
        let locations = other.locations.map { location in
            var copy = location
            copy.mapping = location.mapping < 0 ? -1 : mappings[Int(location.mapping)]
            copy.lines = location.lines.map { Line(function: functions[Int($0.function)], line: $0.line, column: $0.column) }
            return addLocation(copy)
        }
        var stacks = [Int32](repeating: -1, count: other.stacks.count)
        // A caller's id is smaller than its callee's: it is mapped first.
        for stack in 0..<other.stacks.count {
            let caller = other.stacks.caller(of: Int32(stack))
            stacks[stack] = addStack(location: locations[Int(other.stacks.location(of: Int32(stack)))],
                                     caller: caller < 0 ? -1 : stacks[Int(caller)])
        }
        let labelSets = other.labelSets.map { set in
            addLabelSet(set.map {
                Label(key: strings[Int($0.key)], text: strings[Int($0.text)], number: $0.number, unit: strings[Int($0.unit)])
            })
        }
        let stride = sampleTypes.count
        for sample in 0..<other.sampleCount {
            let stack = other.sampleStacks[sample]
            addSample(stack: stack < 0 ? -1 : stacks[Int(stack)],
                      values: Array(other.sampleValues[sample * stride..<(sample + 1) * stride]),
                      labels: labelSets[Int(other.sampleLabels[sample])],
                      time: other.hasSampleTimes ? other.sampleTimes[sample] : nil)
        }
        if startTime == 0 || (other.startTime != 0 && other.startTime < startTime) { startTime = other.startTime }
        duration = max(duration, other.duration)
    }

    // MARK: - Reading

    /// The value of `sample` of sample type `type`.
    @inline(__always)
    public func value(ofSample sample: Int, type: Int) -> Double {
        sampleValues[sample * sampleTypes.count + type]
    }

    /// The total of one sample type over all samples.
    public func total(ofType type: Int) -> Double {
        var total = 0.0
        let stride = sampleTypes.count
        var index = type
        while index < sampleValues.count {
            total += sampleValues[index]
            index += stride
        }
        return total
    }

    /// The index of the sample type called `name` (its `type`), if there is one.
    public func sampleType(named name: String) -> Int? {
        sampleTypes.firstIndex { $0.type == name }
    }

    /// The locations of `stack`, innermost first (pprof's order).
    public func locations(ofStack stack: Int32) -> [Int32] {
        var result: [Int32] = []
        var current = stack
        while current >= 0 {
            result.append(stacks.location(of: current))
            current = stacks.caller(of: current)
        }
        return result
    }

    /// The frames of `stack`, outermost first: every line of every location, an inlined
    /// function after the function it was inlined into.
    public func frames(ofStack stack: Int32) -> [StackFrame] {
        var frames: [StackFrame] = []
        for location in locations(ofStack: stack).reversed() {
            appendFrames(ofLocation: location, to: &frames)
        }
        return frames
    }

    /// Appends the frames of one location, outermost first.
    @inline(__always)
    public func appendFrames(ofLocation id: Int32, to frames: inout [StackFrame]) {
        let location = locations[Int(id)]
        let lines = location.lines
        for (index, line) in lines.enumerated().reversed() {
            // A waker's inlined frames are the waker's, as every frame above `--` is.
            let kind: FrameKind = location.kind == .waker ? .waker
                : index == lines.count - 1 && location.kind != .inlined ? location.kind : .inlined
            frames.append(StackFrame(function: line.function, line: line.line, kind: kind, location: id))
        }
    }

    /// The labels of `sample`.
    public func labels(ofSample sample: Int) -> [Label] { labelSets[Int(sampleLabels[sample])] }

    /// The text of label `key` of a label set, if it has one.
    public func label(_ key: String, inSet set: Int32) -> String? {
        guard let keyID = strings.id(of: key),
              let label = labelSets[Int(set)].first(where: { $0.key == keyID && $0.text != 0 })
        else { return nil }
        return strings[label.text]
    }

    /// The number of label `key` of a label set, if it has one.
    public func numericLabel(_ key: String, inSet set: Int32) -> Int64? {
        guard let keyID = strings.id(of: key),
              let label = labelSets[Int(set)].first(where: { $0.key == keyID && $0.text == 0 })
        else { return nil }
        return label.number
    }

    /// The name of function `id`.
    public func name(ofFunction id: Int32) -> String { strings[functions[Int(id)].name] }
}

/// What a value measures: a quantity and its unit (pprof's `ValueType`).
public struct ValueType: Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var unit: String

    public init(type: String, unit: String) {
        self.type = type
        self.unit = unit
    }

    /// Samples counted.
    public static let samples = ValueType(type: "samples", unit: "count")
    /// CPU time, as Go's CPU profiles give it.
    public static let cpuNanoseconds = ValueType(type: "cpu", unit: "nanoseconds")
    /// Time switched out (blocked, sleeping or waiting for a CPU), as off-CPU recordings give it.
    public static let offCPUNanoseconds = ValueType(type: "off_cpu", unit: "nanoseconds")
    /// On-CPU and off-CPU time together.
    public static let wallNanoseconds = ValueType(type: "wall", unit: "nanoseconds")
    /// The two counts of a comparison.
    public static let before = ValueType(type: "before", unit: "count")
    public static let after = ValueType(type: "after", unit: "count")

    public var description: String { "\(type)/\(unit)" }
}

/// What kind of code a frame is, kept as data through every reader and writer. Folded text
/// spells kinds as name suffixes (`_[k]`); nothing else does.
public enum FrameKind: UInt8, Sendable, CaseIterable, BitwiseCopyable {
    /// Ordinary code, or a frame whose kind no input said.
    case user
    /// Kernel code.
    case kernel
    /// A function inlined into the frame that called it (it has no code of its own).
    case inlined
    /// Generated code named by a JIT's perf map.
    case jit
    /// The stack of the task that woke a blocked one (off-wake graphs).
    case waker
    /// The process a sample belongs to, as a root frame.
    case process
    /// The thread, as a frame under its process.
    case thread
    /// The leaf of an off-CPU stack: the time above it was spent switched out.
    case offCPU
    /// A function of an interpreted language (Python), in place of the interpreter's
    /// native frame that ran it.
    case python
}

/// An executable mapped into a process (pprof's `Mapping`).
public struct Mapping: Hashable, Sendable {
    public var start: UInt64
    public var limit: UInt64
    /// The offset in the file of the byte at `start`.
    public var fileOffset: UInt64
    public var file: String
    /// The GNU build id in hexadecimal, or empty.
    public var buildID: String
    /// Whether the mapping's addresses were named, given file names, lines, inline frames.
    public var hasFunctions: Bool
    public var hasFilenames: Bool
    public var hasLineNumbers: Bool
    public var hasInlineFrames: Bool

    public init(start: UInt64, limit: UInt64, fileOffset: UInt64, file: String, buildID: String = "",
                hasFunctions: Bool = true, hasFilenames: Bool = false, hasLineNumbers: Bool = false,
                hasInlineFrames: Bool = false) {
        self.start = start
        self.limit = limit
        self.fileOffset = fileOffset
        self.file = file
        self.buildID = buildID
        self.hasFunctions = hasFunctions
        self.hasFilenames = hasFilenames
        self.hasLineNumbers = hasLineNumbers
        self.hasInlineFrames = hasInlineFrames
    }
}

/// A function (pprof's `Function`): names and file are ids in the profile's strings.
public struct Function: Hashable, Sendable {
    /// The name as shown (demangled).
    public var name: Int32
    /// The name as the binary spells it (mangled).
    public var systemName: Int32
    /// The source file, or 0 when unknown.
    public var file: Int32
    public var startLine: Int64

    public init(name: Int32, systemName: Int32, file: Int32 = 0, startLine: Int64 = 0) {
        self.name = name
        self.systemName = systemName
        self.file = file
        self.startLine = startLine
    }
}

/// One position in a function's source (pprof's `Line`).
public struct Line: Hashable, Sendable {
    public var function: Int32
    /// The line number, or 0 when unknown.
    public var line: Int64
    public var column: Int64

    public init(function: Int32, line: Int64 = 0, column: Int64 = 0) {
        self.function = function
        self.line = line
        self.column = column
    }
}

/// A place in the code (pprof's `Location`): an address and the functions it lies in, the
/// innermost inlined one first.
public struct Location: Hashable, Sendable {
    /// The address as the process saw it (0 when unknown, as for frames read from text).
    public var address: UInt64
    /// The mapping the address lies in, or -1.
    public var mapping: Int32
    /// The kind of the physical frame (the last line). `.inlined` only for a location of
    /// inlined frames whose physical frame is not known (read from text).
    public var kind: FrameKind
    /// Innermost first: every line but the last is inlined into the next. Never empty:
    /// readers name an address they cannot name some other way (`module+0xOFFSET`).
    public var lines: [Line]

    public init(address: UInt64 = 0, mapping: Int32 = -1, kind: FrameKind = .user, lines: [Line]) {
        self.address = address
        self.mapping = mapping
        self.kind = kind
        self.lines = lines
    }
}

/// A label of a sample (pprof's `Label`): a key with text or a number.
public struct Label: Hashable, Sendable {
    /// Ids in the profile's strings: `text` is 0 for a numeric label, `unit` 0 when none.
    public var key: Int32
    public var text: Int32
    public var number: Int64
    public var unit: Int32

    public init(key: Int32, text: Int32 = 0, number: Int64 = 0, unit: Int32 = 0) {
        self.key = key
        self.text = text
        self.number = number
        self.unit = unit
    }
}

/// The label keys ember writes and reads.
public enum LabelKey {
    public static let pid = "pid"
    public static let tid = "tid"
    /// The process's name.
    public static let processName = "comm"
    public static let threadName = "thread_name"
    /// A sample's time, a numeric label in nanoseconds since the epoch: pprof has no field
    /// for it (written with `--timestamps`, read back as the sample's time).
    public static let timestamp = "timestamp"
}

/// One frame of a stack, as flame graphs and folded text show frames.
public struct StackFrame: Hashable, Sendable {
    public var function: Int32
    public var line: Int64
    public var kind: FrameKind
    /// The location the frame belongs to.
    public var location: Int32
}

/// Stacks as a prefix table: each entry is a location and the stack of its caller, so
/// stacks that share their outer frames share entries.
public struct StackTable: Sendable {
    public private(set) var callers: [Int32] = []
    public private(set) var locationIDs: [Int32] = []
    /// Open addressing on (caller, location): the key and `id + 1` per slot (0 when empty).
    private var slotKeys = [UInt64](repeating: 0, count: 1024)
    private var slotIDs = [Int32](repeating: 0, count: 1024)

    public init() {}

    public var count: Int { callers.count }

    @inline(__always)
    public func caller(of stack: Int32) -> Int32 { callers[Int(stack)] }

    @inline(__always)
    public func location(of stack: Int32) -> Int32 { locationIDs[Int(stack)] }

    /// The id of the stack `location` called from `caller`, added if new.
    public mutating func intern(caller: Int32, location: Int32) -> Int32 {
        let key = Self.key(caller: caller, location: location)
        let mask = slotKeys.count - 1
        var slot = Self.slot(of: key, mask: mask)
        while slotIDs[slot] != 0 {
            if slotKeys[slot] == key { return slotIDs[slot] - 1 }
            slot = (slot + 1) & mask
        }
        let id = Int32(callers.count)
        callers.append(caller)
        locationIDs.append(location)
        slotKeys[slot] = key
        slotIDs[slot] = id + 1
        if callers.count * 2 > slotKeys.count { grow() }
        return id
    }

    @inline(__always)
    private static func key(caller: Int32, location: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: caller)) << 32 | UInt64(UInt32(bitPattern: location))
    }

    @inline(__always)
    private static func slot(of key: UInt64, mask: Int) -> Int {
        var mixed = key &* 0xFF51_AFD7_ED55_8CCD
        mixed ^= mixed >> 32
        return Int(truncatingIfNeeded: mixed) & mask
    }

    private mutating func grow() {
        let capacity = slotKeys.count * 2
        slotKeys = [UInt64](repeating: 0, count: capacity)
        slotIDs = [Int32](repeating: 0, count: capacity)
        let mask = capacity - 1
        for id in 0..<callers.count {
            let key = Self.key(caller: callers[id], location: locationIDs[id])
            var slot = Self.slot(of: key, mask: mask)
            while slotIDs[slot] != 0 { slot = (slot + 1) & mask }
            slotKeys[slot] = key
            slotIDs[slot] = Int32(id + 1)
        }
    }
}
