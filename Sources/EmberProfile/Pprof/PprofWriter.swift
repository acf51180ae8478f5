/// Writes a profile as pprof's `profile.proto`, gzip-compressed (what `go tool pprof`,
/// Pyroscope, Parca and Polar Signals read).
///
/// pprof has no frame kinds, so they are spelled the way these tools recognise them: kernel
/// frames lie in the mapping `[kernel.kallsyms]`, JIT frames in a mapping named after the
/// perf map that named them (`/tmp/perf-PID.map`, or `[jit]`), frames of a waking task in
/// `[waker]`, and inlined frames are the extra lines of a location (those read from text join
/// the frame they were inlined into). Process and thread frames are not locations: the samples' labels (`comm`,
/// `thread_name`, `pid`, `tid`) carry them, and ``PprofReader`` turns `comm` back into the
/// root frame. Values are whole numbers in pprof: fractional ones are rounded.
public enum PprofWriter {
    public struct Result {
        /// The gzip-compressed protobuf.
        public var bytes: [UInt8]
        /// How many values were not whole numbers, and were rounded.
        public var roundedValues: Int
    }

    /// The compressed profile. With `timestamps`, each sample that has a time keeps it as a
    /// numeric label `timestamp` in nanoseconds (pprof has no field for it), so that the
    /// time view can be drawn from the file; viewers then see one sample per timestamp.
    public static func encode(_ profile: Profile, timestamps: Bool = false) -> Result {
        let (protobuf, rounded) = protobuf(of: profile, timestamps: timestamps)
        return Result(bytes: Gzip.compress(protobuf), roundedValues: rounded)
    }

    /// The uncompressed protobuf, and how many values were rounded.
    static func protobuf(of profile: Profile, timestamps: Bool = false) -> (bytes: [UInt8], roundedValues: Int) {
        var strings = profile.strings
        let withTimes = timestamps && profile.hasSampleTimes
        let timestampKey = withTimes ? Int64(strings.intern(LabelKey.timestamp)) : 0
        let nanosecondsUnit = withTimes ? Int64(strings.intern("nanoseconds")) : 0
        var out = ProtobufWriter(capacity: 1 << 20)
        var scratch = ProtobufWriter()
        var inner = ProtobufWriter()

        for type in profile.sampleTypes {
            let typeID = strings.intern(type.type), unitID = strings.intern(type.unit)
            out.message(1, scratch: &scratch) {
                $0.field(1, Int64(typeID))
                $0.field(2, Int64(unitID))
            }
        }

        // Samples: locations leaf first, one value per sample type, labels.
        let written = profile.locations.map { $0.kind != .process && $0.kind != .thread }
        let valueCount = profile.sampleTypes.count
        var locationIDs: [UInt64] = []
        var joined = JoinedLocations(firstID: UInt64(profile.locations.count) + 1)
        var inlinedRun: [Int32] = []
        var values: [UInt64] = []
        var rounded = 0
        for sample in 0..<profile.sampleCount {
            locationIDs.removeAll(keepingCapacity: true)
            var stack = profile.sampleStacks[sample]
            while stack >= 0 {
                let location = profile.stacks.location(of: stack)
                stack = profile.stacks.caller(of: stack)
                if profile.locations[Int(location)].kind == .inlined {
                    inlinedRun.append(location)
                    continue
                }
                if written[Int(location)], !inlinedRun.isEmpty {
                    locationIDs.append(joined.id(physical: location, inlined: inlinedRun))
                } else {
                    locationIDs += inlinedRun.map { UInt64($0) + 1 }
                    if written[Int(location)] { locationIDs.append(UInt64(location) + 1) }
                }
                inlinedRun.removeAll(keepingCapacity: true)
            }
            locationIDs += inlinedRun.map { UInt64($0) + 1 }
            inlinedRun.removeAll(keepingCapacity: true)
            values.removeAll(keepingCapacity: true)
            for type in 0..<valueCount {
                let value = profile.value(ofSample: sample, type: type)
                let whole = value.rounded()
                if whole != value { rounded += 1 }
                values.append(UInt64(bitPattern: Int64(saturating: whole)))
            }
            let labels = profile.labelSets[Int(profile.sampleLabels[sample])]
            out.message(2, scratch: &scratch) { message in
                message.packed(1, locationIDs)
                message.packed(2, values)
                for label in labels {
                    message.message(3, scratch: &inner) {
                        $0.field(1, Int64(label.key))
                        $0.field(2, Int64(label.text))
                        $0.field(3, label.number)
                        $0.field(4, Int64(label.unit))
                    }
                }
                if withTimes, profile.sampleTimes[sample] != 0 {
                    message.message(3, scratch: &inner) {
                        $0.field(1, timestampKey)
                        $0.field(3, profile.sampleTimes[sample])
                        $0.field(4, nanosecondsUnit)
                    }
                }
            }
        }

        // Frames of a kind whose location has no mapping (read from text) get one that says
        // their kind.
        var kindMappings: [FrameKind: Int] = [:]
        var mappings = profile.mappings
        for location in profile.locations where location.mapping < 0 && kindMappings[location.kind] == nil {
            guard let file = Self.mappingFile(of: location.kind) else { continue }
            kindMappings[location.kind] = mappings.count
            mappings.append(Mapping(start: 0, limit: 0, fileOffset: 0, file: file))
        }
        for (index, mapping) in mappings.enumerated() {
            let file = strings.intern(mapping.file), buildID = strings.intern(mapping.buildID)
            out.message(3, scratch: &scratch) {
                $0.field(1, UInt64(index + 1))
                $0.field(2, mapping.start)
                $0.field(3, mapping.limit)
                $0.field(4, mapping.fileOffset)
                $0.field(5, Int64(file))
                $0.field(6, Int64(buildID))
                $0.field(7, mapping.hasFunctions)
                $0.field(8, mapping.hasFilenames)
                $0.field(9, mapping.hasLineNumbers)
                $0.field(10, mapping.hasInlineFrames)
            }
        }

        func writeLocation(id: UInt64, _ location: Location, lines: [Line]) {
            out.message(4, scratch: &scratch) { message in
                message.field(1, id)
                let mapping = location.mapping >= 0 ? Int(location.mapping) : kindMappings[location.kind] ?? -1
                message.field(2, UInt64(mapping + 1))
                message.field(3, location.address)
                for line in lines {
                    message.message(4, scratch: &inner) {
                        $0.field(1, UInt64(line.function + 1))
                        $0.field(2, line.line)
                        $0.field(3, line.column)
                    }
                }
            }
        }
        for (index, location) in profile.locations.enumerated() where written[index] {
            writeLocation(id: UInt64(index + 1), location, lines: location.lines)
        }
        for (offset, chain) in joined.chains.enumerated() {
            let physical = profile.locations[Int(chain.physical)]
            let lines = chain.inlined.flatMap { profile.locations[Int($0)].lines } + physical.lines
            writeLocation(id: joined.firstID + UInt64(offset), physical, lines: lines)
        }

        for (index, function) in profile.functions.enumerated() {
            out.message(5, scratch: &scratch) {
                $0.field(1, UInt64(index + 1))
                $0.field(2, Int64(function.name))
                $0.field(3, Int64(function.systemName))
                $0.field(4, Int64(function.file))
                $0.field(5, function.startLine)
            }
        }

        // Interned before the table is written: every string the fields above and below use.
        let periodType = profile.periodType.map { (strings.intern($0.type), strings.intern($0.unit)) }
        let comments = profile.comments.map { strings.intern($0) }
        let defaultType = profile.sampleTypes.indices.contains(profile.defaultSampleType)
            ? strings.intern(profile.sampleTypes[profile.defaultSampleType].type) : 0
        for id in 0..<Int32(strings.count) {
            strings.withBytes(of: id) { text in
                // protobuf strings are UTF-8: other bytes are written as `\xNN`.
                if String(validating: text, as: UTF8.self) != nil {
                    out.field(6, bytes: text)
                } else {
                    var escaped = ByteString.text(of: text)
                    escaped.withUTF8 { out.field(6, bytes: $0) }
                }
            }
        }

        out.field(9, profile.startTime)
        out.field(10, profile.duration)
        if let (type, unit) = periodType {
            out.message(11, scratch: &scratch) {
                $0.field(1, Int64(type))
                $0.field(2, Int64(unit))
            }
        }
        out.field(12, profile.period)
        for comment in comments { out.field(13, Int64(comment)) }
        out.field(14, Int64(defaultType))
        return (out.bytes, rounded)
    }

    /// Locations made for frames read from text, where an inlined frame is a location of its
    /// own: pprof has no kind to say so, so each run of them becomes the extra lines of the
    /// physical frame it was inlined into, one new location per distinct run.
    private struct JoinedLocations {
        struct Chain: Hashable {
            var physical: Int32
            /// Innermost first.
            var inlined: [Int32]
        }
        let firstID: UInt64
        private(set) var chains: [Chain] = []
        private var ids: [Chain: UInt64] = [:]

        init(firstID: UInt64) { self.firstID = firstID }

        mutating func id(physical: Int32, inlined: [Int32]) -> UInt64 {
            let chain = Chain(physical: physical, inlined: inlined)
            if let known = ids[chain] { return known }
            let id = firstID + UInt64(chains.count)
            chains.append(chain)
            ids[chain] = id
            return id
        }
    }

    /// The name of the mapping that marks frames of `kind` where no real mapping does.
    static func mappingFile(of kind: FrameKind) -> String? {
        switch kind {
        case .kernel: return "[kernel.kallsyms]"
        case .jit: return "[jit]"
        case .waker: return "[waker]"
        case .offCPU: return "[off-cpu]"
        case .python: return "[python]"
        case .user, .inlined, .process, .thread: return nil
        }
    }
}
