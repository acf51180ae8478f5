#if canImport(Glibc)
import Glibc
#endif

/// Why sampling could not start. Each case reads as one line a user can act on.
public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case notPermitted(String)
    case unsupportedKernel(String)
    case noSuchProcess(pid_t)
    case commandFailed(String)
    case system(String)

    public var description: String {
        switch self {
        case .notPermitted(let what):
            return "not permitted to \(what): run as root, or grant CAP_BPF and CAP_PERFMON"
        case .unsupportedKernel(let what):
            return "this kernel cannot profile: \(what)"
        case .noSuchProcess(let pid):
            return "no such process: \(pid)"
        case .commandFailed(let message):
            return message
        case .system(let message):
            return message
        }
    }

    /// Maps an errno from bpf() or perf_event_open() to the error a user should see.
    static func from(errno code: Int32, doing what: String, detail: String = "") -> SamplingError {
        let reason = String(cString: strerror(code)) + (detail.isEmpty ? "" : " (\(detail))")
        // As root, EACCES and EPERM come from the verifier or a lockdown, not from a missing
        // capability: the detail says which.
        switch code {
        case EPERM where geteuid() != 0, EACCES where geteuid() != 0:
            return .notPermitted(what)
        case ENOSYS, EOPNOTSUPP, ENODEV:
            return .unsupportedKernel("\(what) failed: \(reason)")
        default:
            return .system("could not \(what): \(reason)")
        }
    }
}
