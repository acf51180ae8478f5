// Swift names for the demangler: a struct method in a module.
// Prints "ready" and spins for the first argument's seconds (default: until killed).
import Glibc

struct Engine {
    var seed: UInt64

    @inline(never)
    func churn(rounds: Int) -> UInt64 {
        var x = seed
        for _ in 0..<rounds { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        return x
    }
}

@inline(never)
func hotPath(_ rounds: Int) -> UInt64 {
    Engine(seed: UInt64(rounds)).churn(rounds: rounds)
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1e9 : 1e9
print("ready")
fflush(stdout)
let end = now() + seconds
var sink: UInt64 = 0
while now() < end { sink &+= hotPath(100_000) }
if sink == 42 { print(sink) }
