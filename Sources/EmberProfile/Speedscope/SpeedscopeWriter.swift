/// Writes a profile in speedscope's file format (`src/lib/file-format-spec.ts` of
/// jlfwong/speedscope): the frames once in `shared.frames`, then one sampled profile per
/// thread, each sample a stack of frame indices, outermost first, with its weight.
///
/// Where the samples have timestamps, each thread's samples are in time order and the time
/// a thread spent without samples (blocked, or not scheduled) is an empty stack of that
/// length, so speedscope's time-order view is a timeline of the recording; without
/// timestamps, samples keep the profile's order. Frames are named by their labels (kinds as
/// folded text marks them), with their file and line.
///
/// The JSON is written by hand: it is a few flat arrays of numbers, and writing them
/// straight from the profile's tables needs no intermediate copy of every sample.
public enum SpeedscopeWriter {
    /// The JSON document of `profile`'s values of `sampleType` (by default its default).
    public static func encode(_ profile: Profile, sampleType: Int? = nil, name: String = "ember") -> [UInt8] {
        let type = sampleType ?? profile.defaultSampleType
        let unit = speedscopeUnit(profile.sampleTypes[type].unit)
        var json = JSONOutput()

        // Frames: one per distinct function, position and kind.
        struct FrameKey: Hashable {
            var function: Int32
            var line: Int64
            var kind: FrameKind
        }
        var frameIndex: [FrameKey: Int] = [:]
        var frameKeys: [FrameKey] = []
        var stackFrames: [Int32: [Int]] = [:]
        func frames(ofStack stack: Int32) -> [Int] {
            if let known = stackFrames[stack] { return known }
            var indices: [Int] = []
            for frame in profile.frames(ofStack: stack) where frame.kind != .process && frame.kind != .thread {
                let key = FrameKey(function: frame.function, line: frame.line, kind: frame.kind)
                if let index = frameIndex[key] {
                    indices.append(index)
                } else {
                    frameIndex[key] = frameKeys.count
                    indices.append(frameKeys.count)
                    frameKeys.append(key)
                }
            }
            stackFrames[stack] = indices
            return indices
        }

        // Threads, in order of their first sample.
        let pidKey = profile.strings.id(of: LabelKey.pid)
        let tidKey = profile.strings.id(of: LabelKey.tid)
        var threadOfLabels: [Int32: Int] = [:]
        var threadOfIdentity: [[Label]: Int] = [:]
        var threads: [(labels: Int32, samples: [Int])] = []
        var weightOfLabels: [Int32: Double] = [:]
        for sample in 0..<profile.sampleCount {
            let labels = profile.sampleLabels[sample]
            weightOfLabels[labels, default: 0] += profile.value(ofSample: sample, type: type)
            let thread: Int
            if let known = threadOfLabels[labels] {
                thread = known
            } else {
                // A thread is its pid and tid: its name may change while it runs.
                let identity = profile.labelSets[Int(labels)].filter { $0.key == pidKey || $0.key == tidKey }
                if let known = threadOfIdentity[identity] {
                    thread = known
                } else {
                    thread = threads.count
                    threads.append((labels, []))
                    threadOfIdentity[identity] = thread
                }
                threadOfLabels[labels] = thread
            }
            threads[thread].samples.append(sample)
        }
        // Each is named as most of its samples (by weight) are, the later of two alike: a
        // thread names itself after it starts, and can be sampled before.
        for (labels, thread) in threadOfLabels.sorted(by: { $0.key < $1.key }) {
            let named = threads[thread].labels
            if weightOfLabels[labels, default: 0] >= weightOfLabels[named, default: 0] { threads[thread].labels = labels }
        }

        // Time zero is the start of the first sample's period (a sample covers the period
        // that ends at its timestamp). Whole nanoseconds, exact; a period read from a file
        // may be beyond any integer, so the difference saturates.
        var origin = Int64.max
        if profile.hasSampleTimes {
            for sample in 0..<profile.sampleCount where profile.sampleTimes[sample] != 0 {
                let time = profile.sampleTimes[sample]
                let period = profile.value(ofSample: sample, type: type)
                var start = Int64(saturating: Double(time) - period)
                if abs(period) < 1e18 {
                    let exact = time.subtractingReportingOverflow(Int64(period))
                    if !exact.overflow { start = exact.partialValue }
                }
                origin = min(origin, start)
            }
        }
        json.raw(#"{"$schema":"https://www.speedscope.app/file-format-schema.json","exporter":"ember","name":"#)
        json.string(name)
        json.raw(#","activeProfileIndex":0,"profiles":["#)
        for (index, thread) in threads.enumerated() {
            var order = thread.samples
            // A thread is a timeline when each of its samples has a time.
            let timed = profile.hasSampleTimes && order.allSatisfy { profile.sampleTimes[$0] != 0 }
            if timed { order.sort { profile.sampleTimes[$0] < profile.sampleTimes[$1] } }
            var stacks: [[Int]] = []
            var weights: [Double] = []
            var clock: Double?
            var startValue = 0.0
            for sample in order {
                let weight = profile.value(ofSample: sample, type: type)
                guard weight > 0 else { continue }
                if timed, unit == "nanoseconds" {
                    let sinceOrigin = profile.sampleTimes[sample].subtractingReportingOverflow(origin)
                    let start = (sinceOrigin.overflow ? Double(profile.sampleTimes[sample]) - Double(origin) : Double(sinceOrigin.partialValue)) - weight
                    if let clock, start > clock {
                        stacks.append([])
                        weights.append(start - clock)
                    } else if clock == nil {
                        startValue = start
                    }
                    clock = max(clock ?? start, start) + weight
                }
                stacks.append(frames(ofStack: profile.sampleStacks[sample]))
                weights.append(weight)
            }
            if index > 0 { json.raw(",") }
            json.raw(#"{"type":"sampled","name":"#)
            json.string(threadName(profile, labels: thread.labels, index: index))
            json.raw(#","unit":"#)
            json.string(unit)
            json.raw(#","startValue":"#)
            json.number(startValue)
            json.raw(#","endValue":"#)
            json.number(startValue + weights.reduce(0, +))
            json.raw(#","samples":["#)
            for (position, stack) in stacks.enumerated() {
                if position > 0 { json.raw(",") }
                json.raw("[")
                for (frame, frameIndex) in stack.enumerated() {
                    if frame > 0 { json.raw(",") }
                    json.integer(frameIndex)
                }
                json.raw("]")
            }
            json.raw(#"],"weights":["#)
            for (position, weight) in weights.enumerated() {
                if position > 0 { json.raw(",") }
                json.number(weight)
            }
            json.raw("]}")
        }
        json.raw(#"],"shared":{"frames":["#)
        var label: [UInt8] = []
        for (index, key) in frameKeys.enumerated() {
            if index > 0 { json.raw(",") }
            let function = profile.functions[Int(key.function)]
            label.removeAll(keepingCapacity: true)
            profile.strings.withBytes(of: function.name) { FoldedFormat.appendLabel(name: $0, kind: key.kind, to: &label) }
            json.raw(#"{"name":"#)
            label.withUnsafeBufferPointer { json.string($0) }
            if function.file != 0 {
                json.raw(#","file":"#)
                profile.strings.withBytes(of: function.file) { json.string($0) }
            }
            if key.line > 0 {
                json.raw(#","line":"#)
                json.integer(Int(key.line))
            }
            json.raw("}")
        }
        json.raw("]}}\n")
        return json.bytes
    }

    /// speedscope's name for a unit (`none` for counts and units it does not know).
    static func speedscopeUnit(_ unit: String) -> String {
        switch unit {
        case "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes": return unit
        default: return "none"
        }
    }

    private static func threadName(_ profile: Profile, labels: Int32, index: Int) -> String {
        let process = profile.label(LabelKey.processName, inSet: labels)
        let thread = profile.label(LabelKey.threadName, inSet: labels)
        let pid = profile.numericLabel(LabelKey.pid, inSet: labels)
        let tid = profile.numericLabel(LabelKey.tid, inSet: labels)
        var parts: [String] = []
        if let process { parts.append(pid.map { "\(process) (\($0))" } ?? process) }
        if let tid { parts.append((thread ?? "thread") + " (\(tid))") }
        return parts.isEmpty ? (index == 0 ? "all samples" : "samples \(index + 1)") : parts.joined(separator: ": ")
    }
}

/// JSON text, escaped as RFC 8259 asks (bytes that are not UTF-8 as `\xNN` text).
struct JSONOutput {
    private(set) var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string($0) }
    }

    mutating func string(_ text: UnsafeBufferPointer<UInt8>) {
        guard String(validating: text, as: UTF8.self) != nil else {
            var repaired = ByteString.text(of: text)
            repaired.withUTF8 { string($0) }
            return
        }
        bytes.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A finite number (JSON has no infinities): whole numbers without a fraction.
    mutating func number(_ value: Double) {
        let value = value.isFinite ? value : 0
        if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }
}
