/*
 * A CPU-bound workload with a known split of time between three call paths:
 * main → path_a → spin (60%), main → path_b → spin (30%), main → path_c → spin (10%).
 * spin is a leaf: built -O2, it never sets up a frame, frame pointers or not.
 *
 * usage: split [SECONDS]          (runs forever without an argument)
 *        split --rounds N        fixed work for benchmarks; prints the wall and CPU seconds
 *                                it took
 *        split SECONDS --report  at exit, prints each path's measured share of CPU time
 * Prints "ready" once running, so tests can attach after it started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 400000L

volatile long sink;

/* Works in registers only, so -O2 gives it no frame even with -fno-omit-frame-pointer. */
__attribute__((noinline)) long spin(long iterations)
{
	long x = 0;
	for (long i = 0; i < iterations; i++) {
		x = x * 31 + i;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* Storing the result keeps -O2 from turning the call into a tail call, which would take
 * path_x off the stack for real. */
__attribute__((noinline)) void path_a(void) { sink = spin(6 * UNIT); }
__attribute__((noinline)) void path_b(void) { sink = spin(3 * UNIT); }
__attribute__((noinline)) void path_c(void) { sink = spin(1 * UNIT); }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
		long rounds = atol(argv[2]);
		double start = now(), cpu_start = cpu_now();
		for (long i = 0; i < rounds; i++) {
			path_a();
			path_b();
			path_c();
		}
		printf("%.4f %.4f\n", now() - start, cpu_now() - cpu_start);
		return 0;
	}
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	int report = argc > 2 && strcmp(argv[2], "--report") == 0;
	double end = now() + seconds;
	double spent[3] = {0, 0, 0};
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now() < end) {
		if (!report) {
			path_a();
			path_b();
			path_c();
			continue;
		}
		/* The truth a profile is checked against: CPU time measured around each path. */
		double t0 = cpu_now();
		path_a();
		double t1 = cpu_now();
		path_b();
		double t2 = cpu_now();
		path_c();
		double t3 = cpu_now();
		spent[0] += t1 - t0;
		spent[1] += t2 - t1;
		spent[2] += t3 - t2;
	}
	if (report) {
		double total = spent[0] + spent[1] + spent[2];
		printf("path_a %.4f\npath_b %.4f\npath_c %.4f\n", 100 * spent[0] / total,
		       100 * spent[1] / total, 100 * spent[2] / total);
	}
	return 0;
}
