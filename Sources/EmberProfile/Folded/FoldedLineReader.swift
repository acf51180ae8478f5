#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lines of a folded input, pulled one at a time and read in chunks, so that memory
/// stays small: everything a file descriptor gives until its end, or one byte range of a
/// regular file (two threads can each read their part of the same file).
public final class FoldedLineReader {
    /// The input's name in messages (a path, `-` for standard input).
    public let name: String
    /// The 1-based number of the line `next()` returned last, counted from where reading began.
    public private(set) var lineNumber = 0

    private let fd: Int32
    private let ownsDescriptor: Bool
    /// The next offset to read with `pread`, and where the range ends (nil: `read` to the end).
    private var offset: Int
    private let end: Int?
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var filled = 0
    /// The start of the bytes not handed out yet, and how far they were searched for `\n`.
    private var lineStart = 0
    private var searched = 0
    private var reachedEnd = false

    /// Opens `path` (`-` is standard input) to read it whole.
    public convenience init(path: String) throws {
        if path == "-" {
            self.init(fileDescriptor: 0, name: path, range: nil, ownsDescriptor: false)
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ProfileInputError("cannot open \(path): \(FoldedParser.errorText())") }
        self.init(fileDescriptor: fd, name: path, range: nil, ownsDescriptor: true)
    }

    /// Reads `fd` from where it is to its end (`range` nil), or only the bytes of `range`,
    /// with `pread`, leaving the descriptor's offset alone, `chunk` bytes at a time (more
    /// for a longer line). Lines are counted from the start of `range`. The descriptor is
    /// closed with the reader when it owns it.
    public convenience init(
        fileDescriptor fd: Int32, name: String, range: Range<Int>? = nil, ownsDescriptor: Bool = false,
        chunk: Int = 1 << 20
    ) {
        let capacity = min(chunk, max(range?.count ?? .max, 1))
        self.init(fd: fd, name: name, range: range, ownsDescriptor: ownsDescriptor, buffer: .allocate(capacity: capacity),
                  capacity: capacity, filled: 0)
    }

    /// Reads `fd` to its end, after `prefix`: bytes already read from it (to tell its
    /// format, say).
    public convenience init(fileDescriptor fd: Int32, name: String, prefix: [UInt8], ownsDescriptor: Bool,
                            chunk: Int = 1 << 20) {
        let capacity = max(chunk, prefix.count * 2)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        prefix.withUnsafeBufferPointer { if let base = $0.baseAddress { buffer.update(from: base, count: prefix.count) } }
        self.init(fd: fd, name: name, range: nil, ownsDescriptor: ownsDescriptor, buffer: buffer,
                  capacity: capacity, filled: prefix.count)
    }

    /// A reader of bytes held in memory.
    public convenience init<Bytes: Collection>(bytes: Bytes, name: String) where Bytes.Element == UInt8 {
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        let filled = copy.initialize(fromContentsOf: bytes)
        self.init(fd: -1, name: name, range: 0..<0, ownsDescriptor: false, buffer: copy.baseAddress!,
                  capacity: copy.count, filled: filled)
    }

    private init(
        fd: Int32, name: String, range: Range<Int>?, ownsDescriptor: Bool,
        buffer: UnsafeMutablePointer<UInt8>, capacity: Int, filled: Int
    ) {
        self.fd = fd
        self.name = name
        self.ownsDescriptor = ownsDescriptor
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound
        self.buffer = buffer
        self.capacity = capacity
        self.filled = filled
        self.reachedEnd = range?.isEmpty ?? false
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// The next line without its `\n`, valid until the next call; nil at the end.
    public func next() throws -> UnsafeBufferPointer<UInt8>? {
        while true {
            if let hit = memchr(buffer + searched, 0x0A, filled - searched) {
                let newline = buffer.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                return take(upTo: newline, skipping: 1)
            }
            searched = filled
            if reachedEnd {
                return lineStart < filled ? take(upTo: filled, skipping: 0) : nil
            }
            try refill()
        }
    }

    private func take(upTo lineEnd: Int, skipping separator: Int) -> UnsafeBufferPointer<UInt8> {
        let line = UnsafeBufferPointer(start: buffer + lineStart, count: lineEnd - lineStart)
        lineStart = lineEnd + separator
        searched = lineStart
        lineNumber += 1
        return line
    }

    /// Moves the unread bytes to the front and reads more after them.
    private func refill() throws {
        if lineStart > 0 {
            let rest = filled - lineStart
            if rest > 0 { memmove(buffer, buffer + lineStart, rest) }
            filled = rest
            searched -= lineStart
            lineStart = 0
        }
        if filled == capacity {
            // A line longer than the buffer: grow it rather than split the line.
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: filled)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        let got: Int
        if let end {
            got = pread(fd, buffer + filled, min(capacity - filled, end - offset), off_t(offset))
        } else {
            got = read(fd, buffer + filled, capacity - filled)
        }
        if got < 0 {
            if errno == EINTR { return }
            throw ProfileInputError("cannot read \(name): \(FoldedParser.errorText())")
        }
        filled += got
        offset += got
        // A file that shrank while being read simply ends early.
        if got == 0 || offset == end { reachedEnd = true }
    }
}
