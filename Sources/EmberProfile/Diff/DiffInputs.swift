#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import EmberSystem

/// The two folded inputs of a comparison, read into one tree with both counts.
///
/// Folded files list their stacks sorted, so BEFORE and AFTER are read together as a merge
/// of two sorted lists: a stack that is in both profiles comes twice in a row, and the
/// second time it shares every frame with the first and needs no lookup. Regular files
/// are also cut into parts at the same stack in both files, one part per core; each part
/// becomes its own tree on its own thread. Being sorted, the parts share only the frames
/// along the cuts, so merging their trees is mostly appending.
///
/// Unsorted input gives the same tree, only more slowly.
struct DiffInputs {
    let before: FoldedFile
    let after: FoldedFile

    init(beforePath: String, afterPath: String) throws {
        before = try FoldedFile(path: beforePath)
        after = try FoldedFile(path: afterPath)
    }

    /// Reads both inputs in `parts` parts at most: by default one per core, and one for
    /// small inputs, where a second thread costs more than it saves.
    func read(transform: StackTransform, parts: Int? = nil) throws -> (tree: FrameTree, report: FoldedParseReport) {
        let allBytes = (before.size ?? 0) + (after.size ?? 0)
        var parts = parts ?? (allBytes < 1 << 20 ? 1 : min(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1), 8))
        // A flame chart keeps the input's order: its trees cannot be merged.
        if transform.flameChart { parts = 1 }
        let ranges = try cuts(parts: parts)
        let background = ranges.dropFirst().map { ranges in
            BackgroundWork { [before, after] in
                try Self.readPart(
                    before.lines(in: ranges.before), after.lines(in: ranges.after), transform: transform,
                    reservingFor: ranges.before.count + ranges.after.count)
            }
        }
        // The first part's tree becomes the whole tree: it has room for every part.
        let first = Result {
            try Self.readPart(
                before.lines(in: ranges.first?.before), after.lines(in: ranges.first?.after),
                transform: transform, reservingFor: allBytes)
        }
        if case .success(let (tree, _, _)) = first, let firstRange = ranges.first {
            // While the other parts finish, have the memory their nodes will be copied into
            // mapped, as much as this part's took for its bytes.
            let firstBytes = max(firstRange.before.count + firstRange.after.count, 1)
            let otherBytes = allBytes - firstBytes
            tree.prefault(nodes: tree.nodeCount * otherBytes / firstBytes,
                          nameBytes: tree.nameByteCount * otherBytes / firstBytes)
        }
        let rest = background.map { Result(catching: $0.wait) }
        // Consumed, so that the tree's arrays have one owner and merging does not copy them.
        var (tree, beforeReport, afterReport) = try (consume first).get()
        var merged: [FrameTree] = []
        for part in rest {
            let (partTree, partBefore, partAfter) = try part.get()
            tree.merge(partTree)
            merged.append(partTree)
            beforeReport.add(continuation: partBefore)
            afterReport.add(continuation: partAfter)
        }
        // Unmapping the merged trees' memory takes milliseconds: it is done on another thread.
        DispatchQueue.global().async { [merged] in _ = merged }
        beforeReport.add(afterReport)
        return (tree, beforeReport)
    }

    /// Byte ranges of both files that cut them at the same stacks into at most `parts` parts
    /// of about equal size (by BEFORE's bytes). None (read both whole) when either input
    /// cannot be read in parts: standard input, a pipe.
    func cuts(parts: Int) throws -> [(before: Range<Int>, after: Range<Int>)] {
        guard let beforeSize = before.size, let afterSize = after.size, parts > 1 else { return [] }
        var cuts: [(before: Int, after: Int)] = [(0, 0)]
        for part in 1..<parts {
            let cut = try before.lineStart(atOrAfter: beforeSize / parts * part)
            guard cut > cuts.last!.before, cut < beforeSize else { continue }
            let stack = try before.stack(atLine: cut)
            cuts.append((cut, try after.firstLine(notBefore: stack, from: cuts.last!.after)))
        }
        cuts.append((beforeSize, afterSize))
        return zip(cuts, cuts.dropFirst()).map { ($0.before..<$1.before, $0.after..<$1.after) }
    }

    /// Reads the lines of one part of BEFORE and AFTER, in stack order, into a tree.
    static func readPart(
        _ before: FoldedLineReader, _ after: FoldedLineReader, transform: StackTransform, reservingFor bytes: Int
    ) throws -> (FrameTree, before: FoldedParseReport, after: FoldedParseReport) {
        var builder = FrameTreeBuilder(transform: transform)
        builder.reserveCapacity(forInputBytes: bytes)
        builder.keepBeforeCounts()
        var beforeReport = FoldedParseReport()
        var afterReport = FoldedParseReport()
        var nextBefore = try nextStack(before, &beforeReport)
        var nextAfter = try nextStack(after, &afterReport)
        while true {
            // On equal stacks BEFORE's goes first; AFTER's then shares all of its frames.
            if let (stack, count) = nextBefore, nextAfter.map({ !precedes($0.stack, stack) }) ?? true {
                builder.addStack(stack, after: 0, before: count * transform.factor)
                nextBefore = try nextStack(before, &beforeReport)
            } else if let (stack, count) = nextAfter {
                builder.addStack(stack, after: count * transform.factor, before: 0)
                nextAfter = try nextStack(after, &afterReport)
            } else {
                break
            }
        }
        return (builder.finishTree(), beforeReport, afterReport)
    }

    /// The next stack line's stack and count (its last number), counting every line read.
    /// The stack's bytes are valid until the reader's next line.
    private static func nextStack(
        _ reader: FoldedLineReader, _ report: inout FoldedParseReport
    ) throws -> (stack: UnsafeBufferPointer<UInt8>, count: Double)? {
        while let line = try reader.next() {
            let kind = FoldedParser.parseLine(line)
            report.record(kind, line: reader.lineNumber, source: reader.name)
            if case .stack(let parsed) = kind {
                return (UnsafeBufferPointer(rebasing: line[0..<parsed.stackLength]), parsed.count)
            }
        }
        return nil
    }

    static func precedes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let empty = UnsafePointer<UInt8>(bitPattern: 1)!
        return ByteString.stackPrecedes(a.baseAddress ?? empty, a.count, b.baseAddress ?? empty, b.count)
    }
}

/// One open folded input of a comparison.
final class FoldedFile: @unchecked Sendable {
    let path: String
    private let fd: Int32
    /// The size of a regular file, which can be read in parts; nil for standard input or a pipe.
    let size: Int?

    init(path: String) throws {
        self.path = path
        if path == "-" {
            fd = 0
            size = nil
            return
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ProfileInputError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var status = stat()
        size = fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFREG ? Int(status.st_size) : nil
    }

    deinit {
        if fd != 0 { close(fd) }
    }

    /// A reader of the lines in `range`, or of everything when nil.
    func lines(in range: Range<Int>?) -> FoldedLineReader {
        FoldedLineReader(fileDescriptor: fd, name: path, range: range)
    }

    /// The first line that starts at or after `offset` (the size when none does).
    func lineStart(atOrAfter offset: Int) throws -> Int {
        guard offset > 0, let size else { return 0 }
        guard offset <= size else { return size }
        // The line that holds the byte before `offset` ends just before the next one starts.
        guard let line = try probe(from: offset - 1).next() else { return size }
        return min(offset + line.count, size)
    }

    /// The stack of the line that starts at `start` (the whole line if it has no stack).
    func stack(atLine start: Int) throws -> [UInt8] {
        let reader = probe(from: start)
        // The line lives in the reader's buffer.
        return try withExtendedLifetime(reader) {
            guard let line = try reader.next() else { return [] }
            guard case .stack(let parsed) = FoldedParser.parseLine(line) else { return Array(line) }
            return Array(line[..<parsed.stackLength])
        }
    }

    /// A reader from `start` to the end in small chunks: the cuts read a line here and there.
    private func probe(from start: Int) -> FoldedLineReader {
        FoldedLineReader(fileDescriptor: fd, name: path, range: start..<max(start, size ?? 0), chunk: 4096)
    }

    /// The first line at or after the line start `lower` whose stack does not precede
    /// `stack`, found by bisection (the lines being sorted).
    func firstLine(notBefore stack: [UInt8], from lower: Int) throws -> Int {
        // Every line that starts before `low` precedes `stack`; the answer is in low...high.
        var low = lower
        var high = size ?? 0
        while low < high {
            var middle = try lineStart(atOrAfter: low + (high - low) / 2)
            if middle >= high { middle = low }  // no line starts in the upper half
            let middleStack = try self.stack(atLine: middle)
            let precedes = middleStack.withUnsafeBufferPointer { a in
                stack.withUnsafeBufferPointer { b in DiffInputs.precedes(a, b) }
            }
            if precedes { low = try lineStart(atOrAfter: middle + 1) } else { high = middle }
        }
        return low
    }
}
