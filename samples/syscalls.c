/*
 * A syscall-heavy workload: most of its time is in the kernel, reading /dev/zero
 * from read_loop (so kernel stacks sit under a user stack).
 *
 * usage: syscalls [SECONDS]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void read_loop(int fd)
{
	static char buffer[1 << 16];
	for (int i = 0; i < 1000; i++)
		if (read(fd, buffer, sizeof(buffer)) < 0)
			exit(1);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now() + seconds;
	int fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (seconds <= 0 || now() < end)
		read_loop(fd);
	return 0;
}
