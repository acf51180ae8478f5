import CEmberDemangle
#if canImport(Glibc)
import Glibc
#endif

/// Turns mangled symbol names into the names people wrote: C++ (Itanium) through
/// libstdc++'s `__cxa_demangle`, Swift through the toolchain's libswiftDemangle, Rust legacy
/// and v0 by hand (Rust ships its demangler only as a Rust crate). Anything else, or a name
/// that does not decode, is returned unchanged.
public enum Demangler {
    public static func demangle(_ name: String) -> String {
        if name.hasPrefix("_R") {
            return RustV0Demangler.demangle(name) ?? name
        }
        if name.hasPrefix("_ZN"), looksLikeRustLegacy(name), let rust = demangleRustLegacy(name) {
            return rust
        }
        if name.hasPrefix("_Z") {
            return call(ember_demangle_cxx, name) ?? name
        }
        if name.hasPrefix("$s") || name.hasPrefix("$S") || name.hasPrefix("_$s") || name.hasPrefix("$e")
            || name.hasPrefix("_T0") {
            return call(ember_demangle_swift, name) ?? name
        }
        return name
    }

    private static func call(_ function: (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?,
                             _ name: String) -> String? {
        guard let result = function(name) else { return nil }
        defer { free(result) }
        return String(cString: result)
    }

    /// A cheap test before the full parse: Rust's legacy names end with `17h` and 16 hex
    /// digits, then `E` (and perhaps a `.suffix`).
    private static func looksLikeRustLegacy(_ name: String) -> Bool {
        var utf8 = Substring(name).utf8
        if utf8.last != UInt8(ascii: "E") {
            // A `.suffix` after the `E` (names themselves may hold `..`): cut at the last "E.".
            var index = utf8.endIndex
            while index > utf8.startIndex {
                index = utf8.index(before: index)
                if utf8[index] == UInt8(ascii: "."), index > utf8.startIndex,
                   utf8[utf8.index(before: index)] == UInt8(ascii: "E") {
                    utf8 = utf8[..<index]
                    break
                }
            }
        }
        guard utf8.count > 23, utf8.last == UInt8(ascii: "E") else { return false }
        // "17h" + 16 digits + "E": the last 20 bytes.
        return utf8.suffix(20).starts(with: "17h".utf8)
    }

    /// Rust's legacy mangling: Itanium-shaped `_ZN` + length-prefixed parts + `E`, whose
    /// last part is `h` and a 16-digit hash, with `$..$` escapes inside the parts. The hash
    /// is left out, as rustc-demangle's alternate form does.
    static func demangleRustLegacy(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        var index = 3
        var parts: [[UInt8]] = []
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            var length = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                length = length * 10 + Int(bytes[index] - 48)
                index += 1
                if length > bytes.count { return nil }
            }
            guard length > 0, index + length <= bytes.count else { return nil }
            parts.append(Array(bytes[index..<index + length]))
            index += length
        }
        // The `E`, then perhaps a `.suffix` LLVM added (`.llvm.NNNN`).
        guard index < bytes.count, bytes[index] == UInt8(ascii: "E"),
              index + 1 == bytes.count || bytes[index + 1] == UInt8(ascii: "."),
              let hash = parts.last, hash.count == 17,
              hash[0] == UInt8(ascii: "h"),
              hash.dropFirst().allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { return nil }
        var decoded: [String] = []
        for part in parts.dropLast() {
            guard let text = decodeLegacyPart(part) else { return nil }
            decoded.append(text)
        }
        return decoded.joined(separator: "::")
    }

    private static func decodeLegacyPart(_ part: [UInt8]) -> String? {
        var out = ""
        var index = 0
        // A part that would start with `$` is written `_$`.
        if part.count > 1, part[0] == UInt8(ascii: "_"), part[1] == UInt8(ascii: "$") { index = 1 }
        while index < part.count {
            let byte = part[index]
            if byte == UInt8(ascii: "$") {
                guard let end = part[(index + 1)...].firstIndex(of: UInt8(ascii: "$")) else { return nil }
                let escape = String(decoding: part[(index + 1)..<end], as: UTF8.self)
                switch escape {
                case "SP": out += "@"
                case "BP": out += "*"
                case "RF": out += "&"
                case "LT": out += "<"
                case "GT": out += ">"
                case "LP": out += "("
                case "RP": out += ")"
                case "C": out += ","
                default:
                    guard escape.hasPrefix("u"), let code = UInt32(escape.dropFirst(), radix: 16),
                          let scalar = Unicode.Scalar(code)
                    else { return nil }
                    out.unicodeScalars.append(scalar)
                }
                index = end + 1
            } else if byte == UInt8(ascii: "."), index + 1 < part.count, part[index + 1] == UInt8(ascii: ".") {
                out += "::"
                index += 2
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
                index += 1
            }
        }
        return out
    }
}

/// A decoder for Rust's v0 mangling (RFC 2603), printing what rustc-demangle's alternate
/// form prints: paths without crate disambiguators, generic arguments, `<T as Trait>`
/// impls, `{closure#N}`.
struct RustV0Demangler {
    private let bytes: [UInt8]
    private var position: Int
    private var output = ""
    private var depth = 0
    /// Lifetimes bound by the `for<...>` binders around the current position.
    private var boundLifetimes: UInt64 = 0

    private init(_ bytes: [UInt8], position: Int) {
        self.bytes = bytes
        self.position = position
    }

    static func demangle(_ name: String) -> String? {
        var bytes = Array(name.utf8)
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "_"), bytes[1] == UInt8(ascii: "R") else { return nil }
        if let dot = bytes.firstIndex(of: UInt8(ascii: ".")) { bytes.removeSubrange(dot...) }
        // Positions (and back-references) count from after `_R`.
        var parser = RustV0Demangler(Array(bytes.dropFirst(2)), position: 0)
        // An encoding version would come first as a decimal number; only version 0 (none) exists.
        if let first = parser.peek(), first >= 48, first <= 57 { return nil }
        do {
            try parser.path(inValue: true)
        } catch {
            return nil
        }
        // What follows is the instantiating crate, which is not printed.
        return parser.output
    }

    struct Invalid: Error {}

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func next() throws -> UInt8 {
        guard position < bytes.count else { throw Invalid() }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func eat(_ character: Character) -> Bool {
        if peek() == character.asciiValue {
            position += 1
            return true
        }
        return false
    }

    /// `{0-9a-zA-Z} _`: `_` alone is 0, otherwise the digits' value plus one.
    private mutating func base62() throws -> UInt64 {
        if eat("_") { return 0 }
        var value: UInt64 = 0
        while true {
            let byte = try next()
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "_"):
                let (sum, overflow) = value.addingReportingOverflow(1)
                guard !overflow else { throw Invalid() }
                return sum
            case 48...57: digit = UInt64(byte - 48)
            case 97...122: digit = UInt64(byte - 97 + 10)
            case 65...90: digit = UInt64(byte - 65 + 36)
            default: throw Invalid()
            }
            let (product, overflow1) = value.multipliedReportingOverflow(by: 62)
            let (sum, overflow2) = product.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw Invalid() }
            value = sum
        }
    }

    /// `s` base-62-number, or nothing (0).
    private mutating func disambiguator() throws -> UInt64 {
        eat("s") ? try base62() + 1 : 0
    }

    private mutating func decimal() throws -> Int {
        guard let first = peek(), first >= 48, first <= 57 else { throw Invalid() }
        if first == 48 {
            position += 1
            return 0
        }
        var value = 0
        while let byte = peek(), byte >= 48, byte <= 57 {
            value = value * 10 + Int(byte - 48)
            guard value < 1 << 24 else { throw Invalid() }
            position += 1
        }
        return value
    }

    /// `[u] decimal [_] bytes`. Punycode (`u`) names are shown as encoded.
    private mutating func identifier() throws -> String {
        let isPunycode = eat("u")
        let length = try decimal()
        _ = eat("_")
        guard position + length <= bytes.count else { throw Invalid() }
        var text = String(decoding: bytes[position..<position + length], as: UTF8.self)
        position += length
        if isPunycode { text = "punycode{\(text)}" }
        return text
    }

    /// Bounds recursion, and output: back-references can repeat parts, so a hostile name
    /// could otherwise expand without end.
    private mutating func enter() throws {
        depth += 1
        guard depth < 300, output.utf8.count < 1 << 16 else { throw Invalid() }
    }

    /// Runs `body` at a back-reference's target, then returns here.
    private mutating func backref(_ body: (inout RustV0Demangler) throws -> Void) throws {
        let start = position - 1
        let target = try base62()
        guard target < UInt64(start) else { throw Invalid() }
        let saved = position
        position = Int(target)
        try enter()
        try body(&self)
        depth -= 1
        position = saved
    }

    private mutating func path(inValue: Bool) throws {
        try enter()
        defer { depth -= 1 }
        let tag = try next()
        switch tag {
        case UInt8(ascii: "C"):
            _ = try disambiguator()
            output += try identifier()
        case UInt8(ascii: "M"):
            _ = try disambiguator()
            try skipPath()
            output += "<"
            try type()
            output += ">"
        case UInt8(ascii: "X"):
            _ = try disambiguator()
            try skipPath()
            output += "<"
            try type()
            output += " as "
            try path(inValue: false)
            output += ">"
        case UInt8(ascii: "Y"):
            output += "<"
            try type()
            output += " as "
            try path(inValue: false)
            output += ">"
        case UInt8(ascii: "N"):
            let namespace = try next()
            try path(inValue: inValue)
            let number = try disambiguator()
            let name = try identifier()
            switch namespace {
            case 65...90:  // special namespaces: closures, shims
                output += "::{"
                output += namespace == UInt8(ascii: "C") ? "closure"
                    : namespace == UInt8(ascii: "S") ? "shim" : String(UnicodeScalar(namespace))
                if !name.isEmpty { output += ":" + name }
                output += "#\(number)}"
            case 97...122:
                output += "::" + name
            default:
                throw Invalid()
            }
        case UInt8(ascii: "I"):
            try path(inValue: inValue)
            output += inValue ? "::<" : "<"
            var first = true
            while !eat("E") {
                if !first { output += ", " }
                first = false
                try genericArgument()
            }
            output += ">"
        case UInt8(ascii: "B"):
            try backref { try $0.path(inValue: inValue) }
        default:
            throw Invalid()
        }
    }

    /// Parses a path without printing it (an impl's own path, shown through its type).
    private mutating func skipPath() throws {
        let saved = output
        try path(inValue: false)
        output = saved
    }

    private mutating func genericArgument() throws {
        if eat("L") {
            try lifetime(try base62())
        } else if eat("K") {
            try constant()
        } else {
            try type()
        }
    }

    private mutating func type() throws {
        try enter()
        defer { depth -= 1 }
        guard let tag = peek() else { throw Invalid() }
        let basic: [UInt8: String] = [
            UInt8(ascii: "a"): "i8", UInt8(ascii: "b"): "bool", UInt8(ascii: "c"): "char",
            UInt8(ascii: "d"): "f64", UInt8(ascii: "e"): "str", UInt8(ascii: "f"): "f32",
            UInt8(ascii: "h"): "u8", UInt8(ascii: "i"): "isize", UInt8(ascii: "j"): "usize",
            UInt8(ascii: "l"): "i32", UInt8(ascii: "m"): "u32", UInt8(ascii: "n"): "i128",
            UInt8(ascii: "o"): "u128", UInt8(ascii: "s"): "i16", UInt8(ascii: "t"): "u16",
            UInt8(ascii: "u"): "()", UInt8(ascii: "v"): "...", UInt8(ascii: "x"): "i64",
            UInt8(ascii: "y"): "u64", UInt8(ascii: "z"): "!", UInt8(ascii: "p"): "_",
        ]
        if let name = basic[tag] {
            position += 1
            output += name
            return
        }
        position += 1
        switch tag {
        case UInt8(ascii: "R"), UInt8(ascii: "Q"):
            output += "&"
            if eat("L") {
                let index = try base62()
                if index != 0 {
                    try lifetime(index)
                    output += " "
                }
            }
            if tag == UInt8(ascii: "Q") { output += "mut " }
            try type()
        case UInt8(ascii: "P"):
            output += "*const "
            try type()
        case UInt8(ascii: "O"):
            output += "*mut "
            try type()
        case UInt8(ascii: "A"):
            output += "["
            try type()
            output += "; "
            try constant()
            output += "]"
        case UInt8(ascii: "S"):
            output += "["
            try type()
            output += "]"
        case UInt8(ascii: "T"):
            output += "("
            var count = 0
            while !eat("E") {
                if count > 0 { output += ", " }
                try type()
                count += 1
            }
            if count == 1 { output += "," }
            output += ")"
        case UInt8(ascii: "F"):
            try inBinder { this in
                if this.eat("U") { this.output += "unsafe " }
                if this.eat("K") {
                    if this.eat("C") {
                        this.output += "extern \"C\" "
                    } else {
                        this.output += "extern \"\(try this.identifier().replacingUnderscores())\" "
                    }
                }
                this.output += "fn("
                var first = true
                while !this.eat("E") {
                    if !first { this.output += ", " }
                    first = false
                    try this.type()
                }
                this.output += ")"
                if this.peek() == UInt8(ascii: "u") {
                    this.position += 1
                } else {
                    this.output += " -> "
                    try this.type()
                }
            }
        case UInt8(ascii: "D"):
            output += "dyn "
            try inBinder { this in
                var first = true
                while !this.eat("E") {
                    if !first { this.output += " + " }
                    first = false
                    try this.dynTrait()
                }
            }
            guard eat("L") else { throw Invalid() }
            let index = try base62()
            if index != 0 {
                output += " + "
                try lifetime(index)
            }
        case UInt8(ascii: "B"):
            try backref { try $0.type() }
        default:
            position -= 1
            try path(inValue: false)
        }
    }

    /// `G n` binds n+1 lifetimes for what follows, printed `for<'a, 'b> `.
    private mutating func inBinder(_ body: (inout RustV0Demangler) throws -> Void) throws {
        let count = eat("G") ? try base62() + 1 : 0
        guard count < 64 else { throw Invalid() }
        if count > 0 {
            output += "for<"
            for index in 0..<count {
                if index > 0 { output += ", " }
                boundLifetimes += 1
                try lifetime(1)
            }
            output += "> "
        }
        try body(&self)
        boundLifetimes -= count
    }

    /// `'_` for an erased lifetime, else the name of a bound one, counted from the innermost
    /// binder: 'a, 'b, ... then '_26 and on.
    private mutating func lifetime(_ index: UInt64) throws {
        output += "'"
        if index == 0 {
            output += "_"
            return
        }
        guard index <= boundLifetimes else { throw Invalid() }
        let depth = boundLifetimes - index
        if depth < 26 {
            output.unicodeScalars.append(Unicode.Scalar(UInt8(97 + depth)))
        } else {
            output += "_\(depth)"
        }
    }

    /// A trait path with its associated-type bindings: `Iterator<Item = u8>`.
    private mutating func dynTrait() throws {
        try path(inValue: false)
        var open = false
        while eat("p") {
            if open {
                output += ", "
            } else if output.last == ">" {
                output.removeLast()
                output += ", "
                open = true
            } else {
                output += "<"
                open = true
            }
            output += try identifier() + " = "
            try type()
        }
        if open { output += ">" }
    }

    private mutating func constant() throws {
        if eat("p") {
            output += "_"
            return
        }
        if eat("B") {
            try backref { try $0.constant() }
            return
        }
        let type = try next()
        let negative = eat("n")
        var value: UInt64 = 0
        var digits = 0
        while !eat("_") {
            let byte = try next()
            let digit: UInt64
            switch byte {
            case 48...57: digit = UInt64(byte - 48)
            case 97...102: digit = UInt64(byte - 97 + 10)
            default: throw Invalid()
            }
            digits += 1
            guard digits <= 16 else { throw Invalid() }
            value = value << 4 | digit
        }
        switch type {
        case UInt8(ascii: "b"):
            output += value == 0 ? "false" : "true"
        case UInt8(ascii: "c"):
            guard let scalar = Unicode.Scalar(UInt32(truncatingIfNeeded: value)) else { throw Invalid() }
            output += "'\(Character(scalar))'"
        case UInt8(ascii: "a"), UInt8(ascii: "s"), UInt8(ascii: "l"), UInt8(ascii: "x"), UInt8(ascii: "n"),
             UInt8(ascii: "i"), UInt8(ascii: "h"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "y"),
             UInt8(ascii: "o"), UInt8(ascii: "j"):
            output += (negative ? "-" : "") + String(value)
        default:
            throw Invalid()
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
