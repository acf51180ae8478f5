/*
 * Short-lived processes, as a build or a shell script makes them: the profiler must read
 * each one's memory map while it lives.
 *
 * usage: forker fork COUNT MILLISECONDS     children that spin in child_work, then exit
 *        forker exec COUNT SECONDS PROGRAM  children that exec PROGRAM SECONDS
 *        forker hold SECONDS                one child that spins in child_work, and a
 *                                           parent that waits for it (prints the child's pid)
 *        forker release MEGABYTES           touches that much memory, then exits: the kernel
 *                                           spends a while freeing it as the process exits
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void child_work(double seconds)
{
	volatile unsigned long sink = 0;
	double end = now() + seconds;
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink += i;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "hold") == 0) {
		pid_t child = fork();
		if (child == 0) {
			child_work(atof(argv[2]));
			_exit(0);
		}
		printf("%d\n", child);
		fflush(stdout);
		waitpid(child, NULL, 0);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "release") == 0) {
		size_t bytes = (size_t)atol(argv[2]) << 20;
		volatile char *memory = malloc(bytes);
		if (!memory)
			return 1;
		for (size_t i = 0; i < bytes; i += 4096)
			memory[i] = 1;
		return 0; /* freed by the kernel in exit_mmap, not by free() */
	}
	if (argc < 4 || (strcmp(argv[1], "fork") != 0 && strcmp(argv[1], "exec") != 0) ||
	    (strcmp(argv[1], "exec") == 0 && argc < 5)) {
		fprintf(stderr, "usage: forker fork COUNT MS | exec COUNT SECONDS PROGRAM | hold SECONDS | "
				"release MEGABYTES\n");
		return 2;
	}
	int count = atoi(argv[2]);
	for (int i = 0; i < count; i++) {
		pid_t child = fork();
		if (child == 0) {
			if (strcmp(argv[1], "fork") == 0) {
				child_work(atof(argv[3]) / 1000);
				_exit(0);
			}
			execl(argv[4], argv[4], argv[3], (char *)NULL);
			_exit(127);
		}
		waitpid(child, NULL, 0);
	}
	return 0;
}
