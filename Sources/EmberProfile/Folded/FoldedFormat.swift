#if canImport(Glibc)
import Glibc
#endif

/// The conventions of collapsed ("folded") stacks that readers and writers share: frame
/// kinds spelled as name suffixes, the characters a name cannot hold, how counts print.
public enum FoldedFormat {
    /// The suffix that marks a frame's kind in folded text (flamegraph.pl's annotations), or
    /// nil for kinds written as plain names.
    public static func annotation(of kind: FrameKind) -> StaticString? {
        switch kind {
        case .kernel: return "_[k]"
        case .inlined: return "_[i]"
        case .jit: return "_[j]"
        case .waker: return "_[w]"
        case .offCPU: return "_[o]"
        case .python: return "_[p]"
        case .user, .process, .thread: return nil
        }
    }

    /// The kind a label's suffix gives (`read_[k]`: kernel); `.user` without one.
    @inline(__always)
    public static func kind(ofLabel label: UnsafeBufferPointer<UInt8>) -> FrameKind {
        let count = label.count
        guard count >= 4, label[count - 1] == UInt8(ascii: "]"), label[count - 3] == UInt8(ascii: "["),
              label[count - 4] == UInt8(ascii: "_")
        else { return .user }
        switch label[count - 2] {
        case UInt8(ascii: "k"): return .kernel
        case UInt8(ascii: "i"): return .inlined
        case UInt8(ascii: "j"): return .jit
        case UInt8(ascii: "w"): return .waker
        case UInt8(ascii: "o"): return .offCPU
        case UInt8(ascii: "p"): return .python
        default: return .user
        }
    }

    /// The length of a label's name without the suffix of `kind`.
    @inline(__always)
    public static func nameLength(ofLabel count: Int, kind: FrameKind) -> Int {
        annotation(of: kind) == nil ? count : count - 4
    }

    /// Appends a frame's label: its name (with `;` and line breaks replaced, as the stack
    /// collapsers do, since they would split the stack), the source position when given, and
    /// the kind's suffix.
    public static func appendLabel(
        name: UnsafeBufferPointer<UInt8>, position: (file: UnsafeBufferPointer<UInt8>, line: Int64)? = nil,
        kind: FrameKind, to label: inout [UInt8]
    ) {
        appendSanitized(name, to: &label)
        if let (file, line) = position {
            label.append(contentsOf: " (".utf8)
            // The file's base name: `file.c:42`.
            let base = file.lastIndex(of: UInt8(ascii: "/")).map { file[($0 + 1)...] } ?? file[...]
            appendSanitized(UnsafeBufferPointer(rebasing: base), to: &label)
            label.append(UInt8(ascii: ":"))
            label.append(contentsOf: String(line).utf8)
            label.append(UInt8(ascii: ")"))
        }
        if let annotation = annotation(of: kind) {
            label.append(contentsOf: UnsafeBufferPointer(start: annotation.utf8Start, count: annotation.utf8CodeUnitCount))
        }
    }

    @inline(__always)
    static func appendSanitized(_ name: UnsafeBufferPointer<UInt8>, to label: inout [UInt8]) {
        // Most names hold none of the three: they are copied whole.
        if let base = name.baseAddress, memchr(base, 0x3B, name.count) == nil, memchr(base, 10, name.count) == nil,
           memchr(base, 13, name.count) == nil {
            label.append(contentsOf: name)
            return
        }
        for byte in name {
            switch byte {
            case UInt8(ascii: ";"): label.append(UInt8(ascii: ":"))
            case 10, 13: label.append(UInt8(ascii: " "))
            default: label.append(byte)
            }
        }
    }

    /// Makes a frame name safe for the format: `;` separates frames and a line break
    /// ends the stack, so both are replaced (as the stack collapsers do).
    public static func sanitize(_ frame: String) -> String {
        guard frame.utf8.contains(where: { $0 == UInt8(ascii: ";") || $0 == 10 || $0 == 13 }) else {
            return frame
        }
        var result = ""
        for scalar in frame.unicodeScalars {
            switch scalar {
            case ";": result.append(":")
            case "\n", "\r": result.append(" ")
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A count as folded text writes it: integers without a fraction, fractional counts
    /// with theirs.
    public static func format(_ count: Double) -> String {
        if count == count.rounded(), abs(count) < 1e15 { return String(Int64(count)) }
        return String(count)
    }
}
