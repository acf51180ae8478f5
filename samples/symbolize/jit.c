// A process that generates code: it writes a small function into an executable
// anonymous mapping, names it in /tmp/perf-PID.map the way JIT compilers do, and runs it.
// Prints "ready" (after the map is written) and spins for argv[1] seconds (default: forever).
// The map is removed at the end, and on SIGTERM or SIGINT (the tests stop it so).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static char map_path[64];

static void remove_map_and_exit(int signo) {
    (void)signo;
    unlink(map_path);
    _exit(0);
}

__attribute__((noinline)) void run_generated(void (*code)(void)) { code(); }

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1e9;
    // push rbp; mov rbp,rsp; mov ecx,0x100000; 1: dec ecx; jnz 1b; pop rbp; ret
    static const unsigned char body[] = {0x55, 0x48, 0x89, 0xe5, 0xb9, 0x00, 0x00, 0x10, 0x00,
                                         0xff, 0xc9, 0x75, 0xfc, 0x5d, 0xc3};
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) { perror("mmap"); return 1; }
    memset(page, 0xcc, 4096);
    memcpy(page + 64, body, sizeof body);
    snprintf(map_path, sizeof map_path, "/tmp/perf-%d.map", getpid());
    signal(SIGTERM, remove_map_and_exit);
    signal(SIGINT, remove_map_and_exit);
    FILE *map = fopen(map_path, "w");
    if (!map) { perror(map_path); return 1; }
    fprintf(map, "%lx %zx jit_spin_loop\n", (unsigned long)(page + 64), sizeof body);
    fclose(map);
    printf("ready\n");
    fflush(stdout);
    double end = now() + seconds;
    while (now() < end) run_generated((void (*)(void))(page + 64));
    unlink(map_path);
    return 0;
}
