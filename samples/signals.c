/*
 * A workload that spends most of its time in a signal handler: a SIGPROF timer fires
 * every millisecond of CPU time and on_signal spins, so samples land in
 * main → work_loop → [signal frame] → on_signal → handler_spin.
 *
 * usage: signals [SECONDS]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void handler_spin(void)
{
	for (volatile long i = 0; i < 2000000; i++)
		;
}

static void on_signal(int signo)
{
	(void)signo;
	handler_spin();
	__asm__ volatile("");
}

__attribute__((noinline)) void work_loop(double end, double seconds)
{
	while (seconds <= 0 || now() < end)
		for (volatile long i = 0; i < 1000; i++)
			;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	struct sigaction action = {.sa_handler = on_signal};
	sigemptyset(&action.sa_mask);
	sigaction(SIGPROF, &action, NULL);
	struct itimerval timer = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_PROF, &timer, NULL);
	printf("ready\n");
	fflush(stdout);
	work_loop(now() + seconds, seconds);
	return 0;
}
