/*
 * Work that repeats at a fixed period of wall-clock time, as a loop paced by a timer does:
 * each round of PERIOD nanoseconds spends its first 60% in hot, the next 30% in warm and
 * the last 10% in cool (each spins until its part of the round has passed). Sampled at
 * exactly that period, every sample lands at one phase of the round; a profile that gives
 * the three their 60/30/10 shares is one whose samples are not locked to it.
 *
 * usage: periodic PERIOD_NS SECONDS
 * Prints "ready" once running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void spin_until(long long deadline)
{
	while (now_ns() < deadline)
		;
}

__attribute__((noinline)) void hot(long long deadline) { spin_until(deadline); }
__attribute__((noinline)) void warm(long long deadline) { spin_until(deadline); }
__attribute__((noinline)) void cool(long long deadline) { spin_until(deadline); }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: periodic PERIOD_NS SECONDS\n");
		return 2;
	}
	long long period = atoll(argv[1]);
	double seconds = atof(argv[2]);
	if (period <= 0 || seconds <= 0) {
		fprintf(stderr, "periodic: PERIOD_NS and SECONDS must be positive\n");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	long long start = now_ns();
	long long end = start + (long long)(seconds * 1e9);
	for (long long round = start; round < end; round += period) {
		hot(round + period * 6 / 10);
		warm(round + period * 9 / 10);
		cool(round + period);
	}
	return 0;
}
