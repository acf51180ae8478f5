import EmberSampling
#if canImport(Glibc)
import Glibc
#endif

/// Call stacks walked by the kernel (`bpf_get_stackid`): frame pointers for user code,
/// the kernel's own unwinder (ORC here) for kernel code. This stage turns the stack ids
/// of the counts map into address lists, classifies what is missing, and puts back the
/// caller a frame-pointer walk skips when the sampled function has not set up its frame.
public enum FramePointerStacks {
    /// What the frameless-leaf fix did, for the report.
    public struct LeafFixStatistics: Sendable, Equatable {
        /// Samples whose function had not set up its frame and got its caller back.
        public var restored: UInt64 = 0
        /// Samples whose function had not set up its frame, but whose return address was
        /// not among the recorded stack words: the caller may be missing.
        public var unrecoverable: UInt64 = 0
        public init() {}
    }

    /// The call stacks of a recording, one per distinct key.
    ///
    /// - Parameter leafFix: the processes' CFI, which tells whether the sampled function
    ///   had set up its frame. Without it, stacks are left as the kernel walked them.
    public static func callStacks(
        from samples: RawSamples,
        leafFix: FramelessLeafFix? = nil,
        statistics: inout LeafFixStatistics
    ) -> [CallStack] {
        samples.counts.map { key, count in
            var user = half(key.userStackID, samples.stacks)
            if let leafFix, case .frames(let frames) = user {
                user = .frames(restoringFramelessCaller(
                    frames, pid: key.pid, stackWords: key.stackWords, leafFix: leafFix,
                    count: count, statistics: &statistics))
            }
            return CallStack(
                pid: key.pid, tid: key.tid, threadName: key.comm, user: user,
                kernel: half(key.kernelStackID, samples.stacks), count: count)
        }
    }

    /// The frameless-leaf fix: if the CFI says the sampled function had not set up its
    /// frame, its return address is one of the stack words at the stack pointer, and the
    /// walk (which started from rbp, still the caller's frame) skipped the caller: put it
    /// back between the leaf and the caller's caller.
    public static func restoringFramelessCaller(
        _ frames: [UInt64], pid: pid_t, stackWords: [UInt64], leafFix: FramelessLeafFix, count: UInt64,
        statistics: inout LeafFixStatistics
    ) -> [UInt64] {
        guard let leaf = frames.first, let slot = leafFix.returnAddressSlot(pid: pid, at: leaf) else {
            return frames
        }
        guard slot < stackWords.count, stackWords[slot] != 0, leafFix.isCodeAddress(pid: pid, stackWords[slot]) else {
            statistics.unrecoverable += count
            return frames
        }
        statistics.restored += count
        return insertingCaller(stackWords[slot], into: frames)
    }

    /// The stack with `returnAddress` as the leaf's caller.
    static func insertingCaller(_ returnAddress: UInt64, into frames: [UInt64]) -> [UInt64] {
        guard frames.count < 2 || frames[1] != returnAddress else { return frames }
        var fixed = frames
        fixed.insert(returnAddress, at: 1)
        return fixed
    }

    static func half(_ id: Int32, _ stacks: [Int32: [UInt64]]) -> StackHalf {
        let efault: Int32 = 14, eexist: Int32 = 17
        switch id {
        case 0...:
            guard let frames = stacks[id], !frames.isEmpty else { return .lost(.missing) }
            return .frames(frames)
        case -efault: return .absent
        case -eexist: return .lost(.stackMapCollision)
        default: return .lost(.error(-id))
        }
    }
}
