/*
 * A workload in two phases, for the time view: for the first half of its run it spins in
 * phase_one, for the second half in phase_two. A flame graph of the whole run shows both
 * side by side; one of a range inside either half shows only that half's function.
 *
 * usage: phases [SECONDS]   (default 2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void phase_one(void)
{
	for (volatile long i = 0; i < 100000; i++)
		;
}

__attribute__((noinline)) void phase_two(void)
{
	for (volatile long i = 0; i < 100000; i++)
		;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	double start = now(), middle = start + seconds / 2, end = start + seconds;
	while (now() < middle)
		phase_one();
	while (now() < end)
		phase_two();
	return 0;
}
