/*
 * A loop that spends most of its time in the vDSO: clock_gettime(CLOCK_MONOTONIC) is served
 * there without entering the kernel, so its samples land in `[vdso]` code.
 *
 * usage: vdso [SECONDS]   (runs 30 s without an argument)
 * Prints "ready" once running, so tests can attach after it started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile long sink;

__attribute__((noinline)) static long read_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 30;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	printf("ready\n");
	fflush(stdout);
	do {
		for (int i = 0; i < 100000; i++)
			sink += read_clock();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	return 0;
}
