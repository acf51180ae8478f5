/*
 * A frame-pointer program whose hot function is a comparator called back by libc's qsort,
 * which Debian builds without frame pointers: a frame-pointer walk from cmp loses qsort's
 * caller (main and everything below it). Call path: main → sort_round → qsort → … → cmp.
 *
 * usage: qsort [SECONDS]       (runs forever without an argument)
 *        qsort --rounds N     fixed work for benchmarks; prints the wall and CPU seconds
 *        qsort --block SECONDS  off-CPU: the comparator (wait_cmp) sleeps 1 ms in nanosleep
 *                             at each comparison, so the time is blocked time under
 *                             main → block_round → qsort → … → wait_cmp; prints the seconds
 *                             the comparator slept: "blocked=SECONDS".
 * Prints "ready" once running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT 20000

static int values[COUNT];
static unsigned seed = 1;

__attribute__((noinline)) int cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	/* A little work per comparison, so the comparator is where the time goes. */
	for (int i = 0; i < 20; i++)
		__asm__ volatile("" : "+r"(x));
	return (x > y) - (x < y);
}

static volatile int sink;

/* Reading the result after the call keeps -O2 from making qsort a tail call. */
__attribute__((noinline)) void sort_round(void)
{
	for (int i = 0; i < COUNT; i++) {
		seed = seed * 1103515245 + 12345;
		values[i] = (int)(seed >> 8);
	}
	qsort(values, COUNT, sizeof(int), cmp);
	sink = values[0];
}

static double now(int clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double blocked;

__attribute__((noinline)) int wait_cmp(const void *a, const void *b)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
	double start = now(CLOCK_MONOTONIC);
	nanosleep(&ts, 0);
	blocked += now(CLOCK_MONOTONIC) - start;
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* A few values, so that each round is a few dozen comparisons. */
__attribute__((noinline)) void block_round(void)
{
	for (int i = 0; i < 16; i++) {
		seed = seed * 1103515245 + 12345;
		values[i] = (int)(seed >> 8);
	}
	qsort(values, 16, sizeof(int), wait_cmp);
	sink = values[0];
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
		long rounds = atol(argv[2]);
		double start = now(CLOCK_MONOTONIC), cpu_start = now(CLOCK_THREAD_CPUTIME_ID);
		for (long i = 0; i < rounds; i++)
			sort_round();
		printf("%.4f %.4f\n", now(CLOCK_MONOTONIC) - start, now(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--block") == 0) {
		double end = now(CLOCK_MONOTONIC) + atof(argv[2]);
		printf("ready\n");
		fflush(stdout);
		while (now(CLOCK_MONOTONIC) < end)
			block_round();
		printf("blocked=%.4f\n", blocked);
		return 0;
	}
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now(CLOCK_MONOTONIC) + seconds;
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now(CLOCK_MONOTONIC) < end)
		sort_round();
	return 0;
}
