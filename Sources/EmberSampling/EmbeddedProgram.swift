import Foundation

/// The compiled BPF object, embedded at build time by the BPFCompiler plugin.
enum EmbeddedProgram {
    /// The ELF bytes of profile.bpf.c's object. libbpf copies what it needs while
    /// opening, but the bytes must stay alive until the object is loaded.
    static let profile: [UInt8] = decode(profileBPFObjectBase64)

    /// offcpu.bpf.c's object (loaded beside the profile's, sharing its maps).
    static let offCPU: [UInt8] = decode(offcpuBPFObjectBase64)

    /// kernel_names.bpf.c's object (the kernel's names for kernel addresses).
    static let kernelNames: [UInt8] = decode(kernelNamesBPFObjectBase64)

    private static func decode(_ base64: StaticString) -> [UInt8] {
        let text = base64.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        guard let data = Data(base64Encoded: text) else {
            fatalError("the embedded BPF object is not valid base64: rebuild ember")
        }
        return [UInt8](data)
    }
}
