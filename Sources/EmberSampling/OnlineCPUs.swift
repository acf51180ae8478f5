import EmberSystem

/// The CPUs the kernel lists in a cpu list such as "0-3,5,7-8"
/// (the format of /sys/devices/system/cpu/online).
public func parseCPUList(_ text: String) -> [Int]? {
    var cpus: [Int] = []
    for part in text.split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
        switch bounds.count {
        case 1: cpus.append(first)
        case 2:
            guard let last = Int(bounds[1]), last >= first else { return nil }
            cpus.append(contentsOf: first...last)
        default: return nil
        }
    }
    return cpus.isEmpty ? nil : cpus
}

/// The online CPUs of this machine: one perf event is opened on each.
func onlineCPUs() throws -> [Int] {
    guard let text = try? FileContents.text("/sys/devices/system/cpu/online"),
          let cpus = parseCPUList(text) else {
        throw SamplingError.system("cannot read the online CPUs from /sys/devices/system/cpu/online")
    }
    return cpus
}

/// How many call-stack records this CPU's Last Branch Record holds (the PMU's
/// `caps/branches`), or nil if the PMU does not say. An LBR sample with that many
/// records may have lost its older calls.
public func lastBranchRecordDepth(
    capsFile: String = "/sys/bus/event_source/devices/cpu/caps/branches") -> Int? {
    guard let text = try? FileContents.text(capsFile) else { return nil }
    return Int(text.filter { !$0.isWhitespace })
}
