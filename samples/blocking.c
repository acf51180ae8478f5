#define _GNU_SOURCE
/*
 * A workload that waits more than it runs, for off-CPU and wall-clock profiles.
 *
 * usage: blocking [SECONDS]           main thread repeats: 20 ms computing (compute), 50 ms
 *                                     blocked reading a pipe a feeder thread fills
 *                                     (wait_for_pipe), 30 ms in nanosleep (nap); an idler
 *                                     thread blocks in wait_forever the whole run. At the end
 *                                     it prints the seconds the main thread spent in each:
 *                                     "compute=C pipe=P sleep=S cycles=N cpu=SECONDS".
 *        blocking mutex [SECONDS]     a holder thread takes a mutex for 20 ms at a time
 *                                     (hold_and_release); the main thread waits for it
 *                                     (wait_for_lock) and lets it go at once.
 *        blocking pingpong [SECONDS]  two threads pass a byte back and forth over two pipes
 *                                     (a context switch per pass); prints
 *                                     "round_trips=N cpu=SECONDS".
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The process's CPU time (all threads, user and system): what a profiler's work in the
 * scheduler adds to. */
static double cpu_seconds(void)
{
	struct rusage usage;
	getrusage(RUSAGE_SELF, &usage);
	return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static void sleep_for(double seconds)
{
	struct timespec ts = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int requests[2], replies[2], never[2];

__attribute__((noinline)) void compute(double seconds)
{
	double end = now() + seconds;
	while (now() < end)
		for (volatile int i = 0; i < 1000; i++)
			;
}

__attribute__((noinline)) void wait_for_pipe(void)
{
	char byte = 1;
	if (write(requests[1], &byte, 1) != 1 || read(replies[0], &byte, 1) != 1)
		exit(2);
}

__attribute__((noinline)) void nap(double seconds)
{
	sleep_for(seconds);
}

__attribute__((noinline)) void feed(void)
{
	char byte;
	while (read(requests[0], &byte, 1) == 1) {
		sleep_for(0.050);
		if (write(replies[1], &byte, 1) != 1)
			exit(2);
	}
}

static void *feeder(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "feeder");
	feed();
	return NULL;
}

__attribute__((noinline)) void wait_forever(void)
{
	char byte;
	if (read(never[0], &byte, 1) < 0)
		exit(2);
}

static void *idler(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "idler");
	wait_forever();
	return NULL;
}

static int ping[2], pong[2];
static volatile int done;

__attribute__((noinline)) void bounce(int in, int out, long *passes)
{
	char byte = 0;
	while (!done && read(in, &byte, 1) == 1 && write(out, &byte, 1) == 1)
		(*passes)++;
}

static void *ponger(void *arg)
{
	long passes = 0;
	(void)arg;
	bounce(ping[0], pong[1], &passes);
	return NULL;
}

static int pingpong(double seconds)
{
	pthread_t thread;
	if (pipe(ping) || pipe(pong) || pthread_create(&thread, NULL, ponger, NULL))
		return 1;
	long round_trips = 0;
	double end = now() + seconds;
	char byte = 0;
	while (now() < end) {
		if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1)
			return 1;
		round_trips++;
	}
	done = 1;
	printf("round_trips=%ld cpu=%.6f\n", round_trips, cpu_seconds());
	return 0;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void hold_and_release(double end)
{
	while (now() < end) {
		pthread_mutex_lock(&lock);
		compute(0.020);
		pthread_mutex_unlock(&lock);
		sleep_for(0.002);
	}
}

static void *holder(void *arg)
{
	pthread_setname_np(pthread_self(), "holder");
	hold_and_release(*(double *)arg);
	return NULL;
}

__attribute__((noinline)) void wait_for_lock(double end)
{
	while (now() < end) {
		pthread_mutex_lock(&lock);
		pthread_mutex_unlock(&lock);
		sleep_for(0.001);
	}
}

static int contend(double seconds)
{
	pthread_t thread;
	double end = now() + seconds;
	if (pthread_create(&thread, NULL, holder, &end))
		return 1;
	wait_for_lock(end);
	pthread_join(thread, NULL);
	printf("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "mutex") == 0)
		return contend(argc > 2 ? atof(argv[2]) : 5);
	if (argc > 1 && strcmp(argv[1], "pingpong") == 0)
		return pingpong(argc > 2 ? atof(argv[2]) : 5);
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	pthread_t threads[2];
	if (pipe(requests) || pipe(replies) || pipe(never) ||
	    pthread_create(&threads[0], NULL, feeder, NULL) || pthread_create(&threads[1], NULL, idler, NULL))
		return 1;
	printf("ready\n");
	fflush(stdout);
	double spent[3] = {0, 0, 0};
	long cycles = 0;
	double end = now() + seconds;
	while (now() < end) {
		double t0 = now();
		compute(0.020);
		double t1 = now();
		wait_for_pipe();
		double t2 = now();
		nap(0.030);
		double t3 = now();
		spent[0] += t1 - t0;
		spent[1] += t2 - t1;
		spent[2] += t3 - t2;
		cycles++;
	}
	printf("compute=%.6f pipe=%.6f sleep=%.6f cycles=%ld cpu=%.6f\n", spent[0], spent[1], spent[2], cycles,
	       cpu_seconds());
	fflush(stdout);
	_exit(0); /* the feeder and idler stay blocked */
}
