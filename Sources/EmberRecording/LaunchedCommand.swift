import CEmberShim
#if canImport(Glibc)
import Glibc
#endif

/// A command ember launches to profile. It is forked stopped, made a target from its exec
/// on, and only then allowed to exec, so its first instructions are sampled too (and the
/// fork's own work, ember's code, is not).
final class LaunchedCommand {
    let pid: pid_t
    private let arguments: [String]
    private var goDescriptor: Int32
    private var statusDescriptor: Int32
    private(set) var exitStatus: Int32?

    init(arguments: [String]) throws {
        self.arguments = arguments
        var cStrings = arguments.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        cStrings.append(nil)
        var go: Int32 = -1
        var status: Int32 = -1
        let result = ember_spawn_suspended(&cStrings, &go, &status)
        guard result > 0 else {
            throw RecordingError("cannot launch '\(arguments[0])': \(String(cString: strerror(-result)))")
        }
        pid = result
        goDescriptor = go
        statusDescriptor = status
    }

    /// Lets the command exec; throws if exec failed (no such command, not executable).
    func run() throws {
        close(goDescriptor)
        goDescriptor = -1
        var code: Int32 = 0
        let count = read(statusDescriptor, &code, MemoryLayout<Int32>.size)
        close(statusDescriptor)
        statusDescriptor = -1
        if count == MemoryLayout<Int32>.size {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = status
            throw RecordingError("cannot run '\(arguments[0])': \(String(cString: strerror(code)))")
        }
    }

    /// Whether the command has exited (it is reaped here).
    func hasExited() -> Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status
            return true
        }
        return false
    }

    /// Ends the command if it still runs (the recording is over), and reaps it.
    func finish() {
        if goDescriptor >= 0 { close(goDescriptor); goDescriptor = -1 }
        if statusDescriptor >= 0 { close(statusDescriptor); statusDescriptor = -1 }
        guard !hasExited() else { return }
        kill(pid, SIGTERM)
        for _ in 0..<40 {
            if hasExited() { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = status
    }

    deinit { finish() }
}
