// A Swift workload: two call paths with a 2:1 split of time.
//   spinner [SECONDS]
import Glibc

@inline(never) func churn(_ iterations: Int) -> Int {
    var value = 0
    for i in 0..<iterations { value = value &* 31 &+ i }
    return value
}

@inline(never) func heavyPath() -> Int { churn(2_000_000) }
@inline(never) func lightPath() -> Int { churn(1_000_000) }

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 0 : 0
let end = monotonicSeconds() + seconds
print("ready")
fflush(stdout)
var sink = 0
while seconds <= 0 || monotonicSeconds() < end {
    sink &+= heavyPath()
    sink &+= lightPath()
}
if sink == 42 { print(sink) }
