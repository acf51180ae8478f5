import CFuzzer
#if canImport(Glibc)
import Glibc
#endif

/// Hands the process to libFuzzer with `body` as the code under test, one input at a time.
/// SwiftPM gives every executable a main of its own, so libFuzzer's driver is called from it;
/// `body` is also exported as `LLVMFuzzerTestOneInput`, which libFuzzer's own main would call.
public func runFuzzer(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}

/// The bytes of one input (libFuzzer may hand an empty one as a null pointer).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}
