#define _GNU_SOURCE
/*
 * A multi-threaded workload whose threads all start before a profiler attaches:
 * it starts THREADS workers (named worker-0 ...), prints "ready", and each worker
 * spins in its own function until the time is up.
 *
 * usage: threads [SECONDS] [THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double deadline;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void worker_spin(void)
{
	for (volatile long i = 0; i < 100000; i++)
		;
}

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "worker-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);
	while (deadline <= 0 || now() < deadline)
		worker_spin();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	long count = argc > 2 ? atol(argv[2]) : 4;
	deadline = seconds > 0 ? now() + seconds : 0;
	pthread_t threads[64];
	if (count > 64)
		count = 64;
	for (long i = 0; i < count; i++)
		pthread_create(&threads[i], NULL, worker, (void *)i);
	printf("ready\n");
	fflush(stdout);
	for (long i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
