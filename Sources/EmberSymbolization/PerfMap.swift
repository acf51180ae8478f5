import EmberELF
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// A perf map (`/tmp/perf-PID.map`), which JIT compilers write to name generated code:
/// one `START SIZE name` line per function, addresses in hexadecimal.
public struct PerfMap: Sendable {
    struct Entry {
        var start: UInt64
        var end: UInt64
        var name: String
    }

    private var entries: [Entry]

    public var count: Int { entries.count }

    public init(parsing text: String) {
        var entries: [Entry] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard fields.count == 3,
                  let start = UInt64(fields[0].hasPrefix("0x") ? fields[0].dropFirst(2) : fields[0], radix: 16),
                  let size = UInt64(fields[1].hasPrefix("0x") ? fields[1].dropFirst(2) : fields[1], radix: 16),
                  size > 0
            else { continue }
            entries.append(Entry(start: start, end: start &+ size, name: String(fields[2])))
        }
        // Later lines win: a JIT reusing an address range writes the new name after the old.
        var indexed = Array(entries.enumerated())
        indexed.sort { $0.element.start != $1.element.start ? $0.element.start < $1.element.start : $0.offset > $1.offset }
        var unique: [Entry] = []
        for (_, entry) in indexed where unique.last?.start != entry.start { unique.append(entry) }
        self.entries = unique
    }

    /// The name of the code containing `address`.
    public func lookup(_ address: UInt64) -> String? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, address < entries[low - 1].end else { return nil }
        return entries[low - 1].name
    }
}

/// A perf map file, read again when it has grown (JITs append as they compile).
final class PerfMapSource {
    let path: String
    private(set) var map = PerfMap(parsing: "")
    private var size: Int = -1

    init(path: String) {
        self.path = path
        reloadIfGrown()
    }

    /// Re-reads the file if its size changed; true if it did. A vanished file (the process
    /// exited) keeps the last reading.
    @discardableResult
    func reloadIfGrown() -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) != size,
              let bytes = try? FileContents.read(path)
        else { return false }
        size = bytes.count
        map = PerfMap(parsing: String(decoding: bytes, as: UTF8.self))
        return true
    }
}
