/// Reads pprof's `profile.proto`, gzip-compressed or not, into a ``Profile``: any valid
/// profile (Go's `runtime/pprof` and `net/http/pprof`, Pyroscope and Parca exports, ember's
/// own). Every id must resolve and `string_table[0]` must be empty, as pprof itself checks;
/// anything else is a ``ProfileInputError`` that says at which byte, or which id, it failed.
///
/// Frame kinds come back from the conventions ``PprofWriter`` writes (the kernel's mapping,
/// perf-map mappings, extra lines for inlined frames), and a `comm` label becomes the root
/// frame of its samples, as ember's recordings have it. A location that was never named
/// shows as `module+0xOFFSET`, or as its address.
public enum PprofReader {
    public static func read(_ bytes: [UInt8], name: String) throws -> Profile {
        let protobuf = Gzip.isCompressed(bytes) ? try Gzip.decompress(bytes, name: name) : bytes
        do {
            return try protobuf.withUnsafeBufferPointer { buffer in
                var decoder = Decoder(bytes: buffer, name: name)
                return try decoder.profile()
            }
        } catch let error as ProtobufError {
            throw ProfileInputError("\(name): not a valid pprof profile: \(error.message) at byte \(error.offset)"
                + (Gzip.isCompressed(bytes) ? " (of the decompressed data)" : ""))
        }
    }

    /// Whether `bytes` can be a pprof profile: gzip data, or a protobuf whose first field
    /// is one of `Profile`'s (text never starts that way and holds no control bytes).
    static func looksLikePprof(_ bytes: [UInt8]) -> Bool {
        if Gzip.isCompressed(bytes) { return true }
        guard let first = bytes.first, [0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32].contains(first) else { return false }
        return bytes.prefix(4096).contains { $0 < 0x09 || ($0 > 0x0D && $0 < 0x20 && $0 != 0x1B) }
    }

    private struct RawLocation {
        var mapping: UInt64
        var address: UInt64
        var lines: [(function: UInt64, line: Int64, column: Int64)]
    }

    private struct RawFunction {
        var name: Int64, systemName: Int64, file: Int64, startLine: Int64
    }

    private struct RawMapping {
        var start: UInt64, limit: UInt64, offset: UInt64, file: Int64, buildID: Int64
        var flags: (functions: Bool, files: Bool, lines: Bool, inlines: Bool)
    }

    private struct RawLabel {
        var key: Int64, text: Int64, number: Int64, unit: Int64
    }

    /// One pass over the message collects every table; a second turns ids into indices.
    private struct Decoder {
        let bytes: UnsafeBufferPointer<UInt8>
        let name: String

        var sampleTypes: [(type: Int64, unit: Int64, at: Int)] = []
        var sampleLocations: [UInt64] = []
        var sampleLocationEnds: [Int] = []
        var sampleValues: [UInt64] = []
        var sampleValueEnds: [Int] = []
        var sampleLabels: [RawLabel] = []
        var sampleLabelEnds: [Int] = []
        var sampleStarts: [Int] = []
        var mappings: [UInt64: RawMapping] = [:]
        var locations: [UInt64: RawLocation] = [:]
        var functions: [UInt64: RawFunction] = [:]
        var strings: [Range<Int>] = []
        var timeNanos: Int64 = 0, durationNanos: Int64 = 0, period: Int64 = 0
        var periodType: (type: Int64, unit: Int64)?
        var comments: [Int64] = []
        var defaultSampleType: Int64 = 0

        init(bytes: UnsafeBufferPointer<UInt8>, name: String) {
            self.bytes = bytes
            self.name = name
        }

        mutating func profile() throws -> Profile {
            var reader = ProtobufReader(bytes)
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1:
                    let range = try reader.lengthDelimitedField(field)
                    let (type, unit) = try valueType(range)
                    sampleTypes.append((type, unit, field.start))
                case 2: try sample(try reader.lengthDelimitedField(field), at: field.start)
                case 3: try mapping(try reader.lengthDelimitedField(field), at: field.start)
                case 4: try location(try reader.lengthDelimitedField(field), at: field.start)
                case 5: try function(try reader.lengthDelimitedField(field), at: field.start)
                case 6: strings.append(try reader.lengthDelimitedField(field))
                case 9: timeNanos = Int64(bitPattern: try reader.varintField(field))
                case 10: durationNanos = Int64(bitPattern: try reader.varintField(field))
                case 11: periodType = try valueType(try reader.lengthDelimitedField(field))
                case 12: period = Int64(bitPattern: try reader.varintField(field))
                case 13:
                    var values: [UInt64] = []
                    try reader.repeatedVarint(field, into: &values)
                    comments += values.map { Int64(bitPattern: $0) }
                case 14: defaultSampleType = Int64(bitPattern: try reader.varintField(field))
                default: try reader.skip(field)
                }
            }
            return try build()
        }

        private func valueType(_ range: Range<Int>) throws -> (Int64, Int64) {
            var reader = ProtobufReader(bytes, range: range)
            var type: Int64 = 0, unit: Int64 = 0
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1: type = Int64(bitPattern: try reader.varintField(field))
                case 2: unit = Int64(bitPattern: try reader.varintField(field))
                default: try reader.skip(field)
                }
            }
            return (type, unit)
        }

        private mutating func sample(_ range: Range<Int>, at start: Int) throws {
            var reader = ProtobufReader(bytes, range: range)
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1: try reader.repeatedVarint(field, into: &sampleLocations)
                case 2: try reader.repeatedVarint(field, into: &sampleValues)
                case 3:
                    var inner = ProtobufReader(bytes, range: try reader.lengthDelimitedField(field))
                    var label = RawLabel(key: 0, text: 0, number: 0, unit: 0)
                    while !inner.isAtEnd {
                        let labelField = try inner.nextField()
                        switch labelField.number {
                        case 1: label.key = Int64(bitPattern: try inner.varintField(labelField))
                        case 2: label.text = Int64(bitPattern: try inner.varintField(labelField))
                        case 3: label.number = Int64(bitPattern: try inner.varintField(labelField))
                        case 4: label.unit = Int64(bitPattern: try inner.varintField(labelField))
                        default: try inner.skip(labelField)
                        }
                    }
                    sampleLabels.append(label)
                default: try reader.skip(field)
                }
            }
            sampleStarts.append(start)
            sampleLocationEnds.append(sampleLocations.count)
            sampleValueEnds.append(sampleValues.count)
            sampleLabelEnds.append(sampleLabels.count)
        }

        private mutating func mapping(_ range: Range<Int>, at start: Int) throws {
            var reader = ProtobufReader(bytes, range: range)
            var id: UInt64 = 0
            var mapping = RawMapping(start: 0, limit: 0, offset: 0, file: 0, buildID: 0,
                                     flags: (false, false, false, false))
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1: id = try reader.varintField(field)
                case 2: mapping.start = try reader.varintField(field)
                case 3: mapping.limit = try reader.varintField(field)
                case 4: mapping.offset = try reader.varintField(field)
                case 5: mapping.file = Int64(bitPattern: try reader.varintField(field))
                case 6: mapping.buildID = Int64(bitPattern: try reader.varintField(field))
                case 7: mapping.flags.functions = try reader.varintField(field) != 0
                case 8: mapping.flags.files = try reader.varintField(field) != 0
                case 9: mapping.flags.lines = try reader.varintField(field) != 0
                case 10: mapping.flags.inlines = try reader.varintField(field) != 0
                default: try reader.skip(field)
                }
            }
            try checkID(id, kind: "mapping", at: start, known: mappings[id] != nil)
            mappings[id] = mapping
        }

        private mutating func location(_ range: Range<Int>, at start: Int) throws {
            var reader = ProtobufReader(bytes, range: range)
            var id: UInt64 = 0
            var location = RawLocation(mapping: 0, address: 0, lines: [])
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1: id = try reader.varintField(field)
                case 2: location.mapping = try reader.varintField(field)
                case 3: location.address = try reader.varintField(field)
                case 4:
                    var inner = ProtobufReader(bytes, range: try reader.lengthDelimitedField(field))
                    var line: (function: UInt64, line: Int64, column: Int64) = (0, 0, 0)
                    while !inner.isAtEnd {
                        let lineField = try inner.nextField()
                        switch lineField.number {
                        case 1: line.function = try inner.varintField(lineField)
                        case 2: line.line = Int64(bitPattern: try inner.varintField(lineField))
                        case 3: line.column = Int64(bitPattern: try inner.varintField(lineField))
                        default: try inner.skip(lineField)
                        }
                    }
                    location.lines.append(line)
                default: try reader.skip(field)
                }
            }
            try checkID(id, kind: "location", at: start, known: locations[id] != nil)
            locations[id] = location
        }

        private mutating func function(_ range: Range<Int>, at start: Int) throws {
            var reader = ProtobufReader(bytes, range: range)
            var id: UInt64 = 0
            var function = RawFunction(name: 0, systemName: 0, file: 0, startLine: 0)
            while !reader.isAtEnd {
                let field = try reader.nextField()
                switch field.number {
                case 1: id = try reader.varintField(field)
                case 2: function.name = Int64(bitPattern: try reader.varintField(field))
                case 3: function.systemName = Int64(bitPattern: try reader.varintField(field))
                case 4: function.file = Int64(bitPattern: try reader.varintField(field))
                case 5: function.startLine = Int64(bitPattern: try reader.varintField(field))
                default: try reader.skip(field)
                }
            }
            try checkID(id, kind: "function", at: start, known: functions[id] != nil)
            functions[id] = function
        }

        private func checkID(_ id: UInt64, kind: String, at start: Int, known: Bool) throws {
            if id == 0 { throw ProtobufError(offset: start, "\(kind) with id 0") }
            if known { throw ProtobufError(offset: start, "second \(kind) with id \(id)") }
        }

        // MARK: - Into the model

        private func build() throws -> Profile {
            guard let first = strings.first, first.isEmpty else {
                throw ProfileInputError("\(name): not a valid pprof profile: string_table[0] must be the empty string")
            }
            func checked(_ index: Int64, _ what: () -> String) throws -> Int {
                guard index >= 0, index < Int64(strings.count) else {
                    throw ProfileInputError("\(name): not a valid pprof profile: \(what()) names string \(index), "
                        + "past the end of string_table (\(strings.count) strings)")
                }
                return Int(index)
            }
            func text(_ index: Int64, _ what: @autoclosure () -> String) throws -> String {
                ByteString.text(of: UnsafeBufferPointer(rebasing: bytes[strings[try checked(index, what)]]))
            }
            guard !sampleTypes.isEmpty else {
                throw ProfileInputError("\(name): not a valid pprof profile: no sample types")
            }
            let types = try sampleTypes.map {
                ValueType(type: try text($0.type, "a sample type"), unit: try text($0.unit, "a sample type's unit"))
            }
            let defaultName = try text(defaultSampleType, "default_sample_type")
            var profile = Profile(
                sampleTypes: types, defaultSampleType: defaultName.isEmpty ? nil : types.lastIndex { $0.type == defaultName })
            var stringIDs = [Int32](repeating: -1, count: strings.count)
            func string(_ index: Int64, _ what: @autoclosure () -> String) throws -> Int32 {
                let index = try checked(index, what)
                if stringIDs[index] < 0 {
                    stringIDs[index] = profile.intern(UnsafeBufferPointer(rebasing: bytes[strings[index]]))
                }
                return stringIDs[index]
            }
            profile.startTime = timeNanos
            profile.duration = durationNanos
            profile.period = period
            if let periodType {
                profile.periodType = ValueType(type: try text(periodType.type, "period_type"),
                                               unit: try text(periodType.unit, "period_type's unit"))
            }
            profile.comments = try comments.map { try text($0, "a comment") }

            var mappingIndex: [UInt64: Int32] = [:]
            var mappingKinds: [UInt64: FrameKind] = [:]
            for (id, raw) in mappings.sorted(by: { $0.key < $1.key }) {
                let file = try text(raw.file, "mapping \(id)")
                mappingIndex[id] = profile.addMapping(Mapping(
                    start: raw.start, limit: raw.limit, fileOffset: raw.offset, file: file,
                    buildID: try text(raw.buildID, "mapping \(id)'s build id"),
                    hasFunctions: raw.flags.functions, hasFilenames: raw.flags.files,
                    hasLineNumbers: raw.flags.lines, hasInlineFrames: raw.flags.inlines))
                mappingKinds[id] = Self.kind(ofMappingFile: file)
            }
            var functionIndex: [UInt64: Int32] = [:]
            for (id, raw) in functions.sorted(by: { $0.key < $1.key }) {
                functionIndex[id] = profile.addFunction(Function(
                    name: try string(raw.name, "function \(id)"), systemName: try string(raw.systemName, "function \(id)"),
                    file: try string(raw.file, "function \(id)"), startLine: raw.startLine))
            }
            var locationIndex: [UInt64: Int32] = [:]
            for (id, raw) in locations.sorted(by: { $0.key < $1.key }) {
                var mapping: Int32 = -1
                if raw.mapping != 0 {
                    guard let known = mappingIndex[raw.mapping] else {
                        throw ProfileInputError("\(name): not a valid pprof profile: location \(id) names mapping "
                            + "\(raw.mapping), which is not in the profile")
                    }
                    mapping = known
                }
                var lines: [Line] = []
                for line in raw.lines {
                    guard let function = functionIndex[line.function] else {
                        throw ProfileInputError("\(name): not a valid pprof profile: location \(id) names function "
                            + "\(line.function), which is not in the profile")
                    }
                    lines.append(Line(function: function, line: line.line, column: line.column))
                }
                if lines.isEmpty {
                    let function = profile.addFunction(name: Self.unnamed(raw, mapping: mapping, in: profile))
                    lines = [Line(function: function)]
                }
                locationIndex[id] = profile.addLocation(Location(
                    address: raw.address, mapping: mapping, kind: mappingKinds[raw.mapping] ?? .user, lines: lines))
            }

            let processKey = profile.intern(LabelKey.processName)
            let timestampKey = profile.intern(LabelKey.timestamp)
            var processRoots: [Int32: Int32] = [:]
            var labelStart = 0, locationStart = 0, valueStart = 0
            var stack: [Int32] = []
            for sample in sampleStarts.indices {
                let valueEnd = sampleValueEnds[sample]
                guard valueEnd - valueStart == types.count else {
                    throw ProfileInputError("\(name): not a valid pprof profile: sample \(sample + 1) (at byte "
                        + "\(sampleStarts[sample])) has \(valueEnd - valueStart) values for \(types.count) sample types")
                }
                var labels: [Label] = []
                for raw in sampleLabels[labelStart..<sampleLabelEnds[sample]] {
                    labels.append(Label(key: try string(raw.key, "a label"), text: try string(raw.text, "a label"),
                                        number: raw.number, unit: try string(raw.unit, "a label's unit")))
                }
                labelStart = sampleLabelEnds[sample]
                // ember's --timestamps: the sample's time, not a label of it.
                var time: Int64?
                if let index = labels.firstIndex(where: { $0.key == timestampKey && $0.text == 0 && $0.number > 0 }) {
                    time = labels[index].number
                    labels.remove(at: index)
                }
                stack.removeAll(keepingCapacity: true)
                if let process = labels.first(where: { $0.key == processKey && $0.text != 0 }) {
                    if let root = processRoots[process.text] {
                        stack.append(root)
                    } else {
                        let function = profile.addFunction(Function(name: process.text, systemName: process.text))
                        let root = profile.addLocation(Location(kind: .process, lines: [Line(function: function)]))
                        processRoots[process.text] = root
                        stack.append(root)
                    }
                }
                let locationEnd = sampleLocationEnds[sample]
                for id in sampleLocations[locationStart..<locationEnd].reversed() {
                    guard let location = locationIndex[id] else {
                        throw ProfileInputError("\(name): not a valid pprof profile: sample \(sample + 1) (at byte "
                            + "\(sampleStarts[sample])) names location \(id), which is not in the profile")
                    }
                    stack.append(location)
                }
                locationStart = locationEnd
                let values = sampleValues[valueStart..<valueEnd].map { Double(Int64(bitPattern: $0)) }
                valueStart = valueEnd
                profile.addSample(stack: profile.addStack(rootFirst: stack), values: values,
                                  labels: profile.addLabelSet(labels), time: time)
            }
            return profile
        }

        /// The kind of the frames in a mapping, by ember's and perf's names for them.
        static func kind(ofMappingFile file: String) -> FrameKind {
            if file.hasPrefix("[kernel") || file.hasSuffix("vmlinux") { return .kernel }
            if file == "[jit]" || (file.hasPrefix("/tmp/perf-") && file.hasSuffix(".map")) { return .jit }
            if file == "[waker]" { return .waker }
            if file == "[off-cpu]" { return .offCPU }
            if file == "[python]" { return .python }
            return .user
        }

        /// A name for a location no one named: its module and offset, or its address.
        static func unnamed(_ location: RawLocation, mapping: Int32, in profile: Profile) -> String {
            guard mapping >= 0 else { return "0x" + String(location.address, radix: 16) }
            let module = profile.mappings[Int(mapping)]
            let base = module.file.split(separator: "/").last.map(String.init) ?? module.file
            let offset = location.address &- module.start &+ module.fileOffset
            return (base.isEmpty ? "0x" : base + "+0x") + String(offset, radix: 16)
        }
    }
}
