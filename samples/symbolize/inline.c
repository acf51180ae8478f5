// Inlined call chains at -O2: step_three is inlined into step_two, step_two into
// step_one, step_one into hot_loop; hot_loop itself stays a real function.
// Prints "ready" and spins for argv[1] seconds (default: until killed).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

static inline __attribute__((always_inline)) unsigned long step_three(unsigned long x) {
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static inline __attribute__((always_inline)) unsigned long step_two(unsigned long x) {
    return step_three(x ^ 0x5555) + 1;
}

static inline __attribute__((always_inline)) unsigned long step_one(unsigned long x) {
    return step_two(x + 7) * 3;
}

// Not a leaf (gcc sets up no frame pointer in leaf functions, even when asked to), so a
// frame-pointer walk from the loop finds main as hot_loop's caller.
__attribute__((noinline)) void publish(unsigned long x) { sink = x; }

__attribute__((noinline)) void hot_loop(unsigned long rounds) {
    unsigned long x = 1;
    for (unsigned long r = 0; r < rounds; r++) x = step_one(x);
    publish(x);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1e9;
    printf("ready\n");
    fflush(stdout);
    double end = now() + seconds;
    while (now() < end) hot_loop(1000);
    return 0;
}
