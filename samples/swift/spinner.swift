// A Swift workload: two call paths with a 2:1 split of time.
//   spinner [SECONDS]
import Glibc

// Built with -Xcc -fno-omit-frame-pointer, Swift sets up frames in functions that call
// others (mix, a leaf, has none): the paths add to churn's result so they are not tail calls.
@inline(never) func mix(_ value: Int, _ i: Int) -> Int { value &* 31 &+ i }

@inline(never) func churn(_ iterations: Int) -> Int {
    var value = 0
    for i in 0..<iterations { value = mix(value, i) }
    return value
}

@inline(never) func heavyPath() -> Int { churn(2_000_000) &+ 1 }
@inline(never) func lightPath() -> Int { churn(1_000_000) &+ 2 }

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
