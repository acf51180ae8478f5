extension Int64 {
    /// The nearest Int64 to `value` (0 for NaN): values read from files are unbounded, and
    /// Swift's own conversion traps past 64 bits.
    init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.2e18 {
            self = .max
        } else if value <= -9.2e18 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}
