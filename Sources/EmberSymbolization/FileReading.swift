import SystemPackage

/// Reads a whole file, including /proc files whose size reads as 0.
func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
    defer { try? fd.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}
