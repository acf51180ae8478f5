import EmberProfile
import EmberSymbolization
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// Turns unwound call stacks into the profile model: each sampled address a location (its
/// mapping, its inline chain as lines), the process and optionally the thread as the
/// outermost frames, user frames, then kernel frames; every stack that was lost, or ended
/// early, marked by a frame that says why.
struct ProfileBuilder {
    let symbolizer: Symbolizer
    let settings: RecordingSettings

    struct Result {
        var profile: Profile
        /// Samples whose stack (or half of it) was lost, by reason, for the report.
        var lostStacks: [String: UInt64]
    }

    /// A sampled address in one process; kernel addresses are the same in every process.
    private struct AddressKey: Hashable {
        var pid: Int32
        var address: UInt64
        /// The innermost frame is looked up at its address, the others one byte earlier.
        var isReturnAddress: Bool
    }

    private struct Builder {
        var profile: Profile
        var locations: [AddressKey: Int32] = [:]
        var markers: [String: Int32] = [:]

        /// A location for a frame that stands for something other than code.
        mutating func marker(_ name: String, kind: FrameKind) -> Int32 {
            let key = name + (kind == .user ? "" : " \(kind)")
            if let known = markers[key] { return known }
            let function = profile.addFunction(name: name)
            let location = profile.addLocation(Location(kind: kind, lines: [Line(function: function)]))
            markers[key] = location
            return location
        }

        /// The location of a sampled address of `pid` (-1: the kernel's, the same in every
        /// process), made once from what `symbolize` says of the address it is looked up at.
        mutating func location(
            of address: UInt64, pid: Int32, isReturnAddress: Bool,
            symbolize: (UInt64) -> (frames: [SymbolizedFrame], mapping: Mapping?, kind: FrameKind)
        ) -> Int32 {
            let key = AddressKey(pid: pid, address: address, isReturnAddress: isReturnAddress)
            if let known = locations[key] { return known }
            let (frames, mapping, physical) = symbolize(isReturnAddress ? address &- 1 : address)
            var lines: [Line] = []
            var kind = physical
            for frame in frames {
                let function = profile.addFunction(name: frame.name, file: frame.location?.file ?? "")
                lines.append(Line(function: function, line: Int64(frame.location?.line ?? 0)))
                if frame.kind == .jit { kind = .jit }
            }
            let location = profile.addLocation(Location(
                address: address, mapping: mapping.map { profile.addMapping($0) } ?? -1, kind: kind, lines: lines))
            locations[key] = location
            return location
        }
    }

    /// The profile of `stacks`: values `samples`/`count` and `cpu`/`nanoseconds` (the count
    /// times the sampling period). A stack whose samples' times were kept gives a sample for
    /// each, at its time of day (its monotonic time plus `clockOffset`).
    func profile(of stacks: [CallStack], startTime: Int64, duration: Double, clockOffset: Int64) -> Result {
        var profile = Profile(sampleTypes: [.samples, .cpuNanoseconds])
        let period = Int64(1_000_000_000 / max(settings.frequency, 1))
        profile.periodType = .cpuNanoseconds
        profile.period = period
        profile.startTime = startTime
        profile.duration = Int64(duration * 1e9)
        var builder = Builder(profile: profile)
        var lost: [String: UInt64] = [:]
        var labelSets: [Int64: Int32] = [:]
        var path: [Int32] = []
        // pprof's viewers name a profile after its first mapping: the programs come first,
        // the most sampled first.
        var samplesOfProcess: [Int32: UInt64] = [:]
        for stack in stacks { samplesOfProcess[stack.pid, default: 0] += stack.count }
        for (pid, _) in samplesOfProcess.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            if let program = symbolizer.mainExecutable(pid: pid) { _ = builder.profile.addMapping(Self.mapping(program)) }
        }
        let keys = (pid: builder.profile.intern(LabelKey.pid), tid: builder.profile.intern(LabelKey.tid),
                    process: builder.profile.intern(LabelKey.processName),
                    thread: builder.profile.intern(LabelKey.threadName))
        for stack in stacks {
            let processName = symbolizer.processName(stack.pid) ?? stack.threadName
            path.removeAll(keepingCapacity: true)
            path.append(builder.marker(processName, kind: .process))
            if settings.threadFrames { path.append(builder.marker("\(stack.threadName)-\(stack.tid)", kind: .thread)) }
            switch stack.userEnd {
            case .truncated?: path.append(builder.marker("[truncated]", kind: .user))
            case .unknown?: path.append(builder.marker("[unknown]", kind: .user))
            case .complete?, nil: break
            }
            switch stack.user {
            case .frames(let addresses):
                for (index, address) in addresses.enumerated().reversed() {
                    path.append(builder.location(of: address, pid: stack.pid, isReturnAddress: index > 0) { lookup in
                        let frames = symbolizer.userFrames(pid: stack.pid, stack: [lookup])
                        var module = symbolizer.moduleMapping(pid: stack.pid, address: lookup)
                        // JIT code is named by a perf map: its mapping says so, as perf names it.
                        if frames.last?.kind == .jit {
                            module = ModuleMapping(start: module?.start ?? 0, end: module?.end ?? 0, fileOffset: 0,
                                                   path: "/tmp/perf-\(stack.pid).map", buildID: "")
                        }
                        return (frames, module.map(Self.mapping), .user)
                    })
                }
            case .absent:
                break
            case .lost(let reason):
                path.append(builder.marker("[lost user stack: \(describe(reason))]", kind: .user))
                lost["user stack: \(describe(reason))", default: 0] += stack.count
            }
            if settings.kernelStacks {
                switch stack.kernel {
                case .frames(let addresses):
                    for (index, address) in addresses.enumerated().reversed() {
                        path.append(builder.location(of: address, pid: -1, isReturnAddress: index > 0) { lookup in
                            (symbolizer.kernelFrames(stack: [lookup]), Self.kernelMapping, .kernel)
                        })
                    }
                case .absent:
                    break
                case .lost(let reason):
                    path.append(builder.marker("[lost kernel stack: \(describe(reason))]", kind: .kernel))
                    lost["kernel stack: \(describe(reason))", default: 0] += stack.count
                }
            }
            let labelKey = Int64(stack.pid) << 32 | Int64(UInt32(bitPattern: stack.tid))
            let labels: Int32
            if let known = labelSets[labelKey] {
                labels = known
            } else {
                labels = builder.profile.addLabelSet([
                    Label(key: keys.pid, number: Int64(stack.pid)),
                    Label(key: keys.tid, number: Int64(stack.tid)),
                    Label(key: keys.process, text: builder.profile.intern(processName)),
                    Label(key: keys.thread, text: builder.profile.intern(stack.threadName)),
                ])
                labelSets[labelKey] = labels
            }
            let stackID = builder.profile.addStack(rootFirst: path)
            if stack.times.isEmpty {
                let count = Double(stack.count)
                builder.profile.addSample(stack: stackID, values: [count, count * Double(period)], labels: labels)
            } else {
                for time in stack.times {
                    builder.profile.addSample(stack: stackID, values: [1, Double(period)], labels: labels,
                                              time: Int64(bitPattern: time) &+ clockOffset)
                }
            }
        }
        return Result(profile: builder.profile, lostStacks: lost)
    }

    private static let kernelMapping = Mapping(start: 0, limit: .max, fileOffset: 0, file: KernelMapping.name)

    private static func mapping(_ module: ModuleMapping) -> Mapping {
        Mapping(start: module.start, limit: module.end, fileOffset: module.fileOffset, file: module.path,
                buildID: module.buildID)
    }

    private func describe(_ loss: StackLoss) -> String {
        switch loss {
        case .stackMapCollision: return "stack map full (raise --stack-map-size)"
        case .error(let code): return "bpf_get_stackid error \(code)"
        case .missing: return "stack id no longer in the stack map"
        case .processGone: return "process exited before its stack was unwound"
        case .copyFailed: return "stack not readable (exec in progress, or page not present)"
        }
    }
}

/// The mapping kernel frames belong to in profiles (perf's name for it).
public enum KernelMapping {
    public static let name = "[kernel.kallsyms]"
}
