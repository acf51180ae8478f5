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
        // 55d0c8a00000-55d0c8a02000 r-xp 00002000 fe:01 1234567    /usr/bin/app
        var fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)[...]
        guard fields.count >= 5 else { return nil }
        let range = fields.removeFirst().split(separator: "-")
        guard range.count == 2,
              let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
              start < end
        else { return nil }
        let permissions = String(fields.removeFirst())
        guard permissions.count == 4, let offset = UInt64(fields.removeFirst(), radix: 16) else {
            return nil
        }
        let device = String(fields.removeFirst())
        guard let inode = UInt64(fields.removeFirst()) else { return nil }
        let path = fields.first.map { String($0.drop(while: { $0 == " " })) } ?? ""
        self.init(start: start, end: end, permissions: permissions, fileOffset: offset,
                  device: device, inode: inode, path: path)
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
        self.init(mappings: text.split(separator: "\n").compactMap { MemoryMapping(mapsLine: $0) })
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
