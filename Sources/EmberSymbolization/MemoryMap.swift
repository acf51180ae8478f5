/// One line of /proc/PID/maps: a range of a process's address space and what backs it.
public struct MemoryMapping: Hashable, Sendable {
    public var start: UInt64
    public var end: UInt64
    /// Permissions as the kernel prints them, such as `r-xp`.
    public var permissions: String
    /// Offset in the file of the byte at `start`.
    public var fileOffset: UInt64
    /// The file's device (`major:minor`, hexadecimal) and inode; inode 0 for anonymous memory.
    public var device: String
    public var inode: UInt64
    /// The file's path, a pseudo-name such as `[vdso]` or `[heap]`, or empty.
    public var path: String

    public init(start: UInt64, end: UInt64, permissions: String, fileOffset: UInt64,
                device: String, inode: UInt64, path: String) {
        self.start = start
        self.end = end
        self.permissions = permissions
        self.fileOffset = fileOffset
        self.device = device
        self.inode = inode
        self.path = path
    }

    public var isExecutable: Bool { permissions.dropFirst(2).first == "x" }
    /// Backed by a file (not anonymous memory or a pseudo-mapping such as `[stack]`).
    public var isFileBacked: Bool { inode != 0 && path.hasPrefix("/") }
    /// The file was deleted or replaced after it was mapped.
    public var isDeleted: Bool { path.hasSuffix(" (deleted)") }

    /// The path without the kernel's ` (deleted)` marker.
    public var filePath: String {
        isDeleted ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// The file name alone, used for unresolved frames (`libc.so.6+0x1234`).
    public var moduleName: String {
        let path = filePath
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// Parses one line of /proc/PID/maps; nil if the line is not in that format.
    public init?(mapsLine line: Substring) {
        var line = String(line)
        guard let mapping = line.withUTF8({ MemoryMapping(mapsLine: $0) }) else { return nil }
        self = mapping
    }

    /// Parses one line from its bytes. Maps are re-read often (every new process, several
    /// times while the loader maps its libraries): this reads fields in place instead of
    /// splitting strings.
    init?(mapsLine line: UnsafeBufferPointer<UInt8>) {
        // 55d0c8a00000-55d0c8a02000 r-xp 00002000 fe:01 1234567    /usr/bin/app
        var index = 0
        func skipSpaces() { while index < line.count && line[index] == UInt8(ascii: " ") { index += 1 } }
        func field(until end: UInt8 = UInt8(ascii: " ")) -> UnsafeBufferPointer<UInt8> {
            let start = index
            while index < line.count && line[index] != end { index += 1 }
            defer { if index < line.count { index += 1 } }
            return UnsafeBufferPointer(rebasing: line[start..<index])
        }
        func number(_ bytes: UnsafeBufferPointer<UInt8>, radix: UInt64) -> UInt64? {
            guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
            var value: UInt64 = 0
            for byte in bytes {
                let digit: UInt64
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
                default: return nil
                }
                value = value &* radix &+ digit
            }
            return value
        }
        guard let start = number(field(until: UInt8(ascii: "-")), radix: 16),
              let end = number(field(), radix: 16), start < end else { return nil }
        let permissions = field()
        guard permissions.count == 4, let offset = number(field(), radix: 16) else { return nil }
        let device = field()
        guard !device.isEmpty, let inode = number(field(), radix: 10) else { return nil }
        skipSpaces()
        self.init(start: start, end: end, permissions: String(decoding: permissions, as: UTF8.self),
                  fileOffset: offset, device: String(decoding: device, as: UTF8.self), inode: inode,
                  path: String(decoding: UnsafeBufferPointer(rebasing: line[index...]), as: UTF8.self))
    }
}

/// A process's address space as /proc/PID/maps lists it, sorted by address.
public struct MemoryMap: Sendable {
    public private(set) var mappings: [MemoryMapping]

    public init(mappings: [MemoryMapping]) {
        self.mappings = mappings.sorted { $0.start < $1.start }
    }

    /// Parses the text of /proc/PID/maps; lines that do not parse are skipped.
    public init(parsing text: String) {
        var text = text
        self.init(bytes: text.withUTF8 { Array($0) })
    }

    /// Parses /proc/PID/maps as read; lines that do not parse are skipped.
    public init(bytes: [UInt8]) {
        var mappings: [MemoryMapping] = []
        bytes.withUnsafeBufferPointer { bytes in
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                if let mapping = MemoryMapping(mapsLine: UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])) {
                    mappings.append(mapping)
                }
                lineStart = lineEnd + 1
            }
        }
        self.init(mappings: mappings)
    }

    /// The mapping that contains `address`.
    public func mapping(containing address: UInt64) -> MemoryMapping? {
        var low = 0
        var high = mappings.count
        while low < high {
            let mid = (low + high) / 2
            if mappings[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, mappings[low - 1].contains(address) else { return nil }
        return mappings[low - 1]
    }

    /// Adds mappings from a newer reading, keeping older ones that do not overlap them:
    /// addresses sampled before an unmap still resolve.
    public mutating func update(with newer: MemoryMap) {
        var merged = newer.mappings
        for old in mappings where !newer.mappings.contains(where: { $0.start < old.end && old.start < $0.end }) {
            merged.append(old)
        }
        self = MemoryMap(mappings: merged)
    }
}
