import EmberProfile
import EmberSymbolization
import EmberUnwinding

/// Turns unwound call stacks into a profile of named frames:
/// `process[;thread];user frames, root first;kernel frames_[k]`.
struct ProfileBuilder {
    let symbolizer: Symbolizer
    let settings: RecordingSettings

    /// Samples whose stack (or half of it) was lost, by reason, for the report.
    struct Result {
        var profile: Profile
        var lostStacks: [String: UInt64]
    }

    func profile(of stacks: [CallStack]) -> Result {
        var profile = Profile()
        var lost: [String: UInt64] = [:]
        for stack in stacks {
            var frames: [String] = []
            frames.append(symbolizer.processName(stack.pid) ?? stack.threadName)
            if settings.threadFrames { frames.append("\(stack.threadName)-\(stack.tid)") }
            switch stack.userEnd {
            case .truncated?: frames.append("[truncated]")
            case .unknown?: frames.append("[unknown]")
            case .complete?, nil: break
            }
            switch stack.user {
            case .frames(let addresses):
                frames += symbolizer.userFrames(pid: stack.pid, stack: addresses).reversed().map(\.foldedName)
            case .absent:
                break
            case .lost(let reason):
                frames.append("[lost user stack: \(describe(reason))]")
                lost["user stack: \(describe(reason))", default: 0] += stack.count
            }
            if settings.kernelStacks {
                switch stack.kernel {
                case .frames(let addresses):
                    frames += symbolizer.kernelFrames(stack: addresses).reversed().map { $0.name + "_[k]" }
                case .absent:
                    break
                case .lost(let reason):
                    frames.append("[lost kernel stack: \(describe(reason))]_[k]")
                    lost["kernel stack: \(describe(reason))", default: 0] += stack.count
                }
            }
            profile.add(frames, count: Double(stack.count))
        }
        return Result(profile: profile, lostStacks: lost)
    }

    private func describe(_ loss: StackLoss) -> String {
        switch loss {
        case .stackMapCollision: return "stack map full (raise --stack-map-size)"
        case .error(let code): return "bpf_get_stackid error \(code)"
        case .missing: return "stack id no longer in the stack map"
        case .processGone: return "process exited before its stack was unwound"
        case .copyFailed: return "stack not readable (exec in progress, or page not present)"
        }
    }
}
