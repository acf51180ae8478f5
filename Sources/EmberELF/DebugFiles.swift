import CLibElf
#if canImport(Glibc)
import Glibc
#endif

/// Finds the separate debug file of an ELF file wherever distributions put it: by build id
/// under `.build-id/xx/rest.debug`, by `.gnu_debuglink` (CRC-checked) next to the file, in
/// its `.debug/` directory and under the debug roots. Paths are the target's: `root` (such
/// as /proc/PID/root) is put in front of them, so containers work. The symbolizer (names)
/// and the unwinder (frame tables) both look through one locator.
public struct DebugFileLocator: Sendable {
    /// The target's root directory ("" for the host's).
    public var root: String
    /// Extra debug roots (`--debug-dir`), host paths, searched first.
    public var extraDirectories: [String]

    public init(root: String = "", extraDirectories: [String] = []) {
        self.root = root
        self.extraDirectories = extraDirectories
    }

    private var debugRoots: [String] { extraDirectories + [root + "/usr/lib/debug"] }

    /// The separate debug file of `file`, whose path in the target is `targetPath`, among
    /// those `accept` takes (by default: one with DWARF or a symbol table).
    public func debugFile(
        for file: ELFFile, targetPath: String, accepting accept: (ELFFile) -> Bool = DebugFileLocator.hasDebugData
    ) -> ELFFile? {
        debugFile(buildID: file.buildID, debugLink: file.debugLink, targetPath: targetPath,
                  excluding: file.identity, accepting: accept)
    }

    /// The debug file of a file known by its build id and debug link (as libdwfl hands
    /// them over), never the file itself (`excluding` its device and inode).
    public func debugFile(
        buildID: [UInt8]?, debugLink: (name: String, crc: UInt32)?, targetPath: String,
        excluding own: (device: UInt64, inode: UInt64)? = nil,
        accepting accept: (ELFFile) -> Bool = DebugFileLocator.hasDebugData
    ) -> ELFFile? {
        func isItself(_ candidate: ELFFile) -> Bool {
            guard let own, let other = candidate.identity else { return false }
            return own == other
        }
        if let buildID, buildID.count >= 2 {
            let hex = buildID.hexString
            let relative = "/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            for directory in debugRoots {
                guard let candidate = try? ELFFile(path: directory + relative), !isItself(candidate),
                      candidate.buildID == buildID, accept(candidate)
                else { continue }
                return candidate
            }
        }
        if let link = debugLink, !link.name.contains("/") {
            let directory = targetPath.lastIndex(of: "/").map { String(targetPath[..<$0]) } ?? ""
            var candidates = [
                root + directory + "/" + link.name,
                root + directory + "/.debug/" + link.name,
            ]
            for debugRoot in debugRoots {
                candidates.append(debugRoot + directory + "/" + link.name)
            }
            for extra in extraDirectories { candidates.append(extra + "/" + link.name) }
            for path in candidates {
                guard let candidate = try? ELFFile(path: path), !isItself(candidate), accept(candidate) else { continue }
                // The CRC says it is the debug file of this very build, not of another version
                // (checked last: it reads the whole file).
                guard candidate.contentsCRC() == link.crc else { continue }
                return candidate
            }
        }
        return nil
    }

    /// Whether a debug file has anything to name functions with.
    public static func hasDebugData(_ file: ELFFile) -> Bool {
        file.hasDWARF || file.section(named: ".symtab") != nil
    }

    /// Whether a debug file has a frame table of its own (`.debug_frame`), which unwinding
    /// needs where `.eh_frame` (kept in the binary) does not cover a function.
    public static func hasFrameTable(_ file: ELFFile) -> Bool {
        file.section(named: ".debug_frame") != nil || file.section(named: ".zdebug_frame") != nil
    }
}

/// MiniDebugInfo: an xz-compressed ELF in `.gnu_debugdata` holding the `.symtab` entries
/// that `.dynsym` lacks (Fedora and others ship binaries this way).
public enum MiniDebugInfo {
    public static func image(of file: ELFFile) -> ELFFile? {
        guard let compressed = file.sectionBytes(named: ".gnu_debugdata"),
              let bytes = decompressXZ(compressed)
        else { return nil }
        return try? ELFFile(image: bytes, name: file.path + "[.gnu_debugdata]")
    }

    /// Decodes an .xz stream with liblzma; nil if it is not one, is damaged, or would
    /// decode to more than 1 GiB.
    public static func decompressXZ(_ input: [UInt8]) -> [UInt8]? {
        var stream = lzma_stream()  // all zero is LZMA_STREAM_INIT
        guard lzma_stream_decoder(&stream, UInt64.max, 0) == LZMA_OK else { return nil }
        defer { lzma_end(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return input.withUnsafeBufferPointer { source -> [UInt8]? in
            stream.next_in = source.baseAddress
            stream.avail_in = source.count
            while true {
                let result: lzma_ret = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = buffer.count
                    return lzma_code(&stream, LZMA_FINISH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - stream.avail_out)])
                if result == LZMA_STREAM_END { return output }
                guard result == LZMA_OK, output.count < 1 << 30 else { return nil }
            }
        }
    }
}
