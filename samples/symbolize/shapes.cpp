// C++ names for the demangler: templates, namespaces, overloads.
// Prints "ready" and spins for argv[1] seconds (default: until killed).
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace geometry {
// Keeps run() from being a leaf: gcc sets up no frame pointer in leaf functions.
__attribute__((noinline)) void observe(double) { asm volatile(""); }

template <typename T>
struct Accumulator {
    T total;
    __attribute__((noinline)) T run(T seed, long rounds);
};

template <typename T>
T Accumulator<T>::run(T seed, long rounds) {
    for (long i = 0; i < rounds; i++) total = total * T(1.0000001) + seed;
    observe(total);
    return total;
}
}  // namespace geometry

namespace app {
volatile double sink;

__attribute__((noinline)) void work(long rounds) {
    geometry::Accumulator<double> accumulator{0};
    sink = accumulator.run(1.5, rounds);
}
}  // namespace app

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1e9;
    std::printf("ready\n");
    std::fflush(stdout);
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) app::work(100000);
    return 0;
}
