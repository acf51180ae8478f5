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
        let equals = UInt8(ascii: "=")
        // "=" only at the end: one or two of the last group's characters.
        let padding = text.last != equals ? 0 : text[text.count - 2] == equals ? 2 : 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 4 * 3)
        for start in stride(from: 0, to: text.count, by: 4) {
            let digits = start + 4 == text.count ? 4 - padding : 4
            var group: UInt32 = 0
            for offset in 0..<4 {
                guard let value = offset < digits ? sextet(text[start + offset]) : 0 else { return nil }
                group = group << 6 | value
            }
            bytes.append(UInt8(truncatingIfNeeded: group >> 16))
            if digits > 2 { bytes.append(UInt8(truncatingIfNeeded: group >> 8)) }
            if digits > 3 { bytes.append(UInt8(truncatingIfNeeded: group)) }
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
