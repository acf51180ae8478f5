import CEmberShim
import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// Kernel addresses named by the kernel's own symbol lookup (kernel_names.bpf.c, run on
/// demand), modules and BPF programs included. Reading /proc/kallsyms instead has the kernel
/// format every one of its symbols, and ember parse them, at every recording's start, to
/// name the few hundred addresses a profile holds. Needs a kernel with BPF syscall programs
/// and bpf_snprintf (5.14); where it has none, ``init()`` throws and kallsyms is read.
public final class KernelAddressNames {
    /// What the kernel says of an address.
    public enum Answer: Equatable, Sendable {
        /// "function" or "function [module]".
        case function(String)
        /// No symbol holds the address.
        case noFunction
        /// The kernel did not say (the name was longer than the buffer, or the run failed).
        case unanswered
    }

    private var object: BPFObject?
    private let program: Int32
    /// The program's `request`, in its mapped .bss.
    private let request: UnsafeMutableRawBufferPointer

    public init() throws {
        let object = try BPFObject(bytes: EmbeddedProgram.kernelNames, description: "the kernel-naming BPF program")
        let result = object.load()
        guard result == 0 else {
            throw object.loadError(result)
        }
        program = bpf_program__fd(try object.program("name_kernel_addresses"))
        request = try object.globals(".bss")
        guard request.count >= MemoryLayout<ember_kernel_names>.size else {
            throw SamplingError.system("\(object.description)'s request is smaller than ember's")
        }
        self.object = object
    }

    deinit { close() }

    /// Unloads the program. Idempotent.
    public func close() {
        object?.close()
        object = nil
    }

    /// The kernel's answer for each of `addresses`, in their order.
    public func names(of addresses: [UInt64]) -> [Answer] {
        guard object != nil else { return addresses.map { _ in .unanswered } }
        let batch = Int(EMBER_KERNEL_NAME_BATCH)
        let nameSize = Int(EMBER_KERNEL_NAME_SIZE)
        let layout = MemoryLayout<ember_kernel_names>.self
        let countOffset = layout.offset(of: \ember_kernel_names.count)!
        let lengthsOffset = layout.offset(of: \ember_kernel_names.lengths)!
        let namesOffset = layout.offset(of: \ember_kernel_names.names)!
        var answers: [Answer] = []
        answers.reserveCapacity(addresses.count)
        for start in stride(from: 0, to: addresses.count, by: batch) {
            let part = addresses[start..<min(start + batch, addresses.count)]
            for (index, address) in part.enumerated() {
                request.storeBytes(of: address, toByteOffset: index * 8, as: UInt64.self)
            }
            request.storeBytes(of: UInt32(part.count), toByteOffset: countOffset, as: UInt32.self)
            var options = bpf_test_run_opts()
            options.sz = MemoryLayout<bpf_test_run_opts>.size
            guard bpf_prog_test_run_opts(program, &options) == 0 else {
                answers += part.map { _ in .unanswered }
                continue
            }
            for index in 0..<part.count {
                let length = Int(request.load(fromByteOffset: lengthsOffset + index * 4, as: Int32.self))
                // The length counts the NUL; a longer name was cut.
                guard length > 1, length <= nameSize else {
                    answers.append(.unanswered)
                    continue
                }
                let offset = namesOffset + index * nameSize
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: request[offset..<offset + length - 1]),
                                  as: UTF8.self)
                // Where no symbol holds it, %ps prints the address itself.
                answers.append(name.hasPrefix("0x") ? .noFunction : .function(name))
            }
        }
        return answers
    }
}
