import Foundation

/// CPython interpreters on this machine, for tests of Python frames: Debian's
/// /usr/bin/python3.X and pyenv's builds ($PYENV_ROOT, else /root/.pyenv).
public enum Pythons {
    /// pyenv's python3.X (the newest patch release installed), or nil.
    public static func pyenv(_ version: String) -> String? {
        let root = ProcessInfo.processInfo.environment["PYENV_ROOT"] ?? "/root/.pyenv"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/versions")) ?? []
        return versions.filter { $0 == version || $0.hasPrefix(version + ".") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
            .map { "\(root)/versions/\($0)/bin/python\(version)" }
            .last { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Debian's python3.X, or nil.
    public static func system(_ version: String) -> String? {
        let path = "/usr/bin/python\(version)"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// samples/python/NAME.
    public static func sample(_ name: String) -> String {
        packageRoot.appendingPathComponent("samples/python/\(name)").path
    }

    /// The line in samples/python/NAME that holds `text` (1-based), for checking positions
    /// against the source rather than numbers copied into a test.
    public static func line(of text: String, in name: String) throws -> Int {
        let source = try String(contentsOfFile: sample(name), encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(where: { $0.contains(text) }) else {
            throw NSError(domain: "Pythons", code: 1, userInfo: [NSLocalizedDescriptionKey: "no \(text) in \(name)"])
        }
        return index + 1
    }
}

extension FileHandle {
    /// The next line (without its newline) read a byte at a time: a workload's "ready".
    public func availableDataUntilNewline() -> String {
        var bytes: [UInt8] = []
        while true {
            let data = readData(ofLength: 1)
            guard let byte = data.first, byte != 10 else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
