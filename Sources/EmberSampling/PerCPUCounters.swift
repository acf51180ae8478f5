import CLibBPF

/// A BPF per-CPU array of counters (the programs count with no lock, each CPU its own slot),
/// read back summed over the CPUs.
struct PerCPUCounters {
    private let map: Int32
    private var values: [UInt64]

    init(map: Int32) {
        self.map = map
        values = [UInt64](repeating: 0, count: max(Int(libbpf_num_possible_cpus()), 1))
    }

    /// The counter at `index`, summed over CPUs; 0 if it cannot be read.
    mutating func sum(_ index: UInt32) -> UInt64 {
        var key = index
        guard bpf_map_lookup_elem(map, &key, &values) == 0 else { return 0 }
        return values.reduce(0, &+)
    }
}
