import CZlib

/// gzip streams through zlib, for pprof files (which are gzip-compressed protobuf).
enum Gzip {
    /// Whether `bytes` start with the gzip magic number.
    static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Compresses `input` as one gzip member. Level 1, as Go's `runtime/pprof` writes
    /// profiles: the profile is written once and read rarely, and more effort buys little
    /// on data this repetitive.
    static func compress(_ input: [UInt8], level: Int32 = 1) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { fatalError("zlib: deflateInit2 failed (out of memory)") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        let written: Int = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = uInt(destination.count)
                // The output has room for the bound: one call finishes.
                let result = deflate(&stream, Z_FINISH)
                precondition(result == Z_STREAM_END, "zlib: deflate did not finish within its bound")
                return destination.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses every gzip member of `input` (`gzip` concatenates them) into at most
    /// `limit` bytes; a damaged or truncated stream is an error that says where.
    static func decompress(_ input: [UInt8], name: String, limit: Int = 1 << 31) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(min(input.count * 4, limit))
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        var consumed = 0
        while consumed < input.count {
            var stream = z_stream()
            // windowBits 15 + 32: a gzip or a zlib header, detected.
            guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ProfileInputError("\(name): cannot start zlib")
            }
            defer { inflateEnd(&stream) }
            var finished = false
            try input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + consumed)
                stream.avail_in = uInt(source.count - consumed)
                while !finished {
                    let result: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                        stream.next_out = buffer.baseAddress
                        stream.avail_out = uInt(buffer.count)
                        return inflate(&stream, Z_NO_FLUSH)
                    }
                    let produced = chunk.count - Int(stream.avail_out)
                    guard output.count + produced <= limit else {
                        throw ProfileInputError("\(name): decompresses to more than \(limit >> 20) MiB")
                    }
                    output.append(contentsOf: chunk[0..<produced])
                    switch result {
                    case Z_STREAM_END:
                        finished = true
                    case Z_OK:
                        break
                    case Z_BUF_ERROR where stream.avail_in == 0:
                        throw ProfileInputError(
                            "\(name): truncated gzip data (input ends at byte \(source.count), "
                                + "\(output.count) bytes decompressed)")
                    default:
                        let message = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                        throw ProfileInputError(
                            "\(name): damaged gzip data near byte \(source.count - Int(stream.avail_in)): \(message)")
                    }
                }
                consumed = source.count - Int(stream.avail_in)
            }
            // Trailing zero padding after the last member is tolerated, as gzip does.
            if input[consumed...].allSatisfy({ $0 == 0 }) { break }
        }
        return output
    }
}
