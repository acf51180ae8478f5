import CLibElf
import EmberELF
import EmberSampling
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// Unwinds the user stacks of one process with its call frame information (`.eh_frame`,
/// `.debug_frame`, also from separate debug files) through libdwfl, the unwinder perf's
/// DWARF mode uses. The process's modules are reported once, from its memory map, while it
/// lives (vDSO included); libdw caches each module's CFI, so nothing is reopened per sample.
///
/// Owns one `Dwfl`, released in deinit.
public final class ProcessUnwinder {
    public let pid: pid_t
    private let dwfl: OpaquePointer
    private let callbacks: UnsafeMutablePointer<Dwfl_Callbacks>
    private let threadCallbacks: UnsafeMutablePointer<Dwfl_Thread_Callbacks>
    private let context = UnwindContext()
    private let debugFiles: DebugFileSearch
    private var attached = false
    private var lastReport = 0.0
    /// Each module's entry point in memory.
    private var entryPoints: [OpaquePointer: UInt64] = [:]
    /// The process's anonymous executable mappings (JIT code), as of the last report.
    private var anonymousCode: [ClosedRange<UInt64>] = []
    private var anonymousCodeRead = 0.0
    /// Frames of JIT code (without CFI) unwound by its layout or the frame-pointer rule.
    public private(set) var jitFrameSteps = 0

    /// Reports the modules of live process `pid`; throws if it is gone. Separate debug
    /// files are looked for with `debugFiles` (its root should be the process's).
    public init(pid: pid_t, debugFiles: DebugFileLocator) throws {
        self.pid = pid
        self.debugFiles = DebugFileSearch(locator: debugFiles, processRoot: "/proc/\(pid)/root")
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: Dwfl_Callbacks(
            find_elf: findFileInProcessRoot,
            find_debuginfo: findDebugFileWithFrameTable,
            section_address: dwfl_offline_section_address,
            debuginfo_path: nil))
        threadCallbacks = .allocate(capacity: 1)
        threadCallbacks.initialize(to: Dwfl_Thread_Callbacks(
            next_thread: unwindNextThread, get_thread: unwindGetThread,
            memory_read: unwindMemoryRead, set_initial_registers: unwindSetInitialRegisters,
            detach: nil, thread_detach: nil))
        guard let dwfl = dwfl_begin(callbacks) else {
            Self.release(callbacks, threadCallbacks)
            throw UnwindingError("cannot start libdwfl: \(Self.lastError())")
        }
        self.dwfl = dwfl
        context.unwinder = self
        try report()
    }

    deinit {
        dwfl_end(dwfl)
        Self.release(callbacks, threadCallbacks)
    }

    private static func release(_ callbacks: UnsafeMutablePointer<Dwfl_Callbacks>,
                                _ threadCallbacks: UnsafeMutablePointer<Dwfl_Thread_Callbacks>) {
        callbacks.deallocate()
        threadCallbacks.deallocate()
    }

    /// Reads the process's memory map again (after dlopen, say); keeps known modules.
    public func report() throws {
        lastReport = Clock.monotonicSeconds()
        dwfl_report_begin_add(dwfl)
        let result = dwfl_linux_proc_report(dwfl, pid)
        dwfl_report_end(dwfl, nil, nil)
        let search = Unmanaged.passUnretained(debugFiles).toOpaque()
        _ = dwfl_getmodules(dwfl, { _, userData, _, _, search in
            if userData?.pointee == nil { userData?.pointee = search }
            return Int32(DWARF_CB_OK)
        }, search, 0)
        anonymousCode = Self.anonymousCode(pid: pid)
        if result != 0 {
            throw UnwindingError("cannot read the memory map of process \(pid): "
                + (result > 0 ? String(cString: strerror(result)) : Self.lastError()))
        }
        if !attached {
            let context = Unmanaged.passUnretained(self.context).toOpaque()
            attached = dwfl_attach_state(dwfl, nil, pid, threadCallbacks, context)
            if !attached { throw UnwindingError("cannot attach the unwinder: \(Self.lastError())") }
        }
    }

    /// Unwinds one sample. Frames are innermost first; the first is the sampled address,
    /// the others return addresses.
    public func unwind(_ sample: StackSample, maxFrames: Int = 127) -> UnwoundStack {
        var unwound = unwindOnce(sample, maxFrames: maxFrames)
        // A frame in no known module: a library loaded since the modules were reported
        // (a command is watched right after exec, before the loader maps libc).
        if unwound.end == .unknown, let last = unwound.frames.last, !isCodeAddress(UserFrameAddress.address(last)),
           Clock.monotonicSeconds() - lastReport > 0.05, (try? report()) != nil {
            unwound = unwindOnce(sample, maxFrames: maxFrames)
        }
        return continuingThroughJITCode(unwound, sample: sample, maxFrames: maxFrames)
    }

    /// JIT code has no CFI. Where libdwfl stops at a pc in anonymous executable memory, that
    /// frame is unwound here and libdwfl goes on from its caller: a CPython `-X perf`
    /// trampoline (3.12, 3.13: `sub $8,%rsp; call *%rcx; add $8,%rsp; ret`, no frame
    /// pointer) by its own layout, the return address at rsp + 8; other JIT code (V8's
    /// `--perf-basic-prof`, HotSpot's `-XX:+PreserveFramePointer`) by the frame-pointer rule,
    /// the return address at rbp + 8, the caller's rbp at rbp, its stack at rbp + 16.
    private func continuingThroughJITCode(_ first: UnwoundStack, sample: StackSample, maxFrames: Int) -> UnwoundStack {
        var unwound = first
        var frames = first.frames
        // JIT code mapped since the last look (a new arena of trampolines): look again, at most
        // every few milliseconds.
        if unwound.end == .unknown, let pc = frames.last.map(UserFrameAddress.address),
           !anonymousCode.contains(where: { $0.contains(pc) }),
           !isCodeAddress(pc), Clock.monotonicSeconds() - anonymousCodeRead > 0.005 {
            anonymousCode = Self.anonymousCode(pid: pid)
            anonymousCodeRead = Clock.monotonicSeconds()
        }
        while unwound.end == .unknown, !unwound.wentRound, frames.count < maxFrames,
              let last = frames.last, case let pc = UserFrameAddress.address(last),
              anonymousCode.contains(where: { $0.contains(pc) }),
              let stackPointer = context.lastFrameStackPointer, stackPointer >= sample.stackPointer {
            // (frame pointer, return address's offset in the copy, the caller's stack pointer)
            var step: (framePointer: UInt64, returnAddress: Int, callerStack: UInt64)?
            let framePointer = context.lastFramePointer ?? 0
            let isReturnAddress = !UserFrameAddress.isExact(last, at: frames.count - 1)
            if let offset = perfTrampolineOffset(of: pc, isReturnAddress: isReturnAddress) {
                // Its return address is at rsp between its `sub` and its `add`, else at rsp.
                let returnAddress: UInt64 = offset == 0 || offset == 10 ? 0 : 8
                step = (framePointer, Int(stackPointer - sample.stackPointer + returnAddress),
                        stackPointer + returnAddress + 8)
            } else if framePointer >= stackPointer {
                let offset = Int(framePointer - sample.stackPointer)
                if offset + 16 <= sample.bytes.count {
                    step = (sample.bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self), offset + 8,
                            framePointer + 16)
                }
            }
            guard let step, step.returnAddress + 8 <= sample.bytes.count,
                  step.callerStack - sample.stackPointer <= UInt64(sample.bytes.count)
            else { break }
            let returnAddress = sample.bytes.loadUnaligned(fromByteOffset: step.returnAddress, as: UInt64.self)
            guard returnAddress != 0 else { break }
            var caller = sample
            caller.instructionPointer = returnAddress
            caller.stackPointer = step.callerStack
            caller.framePointer = step.framePointer
            caller.bytes = UnsafeRawBufferPointer(rebasing: sample.bytes[Int(step.callerStack - sample.stackPointer)...])
            jitFrameSteps += 1
            unwound = unwindOnce(caller, maxFrames: maxFrames - frames.count)
            frames += unwound.frames
        }
        unwound.frames = frames
        return unwound
    }

    /// CPython's perf trampoline: `sub $8,%rsp; call *%rcx; add $8,%rsp; ret`.
    private static let perfTrampoline: [UInt8] = [0x48, 0x83, 0xec, 0x08, 0xff, 0xd1, 0x48, 0x83, 0xc4, 0x08, 0xc3]
    private var trampolineOffsets: [UInt64: Int] = [:]
    private lazy var memory = ProcessMemory(pid: pid)

    /// Where `pc` is in a CPython perf trampoline (the offset of its instruction), or nil:
    /// a return address is just past the call (6); a sampled pc may be at any instruction.
    /// The code is read from the process's memory, once per address.
    private func perfTrampolineOffset(of pc: UInt64, isReturnAddress: Bool) -> Int? {
        if let known = trampolineOffsets[pc] { return known >= 0 && (!isReturnAddress || known == 6) ? known : nil }
        var found = -1
        for offset in [6, 0, 4, 10] where pc >= UInt64(offset) {
            if memory?.read(pc - UInt64(offset), count: Self.perfTrampoline.count) == Self.perfTrampoline {
                found = offset
                break
            }
        }
        if trampolineOffsets.count < 65536 { trampolineOffsets[pc] = found }
        return found >= 0 && (!isReturnAddress || found == 6) ? found : nil
    }

    /// x86-64 `rt_sigreturn`'s trampoline, `mov $15,%rax; syscall`: the return address of
    /// every signal handler's frame (glibc's `__restore_rt`, musl's, Go's own).
    private static let signalReturn: [UInt8] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]
    private var signalReturns: [UInt64: Bool] = [:]

    /// Whether `pc` is in a signal frame's trampoline: at its start (a handler's return
    /// address), at its `syscall` or just past it (a sample during `rt_sigreturn`). The frame
    /// it returns to was interrupted, and its stack may lie anywhere: a handler on an
    /// alternate signal stack (sigaltstack) runs below or above the stack it interrupted.
    /// Asked of every frame's pc (once per pc), so the code around it is read at once.
    func isSignalReturn(_ pc: UInt64) -> Bool {
        if let known = signalReturns[pc] { return known }
        let code = Self.signalReturn
        var found = false
        if pc >= 9, let bytes = memory?.read(pc - 9, count: 9 + code.count) {
            found = [0, 7, 9].contains { offset in bytes[(9 - offset)...].starts(with: code) }
        } else if let bytes = memory?.read(pc, count: code.count) {
            found = bytes == code  // the first bytes of a mapping: only its start can be
        }
        if signalReturns.count < 65536 { signalReturns[pc] = found }
        return found
    }

    /// The anonymous executable mappings in /proc/PID/maps.
    private static func anonymousCode(pid: pid_t) -> [ClosedRange<UInt64>] {
        guard let bytes = try? FileContents.read("/proc/\(pid)/maps") else { return [] }
        var ranges: [ClosedRange<UInt64>] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].count >= 3, fields[1][fields[1].startIndex + 2] == UInt8(ascii: "x"),
                  fields.count == 5 || fields[5].first != UInt8(ascii: "/")
            else { continue }
            let range = fields[0].split(separator: UInt8(ascii: "-"))
            guard range.count == 2, let start = UInt64(String(decoding: range[0], as: UTF8.self), radix: 16),
                  let end = UInt64(String(decoding: range[1], as: UTF8.self), radix: 16), end > start
            else { continue }
            // The vDSO and vsyscall pages have CFI (the vDSO) or are never on a stack.
            if fields.count > 5, fields[5].first == UInt8(ascii: "["), !fields[5].starts(with: Array("[anon".utf8)) {
                continue
            }
            ranges.append(start...(end - 1))
        }
        return ranges
    }

    /// Whether the return address `address` lies in the first bytes after its file's entry
    /// point: the dynamic loader's entry code calls `_dl_start`, then `_dl_init` (the
    /// libraries' constructors), within its first 64 bytes. (A program's own `_start` is
    /// followed by functions that make no calls so close to it.)
    fileprivate func returnsIntoEntryCode(_ address: UInt64) -> Bool {
        guard let module = dwfl_addrmodule(dwfl, address &- 1) else { return false }
        let entry: UInt64
        if let known = entryPoints[module] {
            entry = known
        } else {
            var bias: Dwarf_Addr = 0
            var header = GElf_Ehdr()
            guard let elf = dwfl_module_getelf(module, &bias), gelf_getehdr(elf, &header) != nil else { return false }
            entry = header.e_entry &+ bias
            entryPoints[module] = entry
        }
        return address > entry && address - entry <= 64
    }

    /// Whether `address` lies in one of the process's reported modules.
    private func isCodeAddress(_ address: UInt64) -> Bool {
        dwfl_addrmodule(dwfl, address) != nil
    }

    private func unwindOnce(_ sample: StackSample, maxFrames: Int) -> UnwoundStack {
        context.begin(sample: sample, maxFrames: maxFrames)
        let result = dwfl_getthread_frames(dwfl, sample.tid, unwindFrameCallback,
                                           Unmanaged.passUnretained(context).toOpaque())
        return context.finish(result: result)
    }

    static func lastError() -> String {
        String(cString: dwfl_errmsg(-1))
    }
}

/// An error of the unwinding stage.
public struct UnwindingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The x86-64 DWARF register numbers the unwinder is given.
enum DWARFRegister {
    static let rbp: UInt64 = 6
    static let rsp: UInt64 = 7
    /// The return address column, which x86-64's CFI also reads as rip.
    static let rip: UInt64 = 16
}

/// A user stack unwound from a copy.
public struct UnwoundStack: Hashable, Sendable {
    /// Addresses, innermost first.
    public var frames: [UInt64]
    /// Why unwinding stopped.
    public var end: StackEnd
    /// The stack stopped where a caller's stack pointer was not above its callee's: it went
    /// round in place (bad CFI, or the frame-pointer fallback on a corrupt rbp). `end` is
    /// `.unknown` then.
    public var wentRound = false
    /// The stack crossed a signal frame to the interrupted code's stack, another one than
    /// the handler's (sigaltstack), and ended there: that stack is not in the copy.
    public var endedPastSignalStack = false
}

/// How an unwound user stack ends.
public enum StackEnd: Hashable, Sendable {
    /// At the outermost frame (the CFI says there is no caller).
    case complete
    /// The stack continues past the copied bytes (raise --stack-size).
    case truncated
    /// Unwinding could not go further (no CFI, or a frame that reads outside the copy).
    case unknown
}

extension StackEnd {
    /// How a walk in the kernel ended.
    public init(_ end: WalkEnd) {
        switch end {
        case .complete: self = .complete
        case .truncated: self = .truncated
        case .unknown: self = .unknown
        }
    }
}

/// The state of the sample being unwound, reached from the C callbacks through their
/// context pointer (C callbacks cannot capture).
final class UnwindContext {
    var tid: pid_t = 0
    var ip: UInt64 = 0
    var sp: UInt64 = 0
    var bp: UInt64 = 0
    var stack = UnsafeRawBufferPointer(start: nil, count: 0)
    var stackIsTruncated = false
    var readPastCopy = false
    var readFailed = false
    var frames: [UInt64] = []
    var maxFrames = 127
    var reachedEntryCode = false
    /// The stack pointer of the last frame, and whether a caller's was not above it.
    var lastStackPointer: UInt64?
    /// The last frame's registers as libdwfl found them (for the frame-pointer rule in JIT code).
    var lastFramePointer: UInt64?
    var lastFrameStackPointer: UInt64?
    var wentRound = false
    /// Signal frames crossed to another stack: a few nest (a handler interrupted by a
    /// signal); more is a corrupt stack going round through a trampoline's address.
    var signalStackCrossings = 0
    static let maximumSignalStackCrossings = 4
    /// The frames whose pcs are exact past the first (a signal's trampoline, and the frame it
    /// interrupted), marked when the stack is handed out (``UserFrameAddress``).
    var exactFrames: [Int] = []
    var lastWasSignalReturn = false
    /// The unwinder this context belongs to (it owns the context).
    unowned(unsafe) var unwinder: ProcessUnwinder?

    /// Whether a caller at `stackPointer`, not above the last frame, is the code a signal
    /// interrupted: the last frame is a signal return, and the stack is another one.
    func isPastSignalFrame(_ stackPointer: UInt64) -> Bool {
        guard stackPointer != lastStackPointer, signalStackCrossings < Self.maximumSignalStackCrossings,
              let pc = frames.last, unwinder?.isSignalReturn(pc) == true
        else { return false }
        signalStackCrossings += 1
        return true
    }

    func begin(sample: StackSample, maxFrames: Int) {
        tid = sample.tid
        ip = sample.instructionPointer
        sp = sample.stackPointer
        bp = sample.framePointer
        stack = sample.bytes
        stackIsTruncated = sample.stackIsTruncated
        readPastCopy = false
        readFailed = false
        reachedEntryCode = false
        lastStackPointer = nil
        lastFramePointer = nil
        lastFrameStackPointer = nil
        wentRound = false
        signalStackCrossings = 0
        exactFrames.removeAll(keepingCapacity: true)
        lastWasSignalReturn = false
        frames.removeAll(keepingCapacity: true)
        self.maxFrames = maxFrames
    }

    func finish(result: Int32) -> UnwoundStack {
        stack = UnsafeRawBufferPointer(start: nil, count: 0)
        if frames.isEmpty { frames.append(ip) }
        // libdwfl ends some failed unwinds as if the stack were complete; a stack is complete
        // only if no read failed on the way (the outermost frames, _start and clone3, mark
        // their return address undefined and need no read).
        let end: StackEnd
        if wentRound {
            end = .unknown
        } else if (readPastCopy && stackIsTruncated) || frames.count >= maxFrames {
            end = .truncated
        } else if (result == 0 && !readFailed) || reachedEntryCode {
            end = .complete
        } else {
            end = .unknown
        }
        var marked = frames
        for index in exactFrames { marked[index] |= UserFrameAddress.exactMark }
        return UnwoundStack(frames: marked, end: end, wentRound: wentRound,
                            endedPastSignalStack: signalStackCrossings > 0 && end == .unknown)
    }

    func read(_ address: UInt64) -> UInt64? {
        guard address >= sp, stack.count >= 8, address - sp <= UInt64(stack.count - 8) else {
            readFailed = true
            if address >= sp { readPastCopy = true }
            return nil
        }
        return stack.loadUnaligned(fromByteOffset: Int(address - sp), as: UInt64.self)
    }
}

private func unwindContext(_ pointer: UnsafeMutableRawPointer?) -> UnwindContext {
    Unmanaged<UnwindContext>.fromOpaque(pointer!).takeUnretainedValue()
}

private let unwindNextThread: @convention(c) (
    OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> pid_t = { _, argument, threadArgument in
    // One thread: the sample's. The thread argument marks that it was handed out.
    guard let threadArgument, threadArgument.pointee == nil else { return 0 }
    threadArgument.pointee = argument
    return unwindContext(argument).tid
}

private let unwindGetThread: @convention(c) (
    OpaquePointer?, pid_t, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Bool = { _, tid, argument, threadArgument in
    guard unwindContext(argument).tid == tid else { return false }
    threadArgument?.pointee = argument
    return true
}

private let unwindMemoryRead: @convention(c) (
    OpaquePointer?, Dwarf_Addr, UnsafeMutablePointer<Dwarf_Word>?, UnsafeMutableRawPointer?
) -> Bool = { _, address, result, argument in
    guard let value = unwindContext(argument).read(address) else { return false }
    result?.pointee = value
    return true
}

private let unwindSetInitialRegisters: @convention(c) (
    OpaquePointer?, UnsafeMutableRawPointer?
) -> Bool = { thread, argument in
    guard let thread else { return false }
    let context = unwindContext(argument)
    // Only rbp and rsp (DWARF 6 and 7) and the pc are known: all the CFI of ordinary
    // frames needs. The PLT's CFA is an expression of rip as a register (DWARF 16, the
    // return address column): libdwfl does not take it from the pc, so it is set too, or a
    // sample in a PLT entry would end there.
    var registers: [Dwarf_Word] = [context.bp, context.sp]
    var instructionPointer: [Dwarf_Word] = [context.ip]
    guard dwfl_thread_state_registers(thread, Int32(DWARFRegister.rbp), 2, &registers),
          dwfl_thread_state_registers(thread, Int32(DWARFRegister.rip), 1, &instructionPointer)
    else { return false }
    dwfl_thread_state_register_pc(thread, context.ip)
    return true
}

private let unwindFrameCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
    frame, argument in
    guard let frame else { return Int32(DWARF_CB_ABORT) }
    let context = unwindContext(argument)
    var pc: Dwarf_Addr = 0
    // Without asking whether the frame is an activation: libdwfl would unwind the next
    // frame to tell, before this callback could stop at the entry code.
    guard dwfl_frame_pc(frame, &pc, nil) else { return Int32(DWARF_CB_ABORT) }
    // Every caller's frame lies above its callee's: a caller whose stack pointer is not
    // above (the same frame again, or a step down) means the unwinder is going round in
    // place, and would until the depth limit. Past a signal frame the interrupted code's
    // stack can be anywhere.
    var stackPointer: Dwarf_Word = 0
    if dwfl_frame_reg(frame, UInt32(DWARFRegister.rsp), &stackPointer) == 0 {
        if let last = context.lastStackPointer, stackPointer <= last, !context.isPastSignalFrame(stackPointer) {
            context.wentRound = true
            return Int32(DWARF_CB_ABORT)
        }
        context.lastStackPointer = stackPointer
        context.lastFrameStackPointer = stackPointer
    } else {
        context.lastFrameStackPointer = nil
    }
    var framePointer: Dwarf_Word = 0
    context.lastFramePointer = dwfl_frame_reg(frame, UInt32(DWARFRegister.rbp), &framePointer) == 0 ? framePointer : nil
    // libdwfl hands out non-activation frames' pcs as return addresses; ember's symbolizer
    // does the "minus one" itself, so keep them as they are. A signal's trampoline and the
    // frame it interrupted are no return addresses: they are marked.
    let isSignalReturn = context.unwinder?.isSignalReturn(pc) == true
    if !context.frames.isEmpty, isSignalReturn || context.lastWasSignalReturn {
        context.exactFrames.append(context.frames.count)
    }
    context.lastWasSignalReturn = isSignalReturn
    context.frames.append(pc)
    // A new program's first code is the dynamic loader's entry point, which calls into the
    // loader and has no caller, though its CFI does not say so: a stack that returns there
    // is whole (every exec'd program spends its first milliseconds in the loader). Stopping
    // here also keeps libdwfl from looking for the loader's separate debug file (and
    // inflating it) in every new process, as it does when .eh_frame cannot go further.
    if context.frames.count > 1, context.unwinder?.returnsIntoEntryCode(pc) == true {
        context.reachedEntryCode = true
        return Int32(DWARF_CB_ABORT)
    }
    return Int32(context.frames.count >= context.maxFrames ? DWARF_CB_ABORT : DWARF_CB_OK)
}

/// Finds a module's separate debug file for libdwfl, which wants it only for `.debug_frame`
/// when `.eh_frame` cannot unwind a frame. It is looked for as the symbolizer looks for debug
/// files (the process's root, `--debug-dir`), and handed over only when it has a frame
/// table: opening one makes libdwfl decompress its debug sections in every process's
/// session, and distributions' debug files have none, as `.eh_frame` stays in the binary.
/// The module's user data is the unwinder's ``DebugFileSearch`` (set when modules are
/// reported): C callbacks cannot capture.
private let findDebugFileWithFrameTable: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?, Dwarf_Addr,
    UnsafePointer<CChar>?, UnsafePointer<CChar>?, GElf_Word, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 = { module, userData, moduleName, _, _, debugLink, crc, debugFileName in
    guard let context = userData?.pointee, let moduleName else { return -1 }
    let search = Unmanaged<DebugFileSearch>.fromOpaque(context).takeUnretainedValue()
    var bits: UnsafePointer<UInt8>?
    var address: GElf_Addr = 0
    let length = Int(dwfl_module_build_id(module, &bits, &address))
    let buildID = length > 1 ? bits.map { Array(UnsafeBufferPointer(start: $0, count: length)) } : nil
    let link = debugLink.map { (name: String(cString: $0), crc: UInt32(crc)) }
    guard let found = search.locator.debugFile(
        buildID: buildID, debugLink: link, targetPath: String(cString: moduleName),
        accepting: DebugFileLocator.hasFrameTable)
    else { return -1 }
    // libdwfl takes a descriptor of its own, and closes it.
    let fd = open(found.path, O_RDONLY | O_CLOEXEC)
    if fd >= 0 { debugFileName?.pointee = strdup(found.path) }
    return fd
}

/// Opens a module's file inside the process's root (/proc/PID/root): a process in another
/// mount namespace (a container) maps files at paths that do not exist outside it, or name
/// another file there (its own libc). libdwfl's own `dwfl_linux_proc_find_elf` opens the path
/// as it is; it still reads the vDSO and deleted files from the process's memory.
private let findFileInProcessRoot: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafePointer<CChar>?, Dwarf_Addr,
    UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 = { module, userData, moduleName, base, fileName, elf in
    if let context = userData?.pointee, let moduleName, moduleName.pointee == UInt8(ascii: "/") {
        let search = Unmanaged<DebugFileSearch>.fromOpaque(context).takeUnretainedValue()
        let path = search.processRoot + String(cString: moduleName)
        var info = stat()
        // Only regular files: a mapped device could block on open or read.
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                fileName?.pointee = strdup(path)
                return fd
            }
        }
    }
    return dwfl_linux_proc_find_elf(module, userData, moduleName, base, fileName, elf)
}

/// Where one process's files and debug files are looked for, reached from libdwfl's
/// callbacks through each module's user data.
final class DebugFileSearch {
    let locator: DebugFileLocator
    /// /proc/PID/root: the process's own view of the filesystem.
    let processRoot: String
    init(locator: DebugFileLocator, processRoot: String) {
        self.locator = locator
        self.processRoot = processRoot
    }
}

