import CEmberShim
import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// One Python frame as the BPF program recorded it.
public struct PythonFrameRecord: Hashable, Sendable {
    /// The code object's address (3.13's `f_executable`: perhaps not a code object).
    public var code: UInt64
    /// The frame's instruction pointer (`prev_instr` before 3.13, `instr_ptr` since).
    public var instruction: UInt64
    /// The outermost frame its activation of `_PyEval_EvalFrameDefault` ran: the frames
    /// after it (outer ones) belong to an outer activation.
    public var isEntry: Bool

    public init(code: UInt64, instruction: UInt64, isEntry: Bool) {
        self.code = code
        self.instruction = instruction
        self.isEntry = isEntry
    }
}

/// A thread's Python frames, innermost first, as walked in the kernel.
public struct PythonStackRecord: Hashable, Sendable {
    public var frames: [PythonFrameRecord]
    public var end: WalkEnd

    public init(frames: [PythonFrameRecord], end: WalkEnd) {
        self.frames = frames
        self.end = end
    }
}

extension Sampler {
    /// Makes the BPF program walk the Python frames of process `pid`'s threads, with the
    /// offsets and runtime address in `layout`.
    public func setPythonProcess(_ pid: pid_t, _ layout: ember_python_process) throws {
        var key = UInt32(bitPattern: pid)
        var value = layout
        if bpf_map_update_elem(try mapFileDescriptor("python_processes"), &key, &value, UInt64(BPF_ANY)) != 0 {
            throw SamplingError.from(errno: errno, doing: "give process \(pid)'s Python layout to the BPF program")
        }
    }

    /// Stops walking a process's Python frames (it ended, or exec'd another program).
    public func removePythonProcess(_ pid: pid_t) {
        var key = UInt32(bitPattern: pid)
        if let descriptor = try? mapFileDescriptor("python_processes") { _ = bpf_map_delete_elem(descriptor, &key) }
    }

    /// The Python stack of `hash` (from a sample key or a ring-buffer sample), if the map holds it.
    public func pythonStack(_ hash: UInt64) -> PythonStackRecord? {
        guard hash != 0, let descriptor = try? mapFileDescriptor("python_stacks") else { return nil }
        let value = UnsafeMutableRawBufferPointer.allocate(
            byteCount: MemoryLayout<ember_python_stack>.size, alignment: 8)
        defer { value.deallocate() }
        var key = hash
        guard bpf_map_lookup_elem(descriptor, &key, value.baseAddress) == 0 else { return nil }
        let depth = min(Int(value.load(as: UInt32.self)), Int(EMBER_MAX_PYTHON_DEPTH))
        let end = value.load(fromByteOffset: 4, as: UInt32.self)
        let framesOffset = MemoryLayout<ember_python_stack>.offset(of: \ember_python_stack.frames)!
        let stride = MemoryLayout<ember_python_frame>.stride
        let frames = (0..<depth).map { index -> PythonFrameRecord in
            let base = framesOffset + index * stride
            let instruction = value.load(fromByteOffset: base + 8, as: UInt64.self)
            return PythonFrameRecord(code: value.load(fromByteOffset: base, as: UInt64.self),
                                     instruction: instruction & ~UInt64(EMBER_PYTHON_ENTRY_FRAME),
                                     isEntry: instruction & UInt64(EMBER_PYTHON_ENTRY_FRAME) != 0)
        }
        return PythonStackRecord(frames: frames, end: WalkEnd(kernelValue: end))
    }

    /// Takes a Python stack out of the map (its process ended, and its samples are counted).
    public func removePythonStack(_ hash: UInt64) {
        var key = hash
        if let descriptor = try? mapFileDescriptor("python_stacks") { _ = bpf_map_delete_elem(descriptor, &key) }
    }

    private func mapFileDescriptor(_ name: String) throws -> Int32 {
        bpf_map__fd(try map(named: name))
    }
}
