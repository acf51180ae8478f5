import CEmberShim
import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// One libbpf object, from its embedded ELF bytes to its close: opened, its maps sized or
/// shared, loaded, its maps and programs found by name. The single owner of the
/// `bpf_object` (and of its maps' descriptors, which the kernel also closes if ember dies);
/// ``Sampler`` and ``OffCPUSampler`` each hold one.
final class BPFObject {
    /// How errors name it: "the BPF program", "the off-CPU BPF program".
    let description: String
    private var object: OpaquePointer?
    /// A copy of the ELF bytes, which libbpf reads until the object is loaded.
    private var elf: UnsafeMutableRawBufferPointer?
    /// What ``globals(_:)`` mapped.
    private var mapped: [UnsafeMutableRawBufferPointer] = []

    /// Opens (does not load) the object in `bytes`.
    init(bytes: [UInt8], description: String) throws {
        self.description = description
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        copy.copyBytes(from: bytes)
        elf = copy
        guard let opened = bpf_object__open_mem(copy.baseAddress, copy.count, nil) else {
            let error = errno
            releaseBytes()
            throw SamplingError.from(errno: error, doing: "open \(description)", detail: Self.libbpfMessage())
        }
        object = opened
    }

    deinit { close() }

    /// The last message libbpf printed (captured by the C shim), for error details.
    static func libbpfMessage() -> String {
        String(cString: ember_last_libbpf_message())
    }

    /// Why the kernel's verifier refused a program of the last load ("NAME: the log's reason"),
    /// or nil.
    static func verifierRefusal() -> String? {
        let refusal = String(cString: ember_verifier_refusal())
        return refusal.isEmpty ? nil : refusal
    }

    /// The error for a failed ``load()``: the verifier's reason where it refused a program (its
    /// EACCES says nothing of permissions), else the errno and what libbpf said last.
    func loadError(_ result: Int32) -> SamplingError {
        if let refusal = Self.verifierRefusal() {
            return .system("could not load \(description): the kernel's verifier refused \(refusal)")
        }
        return SamplingError.from(errno: -result, doing: "load \(description)", detail: Self.libbpfMessage())
    }

    /// Sets a map's entries before loading.
    func setMaxEntries(_ name: String, _ entries: Int) throws {
        guard entries > 0, entries <= 1 << 24 else {
            throw SamplingError.system("the \(name) map size must be between 1 and \(1 << 24)")
        }
        let result = bpf_map__set_max_entries(try map(name), UInt32(entries))
        if result != 0 { throw SamplingError.from(errno: -result, doing: "size the \(name) map") }
    }

    /// Sets a read-only data section's contents before loading (a `const volatile` variable
    /// alone in its `.rodata.NAME` section, such as the programs' options): the kernel
    /// freezes it, and the verifier reads the values as constants.
    func setReadOnlyData<Value>(_ section: String, to value: Value) throws {
        let map = try map(section)
        guard Int(bpf_map__value_size(map)) == MemoryLayout<Value>.size else {
            throw SamplingError.system("the \(section) section of \(description) is not a \(Value.self)")
        }
        var value = value
        let result = withUnsafeBytes(of: &value) { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) }
        if result != 0 { throw SamplingError.from(errno: -result, doing: "set the \(section) section") }
    }

    /// Makes these maps the same kernel maps as `other`'s (already loaded), before loading:
    /// their definitions must match (ember_maps.bpf.h).
    func share(_ names: [String], with other: BPFObject) throws {
        for name in names {
            let result = bpf_map__reuse_fd(try map(name), bpf_map__fd(try other.map(name)))
            if result != 0 { throw SamplingError.from(errno: -result, doing: "share the \(name) map") }
        }
    }

    /// Loads the programs and creates the maps; 0, or a negative errno (the caller words the
    /// error: a missing tracepoint is not a permission problem).
    func load() -> Int32 {
        guard let object else { return -EINVAL }
        ember_forget_libbpf_messages()  // what an earlier load printed is not this one's cause
        let result = bpf_object__load(object)
        if result == 0 { releaseBytes() }  // libbpf is done with the ELF; after a failure, at close
        return result
    }

    /// A map of the object, by its name in the program.
    func map(_ name: String) throws -> OpaquePointer {
        guard let object, let map = bpf_object__find_map_by_name(object, name) else {
            throw SamplingError.system("the embedded BPF object of \(description) lacks the \(name) map")
        }
        return map
    }

    /// A loaded map's descriptor.
    func mapDescriptor(_ name: String) throws -> Int32 {
        bpf_map__fd(try map(name))
    }

    /// The memory of a loaded object's global variables (".bss", ".data"), mapped from the
    /// kernel's map: what user space writes there the programs read, without a system call.
    /// Valid until ``close()``. (libbpf maps it only for skeletons.)
    func globals(_ section: String) throws -> UnsafeMutableRawBufferPointer {
        let map = try map(section)
        let size = Int(bpf_map__value_size(map))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = (size + pageSize - 1) / pageSize * pageSize
        guard size > 0, bpf_map__map_flags(map) & UInt32(BPF_F_MMAPABLE) != 0,
              let memory = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0),
              memory != MAP_FAILED
        else {
            throw SamplingError.from(errno: errno, doing: "map \(description)'s \(section)")
        }
        mapped.append(UnsafeMutableRawBufferPointer(start: memory, count: length))
        return UnsafeMutableRawBufferPointer(start: memory, count: size)
    }

    /// A program of the object, by its function's name.
    func program(_ name: String) throws -> OpaquePointer {
        guard let object, let program = bpf_object__find_program_by_name(object, name) else {
            throw SamplingError.system("the embedded BPF object of \(description) lacks its \(name) program")
        }
        return program
    }

    /// The instructions the kernel's verifier checked to load a program (the paths it walked:
    /// what loading costs), or nil where the kernel does not say.
    func verifiedInstructions(of name: String) throws -> Int? {
        let descriptor = bpf_program__fd(try program(name))
        guard descriptor >= 0 else { return nil }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(descriptor, &info, &length) == 0,
              length >= UInt32(MemoryLayout<bpf_prog_info>.offset(of: \.verified_insns)! + 4)
        else { return nil }
        return Int(info.verified_insns)
    }

    /// ``verifiedInstructions(of:)`` of each of `names`, by name (those the kernel says).
    func verifiedInstructions(ofPrograms names: [String]) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for name in names { counts[name] = try verifiedInstructions(of: name) }
        return counts
    }

    /// Closes the object: its programs and maps go (links must be destroyed first). Idempotent.
    func close() {
        for memory in mapped { munmap(memory.baseAddress, memory.count) }
        mapped = []
        if let object { bpf_object__close(object) }
        object = nil
        releaseBytes()
    }

    private func releaseBytes() {
        elf?.deallocate()
        elf = nil
    }
}
