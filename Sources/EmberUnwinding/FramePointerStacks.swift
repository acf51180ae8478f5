import EmberSampling

/// Call stacks walked by the kernel (`bpf_get_stackid`): frame pointers for user code,
/// the kernel's own unwinder (ORC here) for kernel code. This stage turns the stack ids
/// of the counts map into address lists and classifies what is missing.
public enum FramePointerStacks {
    /// The call stacks of a recording, one per distinct key.
    public static func callStacks(from samples: RawSamples) -> [CallStack] {
        samples.counts.map { key, count in
            CallStack(
                pid: key.pid, tid: key.tid, threadName: key.comm,
                user: half(key.userStackID, samples.stacks),
                kernel: half(key.kernelStackID, samples.stacks),
                count: count)
        }
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
