/// The compiled BPF object, embedded at build time by the BPFCompiler plugin.
enum EmbeddedProgram {
    /// The ELF bytes of profile.bpf.c's object. libbpf copies what it needs while
    /// opening, but the bytes must stay alive until the object is loaded.
    static let profile: [UInt8] = decode(profileBPFObjectBase64)

    /// offcpu.bpf.c's object (loaded beside the profile's, sharing its maps).
    static let offCPU: [UInt8] = decode(offcpuBPFObjectBase64)

    /// kernel_names.bpf.c's object (the kernel's names for kernel addresses).
    static let kernelNames: [UInt8] = decode(kernelNamesBPFObjectBase64)

    /// Decoded here rather than by Foundation's `Data(base64Encoded:)`: that one call was all
    /// ember took from Foundation, and loading Foundation and ICU lengthened every start.
    private static func decode(_ base64: StaticString) -> [UInt8] {
        guard let bytes = base64.withUTF8Buffer({ Base64.decode($0) }) else {
            fatalError("the embedded BPF object is not valid base64: rebuild ember")
        }
        return bytes
    }
}

/// Standard base64 (RFC 4648, with padding), as `base64 -w0` writes it.
enum Base64 {
    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var padding = 0
        if text.count >= 1, text[text.count - 1] == UInt8(ascii: "=") { padding += 1 }
        if text.count >= 2, text[text.count - 2] == UInt8(ascii: "=") { padding += 1 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 4 * 3 - padding)
        var index = 0
        while index < text.count {
            var group: UInt32 = 0
            for offset in 0..<4 {
                let character = text[index + offset]
                let isPadding = character == UInt8(ascii: "=") && index + 4 == text.count && offset >= 4 - padding
                guard let value = isPadding ? 0 : sextet(character) else { return nil }
                group = group << 6 | value
            }
            let count = index + 4 == text.count ? 3 - padding : 3
            for shift in [16, 8, 0].prefix(count) { bytes.append(UInt8(truncatingIfNeeded: group >> UInt32(shift))) }
            index += 4
        }
        return bytes
    }

    private static func sextet(_ character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
