/*
 * A CPU-bound workload with a known split of time between three call paths:
 * main → path_a → spin (60%), main → path_b → spin (30%), main → path_c → spin (10%).
 *
 * usage: split [SECONDS]          (runs forever without an argument)
 *        split --rounds N        fixed work for benchmarks; prints the seconds it took
 * Prints "ready" once running, so tests can attach after it started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 200000L

__attribute__((noinline)) void spin(long iterations)
{
	for (volatile long i = 0; i < iterations; i++)
		;
}

__attribute__((noinline)) void path_a(void) { spin(6 * UNIT); }
__attribute__((noinline)) void path_b(void) { spin(3 * UNIT); }
__attribute__((noinline)) void path_c(void) { spin(1 * UNIT); }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
		long rounds = atol(argv[2]);
		double start = now();
		for (long i = 0; i < rounds; i++) {
			path_a();
			path_b();
			path_c();
		}
		printf("%.4f\n", now() - start);
		return 0;
	}
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now() + seconds;
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now() < end) {
		path_a();
		path_b();
		path_c();
	}
	return 0;
}
