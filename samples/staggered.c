#define _GNU_SOURCE
/*
 * Three threads started at different times, for the time view's thread tracks: thread
 * stagger-N starts N × STEP seconds after the program and spins in stagger_spin until the
 * end; the main thread only sleeps and joins.
 *
 * usage: staggered [SECONDS] [STEP]   (default 3 and 0.8)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double deadline;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_for(double seconds)
{
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
}

__attribute__((noinline)) void stagger_spin(void)
{
	for (volatile long i = 0; i < 100000; i++)
		;
}

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "stagger-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);
	while (now() < deadline)
		stagger_spin();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	double step = argc > 2 ? atof(argv[2]) : 0.8;
	deadline = now() + seconds;
	pthread_t threads[3];
	for (long i = 0; i < 3; i++) {
		if (i > 0)
			sleep_for(step);
		pthread_create(&threads[i], NULL, worker, (void *)i);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
