/*
 * Calls into a shared library (libwork.so) through the PLT:
 * main → call_library → library_work → library_spin.
 *
 * usage: plt [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void library_work(long iterations);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void call_library(void)
{
	library_work(100000);
	__asm__ volatile("");
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now() + seconds;
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now() < end)
		call_library();
	return 0;
}
