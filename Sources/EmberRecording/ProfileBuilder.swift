import EmberProfile
import EmberSampling
import EmberSymbolization
import EmberUnwinding
#if canImport(Glibc)
import Glibc
#endif

/// Turns unwound call stacks into the profile model as they come (a process's stacks are
/// added when it ends, so that a long recording of many short-lived processes lets go of
/// them; the others at the end): each sampled address a location (its mapping, its inline
/// chain as lines), the process and optionally the thread as the outermost frames, user
/// frames, then kernel frames; every stack that was lost, or ended early, marked by a frame
/// that says why.
///
/// Memory follows the code sampled, not the processes: a file's locations are shared by
/// every process that maps it (their addresses are offsets in the file, in one mapping per
/// file), and past ``maximumThreads`` threads (one that renamed itself counts once per
/// name), those that end keep their samples without their pid and tid. Hours of sampling
/// big binaries reach ever new addresses, so past `settings.maximumLocations` locations a
/// new address is merged into the location of what it is named (its function and line, or
/// its file when unnamed): the flame graphs and folded text do not change, pprof's
/// addresses get coarser, and memory stops growing.
final class ProfileBuilder {
    let symbolizer: Symbolizer
    let settings: RecordingSettings
    private(set) var profile: Profile
    let period: Int64
    /// Samples whose stack (or half of it) was lost, by reason, for the report.
    private(set) var lostStacks: [String: UInt64] = [:]
    /// Off-CPU nanoseconds whose stack (or half of it) was lost, by reason.
    private(set) var lostOffCPUTime: [String: UInt64] = [:]
    /// Distinct processes and threads added.
    private(set) var processes = Set<Int32>()
    private(set) var threads = Set<Int32>()
    /// Threads whose samples were kept without pid and tid (past ``maximumThreads``).
    private(set) var threadsWithoutLabels = 0
    /// Frames whose new address was merged into its function's location (past the limit of
    /// locations), counted once per process and address.
    private(set) var mergedAddresses = 0

    static let maximumThreads = RecordingReport.labelledThreadLimit

    /// A sampled address; kernel addresses (pid -1) are the same in every process.
    private struct AddressKey: Hashable {
        var pid: Int32
        var address: UInt64
        /// The innermost frame is looked up at its address, the others one byte earlier.
        var isReturnAddress: Bool
    }

    /// An address in a file: the same code in every process that maps the file.
    private struct FileAddressKey: Hashable {
        var mapping: Int32
        var offset: UInt64
        var isReturnAddress: Bool
    }

    private var locationsOfProcess: [Int32: [AddressKey: Int32]] = [:]
    private var kernelLocations: [AddressKey: Int32] = [:]
    private var wakerLocations: [AddressKey: Int32] = [:]
    private var fileLocations: [FileAddressKey: Int32] = [:]
    /// Marker frames by name and kind (a process and a function may share a name).
    private var markers: [MarkerKey: Int32] = [:]
    private struct MarkerKey: Hashable {
        let name: String
        let kind: FrameKind
    }
    /// Past the limit of locations: a location by what it names (its address 0).
    private var mergedLocations: [Location: Int32] = [:]
    /// Samples of threads without labels, by stack and label set, merged as they come.
    private var unlabelledSamples: [UnlabelledSample: Int] = [:]
    private struct UnlabelledSample: Hashable {
        var stack: Int32
        var labels: Int32
    }
    /// Each thread's label sets, one per name it had, by process (dropped with the process).
    /// A thread names itself after it starts, and samples can come before: each sample keeps
    /// the name it was taken under, so a view that names the thread by most of its samples
    /// can tell its names apart.
    private var labelSets: [Int32: [Int32: [String: Int32]]] = [:]
    /// Past this many names of one thread, its samples keep the label set of its last new name.
    private static let maximumNamesPerThread = 16
    private var commOnlyLabels: [String: Int32] = [:]
    private var commOnlyLabelSets: Set<Int32> = []
    /// Samples of each program's mapping, to put the most sampled first.
    private var programSamples: [Int32: UInt64] = [:]
    private let keys: (pid: Int32, tid: Int32, process: Int32, thread: Int32)
    /// Names the Python frames of stacks that have them (nil: native frames only).
    var pythonFrames: PythonFrames?
    /// Whether each user location is an activation of the Python interpreter's loop.
    private var interpreterLocations: [Int32: Bool] = [:]
    private var pythonLocations: [PythonFrameName: Int32] = [:]
    /// Python merging, for the report.
    private(set) var pythonStatistics = PythonMergeStatistics()
    /// The same for off-CPU stacks, in nanoseconds of blocked time.
    private(set) var offCPUPythonStatistics = PythonMergeStatistics()

    init(symbolizer: Symbolizer, settings: RecordingSettings) {
        self.symbolizer = symbolizer
        self.settings = settings
        period = Int64(1_000_000_000 / max(settings.frequency, 1))
        var profile: Profile
        switch settings.mode {
        case .cpu:
            profile = Profile(sampleTypes: [.samples, .cpuNanoseconds])
            profile.periodType = .cpuNanoseconds
            profile.period = period
        case .offCPU:
            profile = Profile(sampleTypes: [.offCPUNanoseconds])
            profile.periodType = .offCPUNanoseconds
            profile.period = 1
        case .wall:
            profile = Profile(sampleTypes: [.samples, .cpuNanoseconds, .offCPUNanoseconds, .wallNanoseconds])
            profile.periodType = .cpuNanoseconds
            profile.period = period
        }
        keys = (profile.intern(LabelKey.pid), profile.intern(LabelKey.tid), profile.intern(LabelKey.processName),
                profile.intern(LabelKey.threadName))
        self.profile = profile
    }

    /// The values of `count` samples (on-CPU) or `count` nanoseconds (off-CPU), one per
    /// sample type of the recording's mode.
    private func values(_ count: Double, offCPU: Bool) -> [Double] {
        switch (settings.mode, offCPU) {
        case (.cpu, _): return [count, count * Double(period)]
        case (.offCPU, _): return [count]
        case (.wall, false): return [count, count * Double(period), 0, count * Double(period)]
        case (.wall, true): return [0, 0, count, count]
        }
    }

    /// Adds `stacks`: on-CPU, values `samples`/`count` and `cpu`/`nanoseconds` (the count times
    /// the sampling period); off-CPU (`offCPU`, each stack's count its nanoseconds), the
    /// `off_cpu`/`nanoseconds` value under an `[off-cpu]` leaf frame; in wall mode both, with
    /// `wall`/`nanoseconds` their sum. A stack whose samples' times were kept gives a sample
    /// for each, at its time of day (its monotonic time plus `clockOffset`).
    func add(_ stacks: [CallStack], clockOffset: Int64, offCPU: Bool = false) {
        var path: [Int32] = []
        var countOfProcess: [Int32: UInt64] = [:]
        if settings.kernelStacks { nameKernelAddresses(of: stacks) }
        for stack in stacks {
            processes.insert(stack.pid)
            threads.insert(stack.tid)
            countOfProcess[stack.pid, default: 0] += offCPU ? stack.count : stack.count &* UInt64(period)
            let processName = symbolizer.processName(stack.pid) ?? stack.threadName
            path.removeAll(keepingCapacity: true)
            path.append(marker(processName, kind: .process))
            if settings.threadFrames { path.append(marker("\(stack.threadName)-\(stack.tid)", kind: .thread)) }
            switch stack.userEnd {
            case .truncated?: path.append(marker("[truncated]", kind: .user))
            case .unknown?: path.append(marker("[unknown]", kind: .user))
            case .complete?, nil: break
            }
            switch stack.user {
            case .frames(let addresses):
                let start = path.count
                for (index, frame) in addresses.enumerated().reversed() {
                    path.append(userLocation(of: UserFrameAddress.address(frame), pid: stack.pid,
                                             isReturnAddress: !UserFrameAddress.isExact(frame, at: index)))
                }
                if stack.pythonStackHash != 0 {
                    if offCPU {
                        mergePythonFrames(of: stack, into: &path, from: start, statistics: &offCPUPythonStatistics)
                    } else {
                        mergePythonFrames(of: stack, into: &path, from: start, statistics: &pythonStatistics)
                    }
                }
            case .absent:
                break
            case .lost(.blockedBeforeRecording):
                path.append(marker("[blocked when recording began]", kind: .user))
            case .lost(let reason):
                path.append(marker("[lost user stack: \(describe(reason))]", kind: .user))
                if offCPU {
                    lostOffCPUTime["user stack: \(describe(reason))", default: 0] += stack.count
                } else {
                    lostStacks["user stack: \(describe(reason))", default: 0] += stack.count
                }
            }
            if settings.kernelStacks {
                switch stack.kernel {
                case .frames(let addresses):
                    for (index, address) in addresses.enumerated().reversed() {
                        path.append(kernelLocation(of: address, isReturnAddress: index > 0))
                    }
                case .absent, .lost(.blockedBeforeRecording):
                    break
                case .lost(let reason):
                    path.append(marker("[lost kernel stack: \(describe(reason))]", kind: .kernel))
                    if offCPU {
                        lostOffCPUTime["kernel stack: \(describe(reason))", default: 0] += stack.count
                    } else {
                        lostStacks["kernel stack: \(describe(reason))", default: 0] += stack.count
                    }
                }
            }
            if offCPU { path.append(marker("[off-cpu]", kind: .offCPU)) }
            if let waker = stack.waker { appendWaker(waker, to: &path) }
            let labels = labelSet(pid: stack.pid, tid: stack.tid, processName: processName, threadName: stack.threadName)
            let stackID = profile.addStack(rootFirst: path)
            if stack.times.isEmpty, commOnlyLabelSets.contains(labels) {
                // Past the labelled threads, a thread's samples join those of its name.
                let key = UnlabelledSample(stack: stackID, labels: labels)
                let sampleValues = values(Double(stack.count), offCPU: offCPU)
                if let index = unlabelledSamples[key] {
                    profile.addValues(sampleValues, toSample: index)
                } else {
                    unlabelledSamples[key] = profile.sampleCount
                    profile.addSample(stack: stackID, values: sampleValues, labels: labels)
                }
            } else if stack.times.isEmpty {
                profile.addSample(stack: stackID, values: values(Double(stack.count), offCPU: offCPU), labels: labels)
            } else if offCPU {
                // Each block a sample of its length at its end (covering the time before it);
                // the time of blocks whose interval the full ring buffer refused, one more.
                var timed: UInt64 = 0
                for (end, length) in zip(stack.times, stack.durations) {
                    profile.addSample(stack: stackID, values: values(Double(length), offCPU: true), labels: labels,
                                      time: Int64(bitPattern: end) &+ clockOffset)
                    timed += length
                }
                if stack.count > timed {
                    profile.addSample(stack: stackID, values: values(Double(stack.count - timed), offCPU: true), labels: labels)
                }
            } else {
                let one = values(1, offCPU: offCPU)
                for time in stack.times.prefix(Int(stack.count)) {
                    profile.addSample(stack: stackID, values: one, labels: labels,
                                      time: Int64(bitPattern: time) &+ clockOffset)
                }
                // Counted samples whose time the full ring buffer refused: counted, untimed.
                let untimed = stack.count > UInt64(stack.times.count) ? stack.count - UInt64(stack.times.count) : 0
                if untimed > 0 {
                    profile.addSample(stack: stackID, values: values(Double(untimed), offCPU: offCPU), labels: labels)
                }
            }
        }
        for (pid, count) in countOfProcess {
            if let program = symbolizer.mainExecutable(pid: pid) {
                programSamples[profile.addMapping(Self.fileMapping(program)), default: 0] += count
            }
        }
    }

    /// Lets go of what only process `pid` needed (its stacks are all added).
    func forget(process pid: Int32) {
        locationsOfProcess[pid] = nil
        labelSets[pid] = nil
        if !wakerLocations.isEmpty { wakerLocations = wakerLocations.filter { $0.key.pid != pid } }
    }

    /// The profile, with its start time and duration; the programs' mappings first, the most
    /// sampled first (pprof's viewers name a profile after its first mapping).
    func finish(startTime: Int64, duration: Double) -> Profile {
        profile.startTime = startTime
        profile.duration = Int64(duration * 1e9)
        profile.moveMappingsToFront(programSamples.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map(\.key))
        return profile
    }

    // MARK: - Locations

    /// A location for a frame that stands for something other than code.
    private func marker(_ name: String, kind: FrameKind) -> Int32 {
        let key = MarkerKey(name: name, kind: kind)
        if let known = markers[key] { return known }
        let function = profile.addFunction(name: name)
        let location = profile.addLocation(Location(kind: kind, lines: [Line(function: function)]))
        markers[key] = location
        return location
    }

    private func userLocation(of address: UInt64, pid: Int32, isReturnAddress: Bool) -> Int32 {
        let key = AddressKey(pid: pid, address: address, isReturnAddress: isReturnAddress)
        if let known = locationsOfProcess[pid]?[key] { return known }
        let lookup = isReturnAddress ? address &- 1 : address
        let frames = symbolizer.userFrames(pid: pid, stack: [lookup])
        let module = symbolizer.moduleMapping(pid: pid, address: lookup)
        let location: Int32
        if frames.last?.kind == .jit {
            // JIT code is named by a perf map: its mapping says so, as perf names it.
            let mapping = profile.addMapping(Mapping(start: module?.start ?? 0, limit: module?.end ?? 0, fileOffset: 0,
                                                     file: "/tmp/perf-\(pid).map"))
            location = makeLocation(address: address, mapping: mapping, kind: .jit, frames: frames)
        } else if let module, module.path.hasPrefix("/") || module.path == Self.vdsoName {
            // Code in a file: its address is its offset in the file, shared by every process.
            // The vDSO is one image in every process: its offset in that image.
            let isVDSO = !module.path.hasPrefix("/")
            let mapping = profile.addMapping(isVDSO ? Self.vdsoMapping : Self.fileMapping(module))
            let offset = address &- module.start &+ (isVDSO ? 0 : module.fileOffset)
            let fileKey = FileAddressKey(mapping: mapping, offset: offset, isReturnAddress: isReturnAddress)
            if let known = fileLocations[fileKey] {
                location = known
            } else if isOverLocationLimit {
                location = mergedLocation(address: offset, mapping: mapping, kind: .user, frames: frames,
                                          unnamed: Self.unnamedFrame(module.path))
            } else {
                location = makeLocation(address: offset, mapping: mapping, kind: .user, frames: frames)
                fileLocations[fileKey] = location
            }
        } else if isOverLocationLimit {
            location = mergedLocation(address: address, mapping: -1, kind: .user, frames: frames,
                                      unnamed: Self.unnamedFrame(module?.path))
        } else {
            let mapping = module.map { profile.addMapping(Mapping(start: $0.start, limit: $0.end, fileOffset: 0, file: $0.path)) }
            location = makeLocation(address: address, mapping: mapping ?? -1, kind: .user, frames: frames)
        }
        locationsOfProcess[pid, default: [:]][key] = location
        return location
    }

    /// An off-wake stack: above the blocked stack, `--`, then the waker's stack upside down
    /// (its innermost frame first, its thread's name last), every frame of kind waker, as
    /// offwaketime draws it. The waker's user frames are named from its own process's maps
    /// (known when it is a target, or system-wide).
    private func appendWaker(_ waker: WakerStack, to path: inout [Int32]) {
        path.append(marker("--", kind: .waker))
        if settings.kernelStacks, case .frames(let addresses) = waker.kernel {
            for (index, address) in addresses.enumerated() {
                path.append(wakerLocation(of: address, pid: -1, isReturnAddress: index > 0))
            }
        }
        if case .frames(let addresses) = waker.user {
            for (index, frame) in addresses.enumerated() {
                path.append(wakerLocation(of: UserFrameAddress.address(frame), pid: waker.pid,
                                          isReturnAddress: !UserFrameAddress.isExact(frame, at: index)))
            }
        }
        path.append(marker(waker.tid == -1 ? "[interrupt on an idle CPU]" : waker.threadName, kind: .waker))
    }

    private func wakerLocation(of address: UInt64, pid: Int32, isReturnAddress: Bool) -> Int32 {
        let key = AddressKey(pid: pid, address: address, isReturnAddress: isReturnAddress)
        if let known = wakerLocations[key] { return known }
        let lookup = isReturnAddress ? address &- 1 : address
        let frames = pid < 0 ? symbolizer.kernelFrames(stack: [lookup]) : symbolizer.userFrames(pid: pid, stack: [lookup])
        let location = makeLocation(address: address, mapping: -1, kind: .waker, frames: frames)
        wakerLocations[key] = location
        return location
    }

    /// Has the stacks' new kernel addresses named at once: the kernel's own lookup answers
    /// a batch at one system call.
    private func nameKernelAddresses(of stacks: [CallStack]) {
        var addresses: [UInt64] = []
        for stack in stacks {
            guard case .frames(let frames) = stack.kernel else { continue }
            for (index, address) in frames.enumerated()
            where kernelLocations[AddressKey(pid: -1, address: address, isReturnAddress: index > 0)] == nil {
                addresses.append(index > 0 ? address &- 1 : address)
            }
        }
        symbolizer.nameKernelAddresses(addresses)
    }

    private func kernelLocation(of address: UInt64, isReturnAddress: Bool) -> Int32 {
        let key = AddressKey(pid: -1, address: address, isReturnAddress: isReturnAddress)
        if let known = kernelLocations[key] { return known }
        let frames = symbolizer.kernelFrames(stack: [isReturnAddress ? address &- 1 : address])
        let mapping = profile.addMapping(Self.kernelMapping)
        // Kernel addresses are kept apart from one another (the kernel's code is bounded),
        // but past the limit their locations are merged too.
        let location = isOverLocationLimit
            ? mergedLocation(address: address, mapping: mapping, kind: .kernel, frames: frames, unnamed: "[kernel]")
            : makeLocation(address: address, mapping: mapping, kind: .kernel, frames: frames)
        kernelLocations[key] = location
        return location
    }

    private func makeLocation(address: UInt64, mapping: Int32, kind physical: FrameKind,
                              frames: [SymbolizedFrame]) -> Int32 {
        let (lines, kind) = lines(of: frames, kind: physical)
        return profile.appendLocation(Location(address: address, mapping: mapping, kind: kind, lines: lines))
    }

    private func lines(of frames: [SymbolizedFrame], kind physical: FrameKind) -> ([Line], FrameKind) {
        var lines: [Line] = []
        var kind = physical
        for frame in frames {
            let function = profile.addFunction(name: frame.name, file: frame.location?.file ?? "")
            lines.append(Line(function: function, line: Int64(frame.location?.line ?? 0)))
            if frame.kind == .jit { kind = .jit }
        }
        return (lines, kind)
    }

    private var isOverLocationLimit: Bool { profile.locations.count >= settings.maximumLocations }

    /// The location of what `frames` name in `mapping`, shared by every address that names
    /// the same: an unnamed address is named after its file (`unnamed`, as
    /// stackcollapse-perf.pl names unknown frames, `[libfoo.so]`), not its offset. The
    /// location's address is the first one seen.
    private func mergedLocation(address: UInt64, mapping: Int32, kind physical: FrameKind, frames: [SymbolizedFrame],
                                unnamed: String) -> Int32 {
        mergedAddresses += 1
        let named = frames.last?.isResolved == true ? frames : [SymbolizedFrame(name: unnamed, isResolved: false)]
        let (lines, kind) = lines(of: named, kind: physical)
        let key = Location(address: 0, mapping: mapping, kind: kind, lines: lines)
        if let known = mergedLocations[key] { return known }
        let location = profile.appendLocation(Location(address: address, mapping: mapping, kind: kind, lines: lines))
        mergedLocations[key] = location
        return location
    }

    /// How a merged unnamed frame is named: `[file]` for a file, the mapping's own name for
    /// `[heap]`, `[anon]` and the like.
    static func unnamedFrame(_ path: String?) -> String {
        guard let path, !path.isEmpty else { return path == nil ? "[unknown]" : "[anon]" }
        if path.hasPrefix("[") { return path }
        return "[" + (path.split(separator: "/").last.map(String.init) ?? path) + "]"
    }

    // MARK: - Python

    /// Replaces each activation of `_PyEval_EvalFrameDefault` in `path[start...]` (the
    /// native user frames, root first) by the Python frames it was running, in order. The
    /// kernel marks where each activation's frames begin; the activations are paired with
    /// them from the innermost out. Python frames outer than the native stack reaches (a
    /// stack cut short) join the outermost activation found; a stack with no activation
    /// keeps its native frames (counted).
    private func mergePythonFrames(of stack: CallStack, into path: inout [Int32], from start: Int,
                                   statistics pythonStatistics: inout PythonMergeStatistics) {
        guard let pythonFrames else { return }
        guard let python = pythonFrames.stack(pid: stack.pid, hash: stack.pythonStackHash) else {
            pythonStatistics.unnamedSamples += stack.count
            return
        }
        // The activations' frames, innermost activation first, each root first.
        var segments: [[Int32]] = []
        var current: [Int32] = []
        for frame in python.frames {
            current.append(pythonLocation(frame.name))
            if frame.isEntry {
                segments.append(current.reversed())
                current.removeAll()
            }
        }
        if !current.isEmpty { segments.append(current.reversed()) }
        let activations = (start..<path.count).filter { isInterpreterLoop(path[$0]) }
        guard !activations.isEmpty else {
            pythonStatistics.samplesWithoutInterpreterFrame += stack.count
            return
        }
        if activations.count != segments.count { pythonStatistics.samplesWithUnpairedActivations += stack.count }
        pythonStatistics.mergedSamples += stack.count
        var replacement: [Int: [Int32]] = [:]
        let paired = min(activations.count, segments.count)
        for index in 0..<paired {
            replacement[activations[activations.count - 1 - index]] = segments[index]
        }
        if segments.count > paired {
            let outermost = activations[activations.count - paired]
            replacement[outermost] = segments[paired...].reversed().flatMap { $0 } + (replacement[outermost] ?? [])
        }
        var merged = Array(path[..<start])
        for index in start..<path.count {
            if let frames = replacement[index] { merged += frames } else { merged.append(path[index]) }
        }
        path = merged
    }

    /// The interpreter's loop: each activation runs one or more Python frames.
    private static let interpreterLoop = "_PyEval_EvalFrameDefault"

    private func isInterpreterLoop(_ location: Int32) -> Bool {
        if let known = interpreterLocations[location] { return known }
        var isLoop = false
        if let line = profile.locations[Int(location)].lines.last, let loop = profile.strings.id(of: Self.interpreterLoop) {
            let function = profile.functions[Int(line.function)]
            isLoop = function.name == loop || function.systemName == loop
        }
        interpreterLocations[location] = isLoop
        return isLoop
    }

    private func pythonLocation(_ name: PythonFrameName?) -> Int32 {
        guard let name else { return marker("[python: code object not readable]", kind: .python) }
        if let known = pythonLocations[name] { return known }
        // No system name: a Python function has no mangled one, and pprof takes a function whose
        // system name is its name for one to demangle, which drops `<module>`'s `<…>` whole.
        let function = profile.addFunction(name: name.function, systemName: "", file: name.file,
                                           startLine: Int64(name.firstLine))
        let location = profile.appendLocation(Location(
            mapping: profile.addMapping(Self.pythonMapping), kind: .python,
            lines: [Line(function: function, line: Int64(name.line))]))
        pythonLocations[name] = location
        return location
    }

    private static let pythonMapping = Mapping(start: 0, limit: .max, fileOffset: 0, file: "[python]",
                                               hasFilenames: true, hasLineNumbers: true)

    // MARK: - Labels

    private func labelSet(pid: Int32, tid: Int32, processName: String, threadName: String) -> Int32 {
        let names = labelSets[pid]?[tid]
        if let known = names?[threadName] { return known }
        if let names, names.count >= Self.maximumNamesPerThread, let latest = names.values.max() { return latest }
        guard profile.labelSets.count < Self.maximumThreads else {
            threadsWithoutLabels += 1
            let labels: Int32
            if let known = commOnlyLabels[processName] {
                labels = known
            } else {
                labels = profile.addLabelSet([Label(key: keys.process, text: profile.intern(processName))])
                commOnlyLabels[processName] = labels
                commOnlyLabelSets.insert(labels)
            }
            labelSets[pid, default: [:]][tid, default: [:]][threadName] = labels
            return labels
        }
        let labels = profile.addLabelSet([
            Label(key: keys.pid, number: Int64(pid)),
            Label(key: keys.tid, number: Int64(tid)),
            Label(key: keys.process, text: profile.intern(processName)),
            Label(key: keys.thread, text: profile.intern(threadName)),
        ])
        labelSets[pid, default: [:]][tid, default: [:]][threadName] = labels
        return labels
    }

    private static let kernelMapping = Mapping(start: 0, limit: .max, fileOffset: 0, file: KernelMapping.name)
    private static let vdsoName = "[vdso]"
    private static let vdsoMapping = Mapping(start: 0, limit: .max, fileOffset: 0, file: vdsoName)

    /// The one mapping of a file in the profile: addresses in it are offsets in the file.
    private static func fileMapping(_ module: ModuleMapping) -> Mapping {
        Mapping(start: 0, limit: .max, fileOffset: 0, file: module.path, buildID: module.buildID)
    }

    private func describe(_ loss: StackLoss) -> String {
        switch loss {
        case .stackMapCollision: return "stack map full (raise --stack-map-size)"
        case .error(let code): return "bpf_get_stackid error \(code)"
        case .missing: return "stack id no longer in the stack map"
        case .processGone: return "process exited before its stack was unwound"
        case .copyFailed: return "stack not readable, mid-exec or a page not present"
        case .blockedBeforeRecording: return "blocked when recording began"
        case .ringBufferFull: return "ring buffer full"
        case .stackNotReceived: return "its stack copy never came"
        }
    }
}

/// The mapping kernel frames belong to in profiles (perf's name for it).
public enum KernelMapping {
    public static let name = "[kernel.kallsyms]"
}

/// How Python frames joined the native stacks, in samples (of off-CPU stacks, in nanoseconds).
public struct PythonMergeStatistics: Sendable, Equatable {
    /// Samples whose Python frames replaced their interpreter frames.
    public var mergedSamples: UInt64 = 0
    /// ... of which the native stack had more or fewer interpreter activations than the
    /// Python stack had (a native stack cut short, or a sample between a call and its frame).
    public var samplesWithUnpairedActivations: UInt64 = 0
    /// Samples with Python frames but no interpreter frame among their native frames (kept
    /// native only).
    public var samplesWithoutInterpreterFrame: UInt64 = 0
    /// Samples whose Python stack could not be named (the process ended first).
    public var unnamedSamples: UInt64 = 0
    public init() {}
}
