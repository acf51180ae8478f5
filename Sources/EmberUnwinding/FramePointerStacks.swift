import CEmberShim
import EmberSampling
#if canImport(Glibc)
import Glibc
#endif

/// Call stacks walked by the kernel (`bpf_get_stackid`): frame pointers for user code,
/// the kernel's own unwinder (ORC here) for kernel code; and user stacks the BPF program
/// walked by CFI (``KernelUnwindTables``), which need no fix. This stage turns the stack ids
/// of the counts map into address lists, classifies what is missing, and puts back the
/// caller a frame-pointer walk skips when the sampled function has not set up its frame.
public enum FramePointerStacks {
    /// What the frameless-leaf fix and the loop check did, for the report.
    public struct Statistics: Sendable, Equatable {
        /// Samples whose function had not set up its frame and got its caller back.
        public var restored: UInt64 = 0
        /// Samples whose function had not set up its frame, but whose return address was
        /// not among the recorded stack words: the caller may be missing.
        public var unrecoverable: UInt64 = 0
        /// Samples whose stack went round in place (see ``cuttingRepeats(_:)``).
        public var wentRound: UInt64 = 0
        public init() {}
    }

    /// The kernel's walk of frame pointers stops only at a bad pointer or the depth limit:
    /// a frame pointer that points at its own frame (or two frames that point at each
    /// other) repeats the same return addresses until the limit. Such a stack, one that
    /// reaches the limit repeating a cycle of up to four addresses, is cut after the first
    /// repeat and marked as ending in an unknown frame; recursion deeper than the limit looks
    /// the same, and its stack was not complete either.
    public static func cuttingRepeats(_ frames: [UInt64], depthLimit: Int = Int(EMBER_MAX_STACK_DEPTH))
        -> (frames: [UInt64], wentRound: Bool) {
        guard frames.count >= depthLimit else { return (frames, false) }
        let tail = 16
        for period in 1...4 {
            let start = frames.count - tail
            guard (start..<frames.count).allSatisfy({ frames[$0] == frames[$0 - period] }) else { continue }
            // Back to where the cycle began: from `repeated` on, each frame is the one a
            // period before it. One round of the cycle is kept.
            var repeated = start
            while repeated - 1 - period >= 0, frames[repeated - 1] == frames[repeated - 1 - period] { repeated -= 1 }
            return (Array(frames[..<repeated]), true)
        }
        return (frames, false)
    }

    /// The call stacks of a recording, one per distinct key.
    ///
    /// - Parameter leafFix: the processes' CFI, which tells whether the sampled function
    ///   had set up its frame. Without it, stacks are left as the kernel walked them.
    /// - Parameter times: the times of counted samples, by key, where they were kept; for
    ///   off-CPU time, the ends of the blocks, whose lengths are `durations`.
    public static func callStacks(
        from samples: RawSamples,
        leafFix: FramelessLeafFix? = nil,
        times: [SampleKey: [UInt64]] = [:],
        durations: [SampleKey: [UInt64]] = [:],
        statistics: inout Statistics
    ) -> [CallStack] {
        samples.counts.map { key, count in
            var stack = callStack(key, count, samples: samples, leafFix: leafFix, statistics: &statistics)
            stack.times = times[key] ?? []
            stack.durations = durations[key] ?? []
            stack.pythonStackHash = key.pythonStackHash
            return stack
        }
    }

    private static func callStack(
        _ key: SampleKey, _ count: UInt64, samples: RawSamples, leafFix: FramelessLeafFix?, statistics: inout Statistics
    ) -> CallStack {
        // Walked in the kernel by CFI: whole from the sampled pc, with its end.
        if key.userStackHash != 0 {
            let walked = samples.walkedStacks[key.userStackHash]
            return CallStack(
                pid: key.pid, tid: key.tid, threadName: key.comm,
                user: walked.map { .frames($0.frames) } ?? .lost(.missing), userEnd: walked.map { StackEnd($0.end) },
                kernel: half(key.kernelStackID, samples.stacks), count: count)
        }
        var user = half(key.userStackID, samples.stacks)
        var end: StackEnd?
        if case .frames(var frames) = user {
            if let leafFix {
                frames = restoringFramelessCaller(
                    frames, pid: key.pid, stackWords: key.stackWords, leafFix: leafFix,
                    count: count, statistics: &statistics)
            }
            let (cut, wentRound) = cuttingRepeats(frames)
            if wentRound {
                end = .unknown
                statistics.wentRound += count
            }
            user = .frames(cut)
        }
        return CallStack(
            pid: key.pid, tid: key.tid, threadName: key.comm, user: user, userEnd: end,
            kernel: half(key.kernelStackID, samples.stacks), count: count)
    }

    /// The frameless-leaf fix: if the CFI says the sampled function had not set up its
    /// frame, its return address is one of the stack words at the stack pointer, and the
    /// walk (which started from rbp, still the caller's frame) skipped the caller: put it
    /// back between the leaf and the caller's caller.
    public static func restoringFramelessCaller(
        _ frames: [UInt64], pid: pid_t, stackWords: [UInt64], leafFix: FramelessLeafFix, count: UInt64,
        statistics: inout Statistics
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

    /// A stack id (or -errno) from the kernel's maps as a stack half.
    public static func half(_ id: Int32, _ stacks: [Int32: [UInt64]]) -> StackHalf {
        let efault: Int32 = 14, eexist: Int32 = 17, enospc: Int32 = 28
        switch id {
        case 0...:
            guard let frames = stacks[id], !frames.isEmpty else { return .lost(.missing) }
            return .frames(frames)
        case -efault: return .absent
        case blockedBeforeRecordingStackID: return .lost(.blockedBeforeRecording)
        case -eexist: return .lost(.stackMapCollision)
        case -enospc: return .lost(.ringBufferFull)  // the off-CPU program's mark, never bpf_get_stackid's
        default: return .lost(.error(-id))
        }
    }
}
