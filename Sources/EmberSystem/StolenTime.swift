#if canImport(Glibc)
import Glibc
#endif

/// CPU time the hypervisor gave elsewhere while this machine's virtual CPUs had work
/// (/proc/stat's `steal`). A virtual CPU that is not running takes no sample and switches
/// no thread out, so a profile cannot show where that time went.
public enum StolenTime {
    /// The machine's steal so far, all CPUs together, in seconds; nil where /proc/stat cannot
    /// be read or has no steal field (kernels before 2.6.11).
    public static func machineSeconds() -> Double? {
        guard let text = try? FileContents.text("/proc/stat") else { return nil }
        return seconds(inProcStat: text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// The steal in the text of /proc/stat: the eighth number of the `cpu` line, in ticks.
    public static func seconds(inProcStat text: String, ticksPerSecond: Double) -> Double? {
        guard ticksPerSecond > 0,
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        let fields = line.split(separator: " ")
        guard fields.count > 8, let ticks = UInt64(fields[8]) else { return nil }
        return Double(ticks) / ticksPerSecond
    }
}
