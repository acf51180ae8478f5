import EmberProfile
import EmberSystem

/// The time view: one self-contained HTML page with a heat map of the samples over time
/// (FlameScope's layout), a timeline track per thread, and the flame graph of a selected
/// range (or the differential graph of two), computed in the page.
///
/// The page embeds the profile compactly (see ``TimeViewData``): the call tree once, in
/// drawing order, and one column per sample of its time, leaf node, thread and weight; each
/// selection adds up the weights of its samples' nodes. The flame graph is drawn by the
/// same script as the SVG flame graphs (``FlameGraphAssets/flameGraphFunction``).
public enum TimeView {
    /// The HTML document of `profile`'s values of `sampleType` (by default its default),
    /// multiplied by `options.factor` (rounded when it is not 1, as a recording's graph is).
    public static func htmlBytes(
        of profile: Profile, options: FlameGraphOptions = .init(), lines: Bool = false, sampleType: Int? = nil
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        func append(_ text: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        let data = TimeViewData(profile: profile, options: options, lines: lines, sampleType: sampleType)
        append(TimeViewAssets.pageOpening)
        // The title and notes are the only outside text in the markup; everything else is JSON data.
        XMLEscaping.escaped(options.title).utf8.forEach { out.append($0) }
        append(TimeViewAssets.titleClosing)
        if let notes = options.notes {
            append(TimeViewAssets.notesOpening)
            XMLEscaping.escaped(notes).utf8.forEach { out.append($0) }
            append(TimeViewAssets.notesClosing)
        }
        append(TimeViewAssets.pageStyleOpening)
        append(TimeViewAssets.style)
        append(FlameGraphAssets.style)
        append(TimeViewAssets.pageBody)
        data.appendJSON(to: &out)
        append(TimeViewAssets.scriptOpening)
        append(FlameGraphAssets.flameGraphFunction)
        append(TimeViewAssets.script)
        append(TimeViewAssets.pageClosing)
        return out
    }

    /// Writes the HTML document of `profile` to `path` (`-` for standard output), whole or
    /// not at all (see `AtomicFile`).
    public static func write(
        _ profile: Profile, options: FlameGraphOptions = .init(), lines: Bool = false, sampleType: Int? = nil,
        toFile path: String
    ) throws {
        try AtomicFile.write(htmlBytes(of: profile, options: options, lines: lines, sampleType: sampleType), to: path)
    }
}

/// What the time view's page holds, as one JSON object in a `<script type="application/json">`.
///
/// - `labels`, `colors`: every distinct frame label, shown as the SVG shows it (control
///   bytes and invalid UTF-8 as `\xNN`), and its colour (by the palette, from its name and kind).
/// - `parent`, `label`: the call tree's nodes in drawing order (depth first, children in the
///   graph's order), so a node's parent comes before it and a subtree is a run of ids: the
///   page lays a selection out in one pass over the nodes.
/// - `threads`: `[pid, tid, thread name, process name]`.
/// - `time`: per sample in time order, microseconds since the previous one (the first since
///   the start of the recording, or the first sample where the start is not known); `node`,
///   `thread`: its leaf node and thread; `weight`: its value (left out when every sample
///   counts 1); `length`: for off-CPU time, each block's length in microseconds (it ended
///   at its time), 0 for a sample, left out when there is none. `duration`: the
///   recording's, in microseconds.
/// - `untimedNode`, `untimedWeight`: samples without a time, in the whole graph only.
/// - `noTime`: why there is no heat map, when no sample has a time.
struct TimeViewData {
    var labels: [String] = []
    var colors: [UInt32] = []
    var nodeParent: [Int32] = []
    var nodeLabel: [Int32] = []
    var threads: [(pid: Int64, tid: Int64, name: String, process: String)] = []
    var timeDeltas: [Int64] = []
    var sampleNode: [Int32] = []
    var sampleThread: [Int32] = []
    var sampleWeight: [Double]? = nil
    var sampleLength: [Int64]? = nil
    var untimedNodes: [Int32] = []
    var untimedWeights: [Double] = []
    var origin: Int64 = 0
    var duration: Int64 = 0
    var integral = true
    var options: FlameGraphOptions
    var noTimeReason: String?

    init(profile: Profile, options: FlameGraphOptions, lines: Bool, sampleType: Int? = nil) {
        self.options = options
        // Stacks reversed and re-rooted as the graph of the recording draws them; counts
        // are scaled below, per sample.
        var transform = StackTransform()
        transform.reverse = options.reverse
        transform.baseFrames = options.baseFrames
        var builder = FrameTreeBuilder(transform: transform, tracksSelfSamples: false)
        let leaves = builder.addReturningNodes(profile, lines: lines)
        let tree = builder.finishTree()

        // Nodes renumbered depth first, children in the graph's order.
        let order: FlameGraphOptions.FrameOrder = options.order == .weight ? .weight : .alphabetical
        let children = FlameLayout.sortedChildren(tree: tree, weights: tree.after, order: order)
        var newID = [Int32](repeating: -1, count: tree.nodeCount)
        var pending: [Int32] = [0]
        var labelIDs: [String: Int32] = [:]
        var colorMaker = FrameColors(palette: options.palette, hashed: options.hashColors)
        while let node = pending.popLast() {
            newID[Int(node)] = Int32(nodeParent.count)
            nodeParent.append(node == 0 ? -1 : newID[Int(tree.nodeParent[Int(node)])])
            let (text, color): (String, UInt32) = node == 0
                ? ("all", Array("all".utf8).withUnsafeBufferPointer { colorMaker.color(of: $0, kind: .user) })
                : tree.withName(of: Int(node)) { name in
                    (TimeViewData.shown(name), colorMaker.color(of: name, kind: tree.kind(of: Int(node))))
                }
            if let known = labelIDs[text] {
                nodeLabel.append(known)
            } else {
                let id = Int32(labels.count)
                labelIDs[text] = id
                labels.append(text)
                colors.append(color)
                nodeLabel.append(id)
            }
            let list = children.list[children.offsets[Int(node)]..<children.offsets[Int(node) + 1]]
            pending.append(contentsOf: list.reversed())
        }

        // Threads, by pid and tid.
        var threadOfLabelSet = [Int32](repeating: -1, count: profile.labelSets.count)
        var threadIndex: [[Int64]: Int32] = [:]
        var processNames: [Int64: String] = [:]
        func number(_ key: String, _ set: Int32) -> Int64? {
            profile.numericLabel(key, inSet: set) ?? profile.label(key, inSet: set).flatMap { Int64($0) }
        }
        // A thread is named by the name most of its samples (by weight) have, the later one
        // of two alike: threads name themselves after they start (a sample can come before),
        // and a process's exec renames it.
        let nameType = sampleType ?? profile.defaultSampleType
        var lastSample = [Int](repeating: -1, count: profile.labelSets.count)
        var weightOfSet = [Double](repeating: 0, count: profile.labelSets.count)
        for sample in 0..<profile.sampleCount {
            let set = Int(profile.sampleLabels[sample])
            weightOfSet[set] += profile.value(ofSample: sample, type: nameType)
            if lastSample[set] < 0 || !profile.hasSampleTimes || profile.sampleTimes[sample] >= profile.sampleTimes[lastSample[set]] {
                lastSample[set] = sample
            }
        }
        func isLater(_ sample: Int, than other: Int) -> Bool {
            profile.hasSampleTimes ? profile.sampleTimes[sample] > profile.sampleTimes[other] : sample > other
        }
        // A name's weight is that of all its label sets: one name has several where other
        // labels differ (an off-CPU state, say).
        struct NameWeight {
            var weight: Double
            var lastSample: Int
            var set: Int  // the set of its last sample
        }
        var namesOfThread: [[String: NameWeight]] = []
        for set in 0..<profile.labelSets.count where lastSample[set] >= 0 {
            let labelSet = Int32(set)
            let pid = number("pid", labelSet) ?? -1
            let tid = number("tid", labelSet) ?? pid
            let comm = profile.label("comm", inSet: labelSet)
            let name = profile.label("thread_name", inSet: labelSet) ?? comm ?? (pid < 0 ? "all samples" : "")
            let index: Int32
            if let known = threadIndex[[pid, tid]] {
                index = known
            } else {
                index = Int32(threads.count)
                threadIndex[[pid, tid]] = index
                threads.append((pid, tid, "", ""))
                namesOfThread.append([:])
                if tid == pid || processNames[pid] == nil, let comm { processNames[pid] = TimeViewData.shownText(comm) }
            }
            threadOfLabelSet[set] = index
            var entry = namesOfThread[Int(index)][name] ?? NameWeight(weight: 0, lastSample: lastSample[set], set: set)
            entry.weight += weightOfSet[set]
            if isLater(lastSample[set], than: entry.lastSample) {
                entry.lastSample = lastSample[set]
                entry.set = set
            }
            namesOfThread[Int(index)][name] = entry
        }
        for (index, names) in namesOfThread.enumerated() {
            guard let (name, chosen) = names.max(by: { a, b in
                a.value.weight != b.value.weight ? a.value.weight < b.value.weight
                    : isLater(b.value.lastSample, than: a.value.lastSample)
            }) else { continue }
            threads[index].name = TimeViewData.shownText(name)
            if threads[index].tid == threads[index].pid, let comm = profile.label("comm", inSet: Int32(chosen.set)) {
                processNames[threads[index].pid] = TimeViewData.shownText(comm)
            }
        }
        for index in threads.indices {
            threads[index].process = processNames[threads[index].pid] ?? ""
        }

        // Samples in time order.
        let type = sampleType ?? profile.defaultSampleType
        let factor = options.factor
        func weight(_ sample: Int) -> Double {
            let value = profile.value(ofSample: sample, type: type)
            return factor == 1 ? value : (value * factor).rounded()
        }
        let offCPUType = profile.sampleType(named: ValueType.offCPUNanoseconds.type)
        var timed: [Int] = []
        if profile.hasSampleTimes {
            timed = (0..<profile.sampleCount).filter { profile.sampleTimes[$0] != 0 }
            timed.sort { profile.sampleTimes[$0] < profile.sampleTimes[$1] }
        }
        // Samples whose stack has none of the --base frames are in no graph.
        timed.removeAll { leaves[$0] < 0 }
        let timedSet = Set(timed)
        for sample in 0..<profile.sampleCount where !timedSet.contains(sample) && leaves[sample] >= 0 {
            let value = weight(sample)
            guard value != 0 else { continue }
            if value.rounded() != value { integral = false }
            untimedNodes.append(newID[Int(leaves[sample])])
            untimedWeights.append(value)
        }
        guard let first = timed.first, let last = timed.last else {
            noTimeReason = profile.sampleCount == 0 ? "The profile has no samples."
                : "No heat map or thread tracks: this profile's samples have no times (folded text carries "
                + "none, nor pprof but ember's with --timestamps; ember record keeps them for .html and "
                + ".speedscope.json outputs)."
            return
        }
        let firstTime = profile.sampleTimes[first]
        // Times are "seconds from the start of the recording": its start, when known and
        // plausible (at most a minute before the first sample), else the first sample.
        origin = profile.startTime > 0 && profile.startTime <= firstTime && firstTime - profile.startTime < 60_000_000_000
            ? profile.startTime : firstTime
        duration = max(profile.sampleTimes[last] - origin, profile.duration)
        var previous: Int64 = 0
        var weights: [Double] = []
        var allOne = true
        timeDeltas.reserveCapacity(timed.count)
        for sample in timed {
            let micros = (profile.sampleTimes[sample] - origin) / 1000
            timeDeltas.append(micros - previous)
            previous = micros
            sampleNode.append(newID[Int(leaves[sample])])
            sampleThread.append(threadOfLabelSet[Int(profile.sampleLabels[sample])])
            let value = weight(sample)
            if value != 1 { allOne = false }
            if value.rounded() != value { integral = false }
            weights.append(value)
            if let offCPUType {
                let length = Int64(profile.value(ofSample: sample, type: offCPUType)) / 1000
                if length > 0, sampleLength == nil { sampleLength = Array(repeating: 0, count: timeDeltas.count - 1) }
                sampleLength?.append(length)
            }
        }
        if !allOne { sampleWeight = weights }
    }

    /// A label as the SVG shows it: control bytes and invalid UTF-8 as `\xNN`.
    static func shown(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = []
        XMLEscaping.append(bytes, to: &out, entities: false)
        return String(decoding: out, as: UTF8.self)
    }

    static func shownText(_ text: String) -> String {
        var copy = text
        return copy.withUTF8 { shown($0) }
    }

    /// The background gradient's two colours, as the SVG writer picks them.
    var backgroundStops: [String] {
        let background = options.resolvedBackground
        if let (top, bottom) = background.gradientStops { return [top.description, bottom.description] }
        if case .flat(let color) = background { return [color, color] }
        return []
    }

    // MARK: - JSON

    func appendJSON(to out: inout [UInt8]) {
        var json = JSONOutput()
        json.open()
        json.key("title"); json.string(options.title)
        json.key("subtitle"); json.string(options.subtitle ?? "")
        json.key("countName"); json.string(options.countName)
        json.key("nameType"); json.string(options.nameType)
        json.key("width"); json.number(Double(max(options.width, 400)))
        json.key("frameHeight"); json.number(Double(options.frameHeight))
        json.key("fontSize"); json.number(options.fontSize)
        json.key("fontType"); json.string(options.fontType)
        json.key("inverted"); json.bool(options.inverted)
        switch options.minWidth {
        case .pixels(let pixels): json.key("minWidthPixels"); json.number(pixels)
        case .percent(let percent): json.key("minWidthPercent"); json.number(percent)
        }
        json.key("integral"); json.bool(integral)
        json.key("duration"); json.number(Double(duration / 1000))
        json.key("noTime"); json.string(noTimeReason ?? "")
        json.key("background"); json.strings(backgroundStops)
        json.key("labels"); json.strings(labels)
        json.key("colors"); json.integers(colors.lazy.map(Int64.init))
        json.key("parent"); json.integers(nodeParent.lazy.map(Int64.init))
        json.key("label"); json.integers(nodeLabel.lazy.map(Int64.init))
        json.key("threads")
        json.openArray()
        for thread in threads {
            json.openArray()
            json.number(Double(thread.pid)); json.number(Double(thread.tid))
            json.string(thread.name); json.string(thread.process)
            json.closeArray()
        }
        json.closeArray()
        json.key("time"); json.integers(timeDeltas)
        json.key("node"); json.integers(sampleNode.lazy.map(Int64.init))
        json.key("thread"); json.integers(sampleThread.lazy.map(Int64.init))
        json.key("weight")
        if let sampleWeight { json.numbers(sampleWeight) } else { json.null() }
        json.key("length")
        if let sampleLength { json.integers(sampleLength) } else { json.null() }
        json.key("untimedNode"); json.integers(untimedNodes.lazy.map(Int64.init))
        json.key("untimedWeight"); json.numbers(untimedWeights)
        json.close()
        out.append(contentsOf: json.bytes)
    }
}

/// A small JSON writer for the page's data. Strings are escaped so that the JSON can sit
/// inside a `<script>` element: `<`, `>` and `&` become `\u003c`…, so nothing in a name can
/// end the element or open a comment.
struct JSONOutput {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    mutating func open() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    mutating func close() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    mutating func openArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    mutating func closeArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(contentsOf: "\":".utf8)
        needsComma = false
    }

    mutating func string(_ text: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: "\\\"".utf8)
            case "\\": bytes.append(contentsOf: "\\\\".utf8)
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                bytes.append(contentsOf: "\\u".utf8)
                let hex = String(scalar.value, radix: 16)
                bytes.append(contentsOf: (String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default:
                if scalar.value < 0x20 {
                    bytes.append(contentsOf: "\\u00".utf8)
                    let hex = String(scalar.value, radix: 16)
                    bytes.append(contentsOf: (hex.count == 1 ? "0" + hex : hex).utf8)
                } else {
                    bytes.append(contentsOf: String(scalar).utf8)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    mutating func number(_ value: Double) {
        separate()
        if !value.isFinite {
            bytes.append(UInt8(ascii: "0"))
        } else if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: "\(value)".utf8)
        }
        needsComma = true
    }

    mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8); needsComma = true }
    mutating func null() { separate(); bytes.append(contentsOf: "null".utf8); needsComma = true }

    mutating func strings(_ values: [String]) {
        openArray()
        for value in values { string(value) }
        closeArray()
    }

    mutating func integers<Values: Sequence>(_ values: Values) where Values.Element == Int64 {
        openArray()
        var first = true
        for value in values {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(contentsOf: String(value).utf8)
        }
        closeArray()
    }

    mutating func numbers(_ values: [Double]) {
        openArray()
        for value in values { number(value) }
        closeArray()
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}
