/*
 * A program whose hot path is inside libc's printf (formatting floating-point numbers into
 * /dev/null): the time is in libc code without frame pointers, several calls deep.
 * Call path: main → print_round → fprintf → … (vfprintf, __printf_fp, …).
 *
 * usage: printf [SECONDS]      (runs forever without an argument)
 * Prints "ready" once running.
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

__attribute__((noinline)) void print_round(FILE *out)
{
	for (int i = 0; i < 1000; i++)
		fprintf(out, "%d %.9g %s\n", i, i * 3.14159265358979, "text");
}

int main(int argc, char **argv)
{
	FILE *out = fopen("/dev/null", "w");
	if (!out)
		return 1;
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now() + seconds;
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now() < end)
		print_round(out);
	return 0;
}
