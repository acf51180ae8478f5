import CEmberShim

/// Call stacks from the CPU's Last Branch Record in call-stack mode, where the hardware
/// keeps one record per call not yet returned from, most recent first.
public enum BranchRecordStacks {
    /// One branch record: the call instruction's address and its target.
    public struct Record: Hashable, Sendable {
        public var from: UInt64
        public var to: UInt64
        public init(from: UInt64, to: UInt64) {
            self.from = from
            self.to = to
        }
    }

    /// The stack, innermost first (the sampled address, then one address per open call,
    /// each the call site itself), from the sampled address and the call-stack records.
    ///
    /// Records are read most recent first. A record whose target does not lead back to the
    /// previous frame's function can't be told apart here; zeroed (unused) records end the
    /// stack, so a buffer that is not full yields only the calls it holds.
    public static func callStack(instructionPointer: UInt64, records: [Record]) -> [UInt64] {
        var stack = [instructionPointer]
        for record in records {
            guard record.from != 0 || record.to != 0 else { break }
            // The call site plus one stands for the return address, as in other stacks:
            // the symbolizer looks callers up one byte earlier.
            stack.append(record.from &+ 1)
        }
        return stack
    }

    /// The records in a sample's bytes: `struct perf_branch_entry` as the kernel writes
    /// them (from, to, then a word of flags), most recent first.
    public static func records(in bytes: UnsafeRawBufferPointer) -> [Record] {
        let size = Int(EMBER_BRANCH_RECORD_SIZE)
        return (0..<(bytes.count / size)).map { index in
            Record(from: bytes.loadUnaligned(fromByteOffset: index * size, as: UInt64.self),
                   to: bytes.loadUnaligned(fromByteOffset: index * size + 8, as: UInt64.self))
        }
    }

    /// Why `--unwind lbr` cannot be used here, or nil if it can.
    public static func unavailabilityReason(probeResult: Int32) -> String? {
        guard probeResult != 0 else { return nil }
        let code = -probeResult
        switch code {
        case 2, 19, 95:  // ENOENT, ENODEV, EOPNOTSUPP
            return "this CPU exposes no Last Branch Record call stacks (no hardware PMU with LBR, "
                + "as in most virtual machines): use --unwind dwarf or --unwind fp"
        case 1, 13:  // EPERM, EACCES
            return "not permitted to open hardware perf events for LBR: run as root or grant CAP_PERFMON"
        default:
            return "LBR call stacks are unavailable (perf_event_open failed with errno \(code)): "
                + "use --unwind dwarf or --unwind fp"
        }
    }
}
