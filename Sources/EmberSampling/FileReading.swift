import SystemPackage

/// Reads a whole file, including /proc and /sys files whose size reads as 0.
func readSmallFile(_ path: String) throws -> String {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
    defer { try? fd.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
