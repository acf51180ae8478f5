import EmberSystem

/// The one-line progress display on a terminal's stderr.
struct StatusLine {
    let enabled: Bool

    func show(elapsed: Double, duration: Double?, samples: UInt64) {
        guard enabled else { return }
        let limit = duration.map { " / \(formatSeconds($0))" } ?? " (Ctrl-C to stop)"
        writeStandardError("\r\u{1B}[Kember: recording \(formatSeconds(elapsed))\(limit), \(formatCount(samples)) samples")
    }

    func clear() {
        if enabled { writeStandardError("\r\u{1B}[K") }
    }
}

/// A warning on standard error; the command goes on.
func warn(_ message: String) {
    writeStandardError("ember: warning: \(message)\n")
}

/// 12.34 → "12.3 s".
func formatSeconds(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}

/// 2970 → "2,970".
func formatCount<T: BinaryInteger>(_ value: T) -> String {
    let digits = Array(String(value))
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 && digit != "-" && digits[index - 1] != "-" {
            result.append(",")
        }
        result.append(digit)
    }
    return result
}

/// Seconds with three decimals: 0.005 → "0.005".
func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

/// 1_234_567_890 ns → "1,234.568 ms".
func formatMilliseconds(_ nanoseconds: UInt64) -> String {
    let milliseconds = nanoseconds / 1_000_000
    let fraction = String((nanoseconds % 1_000_000) / 1000)
    return formatCount(milliseconds) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + " ms"
}

/// A duration as --min-block takes it: 1000 → "1us".
func formatNanoseconds(_ nanoseconds: UInt64) -> String {
    if nanoseconds >= 1_000_000_000, nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
    if nanoseconds >= 1_000_000, nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
    if nanoseconds >= 1000, nanoseconds % 1000 == 0 { return "\(nanoseconds / 1000)us" }
    return "\(nanoseconds)ns"
}
