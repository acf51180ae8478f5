#if canImport(Glibc)
import Glibc
#endif

/// Reads collapsed ("folded") stacks into a ``Profile``: each line a sample of its count, each
/// distinct frame a function, kinds from the frames' suffixes (`_[k]`, `_[j]`, `_[w]`), and an
/// inlined frame (`_[i]`) a line of the location of the frame before it, as pprof keeps
/// inlined calls. Lines with two counts make a profile of two sample types, `before` and
/// `after`. What is malformed is counted in the report (see ``FoldedParser``).
public struct FoldedReader {
    public private(set) var profile = Profile(sampleTypes: [.samples])
    public private(set) var report = FoldedParseReport()

    /// The location of each distinct group of frame bytes (a frame and the frames inlined
    /// into it), by the id of those bytes in `groups`.
    private var groups = StringTable()
    private var locationOfGroup: [Int32] = [-1]
    private var functionOfName: [Int32: Int32] = [:]
    private var differential = false

    /// The previous line's stack, where its frames end, and the stack id after each of its
    /// frames that ends a location (-1 where none ends).
    private var previousStack: [UInt8] = []
    private var previousFrameEnds: [Int] = []
    private var previousStackAfter: [Int32] = []
    private var frameEnds: [Int] = []
    private var frameKinds: [FrameKind] = []

    public init() {}

    /// Reads a whole file (`-` for standard input).
    public static func read(path: String) throws -> (profile: Profile, report: FoldedParseReport) {
        var reader = FoldedReader()
        try reader.add(FoldedLineReader(path: path))
        return (reader.profile, reader.report)
    }

    /// Reads folded text held in memory.
    public static func read<Bytes: Collection>(bytes: Bytes, source: String = "-")
        -> (profile: Profile, report: FoldedParseReport) where Bytes.Element == UInt8 {
        var reader = FoldedReader()
        // Bytes in memory cannot fail to be read.
        try! reader.add(FoldedLineReader(bytes: bytes, name: source))
        return (reader.profile, reader.report)
    }

    /// Adds every line `lines` gives.
    public mutating func add(_ lines: FoldedLineReader) throws {
        while let line = try lines.next() { addLine(line, number: lines.lineNumber, source: lines.name) }
    }

    /// Adds one line (without its `\n`).
    public mutating func addLine(_ line: UnsafeBufferPointer<UInt8>, number: Int, source: String) {
        let kind = FoldedParser.parseLine(line)
        report.record(kind, line: number, source: source)
        guard case .stack(let parsed) = kind else { return }
        if parsed.before != nil, !differential { becomeDifferential() }
        let stack = addStack(UnsafeBufferPointer(rebasing: line[0..<parsed.stackLength]))
        if differential {
            profile.addSample(stack: stack, values: [parsed.before ?? parsed.count, parsed.count])
        } else {
            profile.addSample(stack: stack, value: parsed.count)
        }
    }

    /// Lines with one count read so far count the same before and after.
    private mutating func becomeDifferential() {
        differential = true
        let profile = self.profile
        self.profile.addSampleType(.after) { profile.value(ofSample: $0, type: 0) }
        self.profile.renameSampleType(0, to: .before)
        self.profile.defaultSampleType = 1
    }

    /// The stack id of one line's frames, reusing the previous line's for the frames they
    /// share (folded files are sorted, so most lines share most of their frames).
    private mutating func addStack(_ stack: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let base = stack.baseAddress else { return -1 }
        frameEnds.removeAll(keepingCapacity: true)
        frameKinds.removeAll(keepingCapacity: true)
        var start = 0
        while true {
            let end = memchr(base + start, Int32(UInt8(ascii: ";")), stack.count - start)
                .map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? stack.count
            frameEnds.append(end)
            frameKinds.append(FoldedFormat.kind(ofLabel: UnsafeBufferPointer(rebasing: stack[start..<end])))
            if end == stack.count { break }
            start = end + 1
        }
        // The frames shared with the previous line, back to one that ends a location in both.
        let sharedBytes = previousStack.withUnsafeBufferPointer { previous in
            previous.baseAddress.map { ByteString.commonPrefix($0, previous.count, base, stack.count) } ?? 0
        }
        var shared = 0
        while shared < min(frameEnds.count, previousFrameEnds.count), frameEnds[shared] == previousFrameEnds[shared],
              frameEnds[shared] <= sharedBytes,
              frameEnds[shared] == stack.count || stack[frameEnds[shared]] == UInt8(ascii: ";") {
            shared += 1
        }
        while shared > 0, previousStackAfter[shared - 1] < 0 || (shared < frameKinds.count && frameKinds[shared] == .inlined) {
            shared -= 1
        }
        var current: Int32 = shared > 0 ? previousStackAfter[shared - 1] : -1
        previousStackAfter.removeSubrange(shared...)
        var groupStart = shared
        for frame in shared..<frameEnds.count {
            let endsGroup = frame == frameEnds.count - 1 || frameKinds[frame + 1] != .inlined
            if endsGroup {
                let from = groupStart == 0 ? 0 : frameEnds[groupStart - 1] + 1
                let location = self.location(of: UnsafeBufferPointer(rebasing: stack[from..<frameEnds[frame]]),
                                             frames: groupStart...frame, in: stack)
                current = profile.addStack(location: location, caller: current)
                groupStart = frame + 1
            }
            previousStackAfter.append(endsGroup ? current : -1)
        }
        previousStack.removeAll(keepingCapacity: true)
        previousStack.append(contentsOf: stack)
        previousFrameEnds = frameEnds
        return current
    }

    /// The location of a group of frames: the first and the frames inlined into it.
    private mutating func location(
        of bytes: UnsafeBufferPointer<UInt8>, frames: ClosedRange<Int>, in stack: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        let key = groups.intern(bytes)
        if Int(key) < locationOfGroup.count, locationOfGroup[Int(key)] >= 0 { return locationOfGroup[Int(key)] }
        var lines: [Line] = []
        for frame in frames {
            let start = frame == 0 ? 0 : frameEnds[frame - 1] + 1
            let kind = frameKinds[frame]
            let length = FoldedFormat.nameLength(ofLabel: frameEnds[frame] - start, kind: kind)
            let name = profile.intern(UnsafeBufferPointer(rebasing: stack[start..<start + length]))
            let function: Int32
            if let known = functionOfName[name] {
                function = known
            } else {
                function = profile.addFunction(Function(name: name, systemName: name))
                functionOfName[name] = function
            }
            lines.append(Line(function: function))
        }
        // The first frame is the physical one, unless it is itself marked inlined (nothing
        // before it to be inlined into).
        let kind = frameKinds[frames.lowerBound]
        let location = profile.appendLocation(Location(kind: kind, lines: lines.reversed()))
        while locationOfGroup.count <= Int(key) { locationOfGroup.append(-1) }
        locationOfGroup[Int(key)] = location
        return location
    }
}
