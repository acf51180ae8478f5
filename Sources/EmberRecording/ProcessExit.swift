import CEmberShim
import EmberSystem
#if canImport(Glibc)
import Glibc
#endif

/// Tells when a process has exited, asked every few milliseconds while a recording runs.
/// A pidfd (Linux 5.3) becomes readable when its process exits, zombie or not, and asking
/// is one `poll`; reading `/proc/PID/stat` each time costs an open, a read and a close.
/// Where there is no pidfd, `/proc` it is.
final class ProcessExit {
    let pid: pid_t
    private let descriptor: Int32

    init(pid: pid_t) {
        self.pid = pid
        descriptor = ember_pidfd_open(pid)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Whether the process has exited (a zombie counts: it runs no more code).
    var hasExited: Bool {
        guard descriptor >= 0 else { return !Self.isRunning(pid) }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, 0)
        return ready < 0 ? !Self.isRunning(pid) : ready > 0
    }

    /// Whether `pid` names a process that can still run code: it exists (kill answers, or
    /// refuses for permission) and is no zombie.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? FileContents.text("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state != "Z" && state != "X"
    }
}
