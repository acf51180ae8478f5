/*
 * Generated code without CFI, as a JIT makes it: a loop copied into an anonymous
 * executable mapping, keeping a frame pointer as JIT runtimes do, that spins and calls
 * back into C; named in /tmp/perf-PID.map, the perf convention JITs follow. Samples land
 * in main → run_jit → jit_loop (JIT) → hot, or in jit_loop itself.
 *
 * usage: jit [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* void jit_loop(void (*callback)(void), long rounds) */
static const unsigned char jit_code[] = {
	0x55,                         /* push %rbp */
	0x48, 0x89, 0xe5,             /* mov %rsp,%rbp */
	0x53,                         /* push %rbx */
	0x41, 0x54,                   /* push %r12 */
	0x48, 0x89, 0xfb,             /* mov %rdi,%rbx */
	0x49, 0x89, 0xf4,             /* mov %rsi,%r12 */
	0xb9, 0xd0, 0x07, 0x00, 0x00, /* round: mov $2000,%ecx */
	0xff, 0xc9,                   /* spin: dec %ecx */
	0x75, 0xfc,                   /* jnz spin */
	0xff, 0xd3,                   /* call *%rbx */
	0x49, 0xff, 0xcc,             /* dec %r12 */
	0x75, 0xf0,                   /* jnz round */
	0x41, 0x5c,                   /* pop %r12 */
	0x5b,                         /* pop %rbx */
	0x5d,                         /* pop %rbp */
	0xc3,                         /* ret */
};

static char map_path[64];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void hot(void)
{
	for (volatile int i = 0; i < 2000; i++)
		;
}

__attribute__((noinline)) void run_jit(void (*jit_loop)(void (*)(void), long))
{
	jit_loop(hot, 1000);
	__asm__ volatile("");
}

static void remove_map(void)
{
	unlink(map_path);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *code = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memcpy(code, jit_code, sizeof(jit_code));
	if (mprotect(code, page, PROT_READ | PROT_EXEC) != 0) {
		perror("mprotect");
		return 1;
	}
	snprintf(map_path, sizeof(map_path), "/tmp/perf-%d.map", getpid());
	FILE *map = fopen(map_path, "w");
	if (!map) {
		perror(map_path);
		return 1;
	}
	fprintf(map, "%lx %zx jit_loop\n", (unsigned long)code, sizeof(jit_code));
	fclose(map);
	atexit(remove_map);
	void (*jit_loop)(void (*)(void), long) = (void (*)(void (*)(void), long))code;
	printf("ready\n");
	fflush(stdout);
	double end = now() + seconds;
	while (seconds <= 0 || now() < end)
		run_jit(jit_loop);
	return 0;
}
