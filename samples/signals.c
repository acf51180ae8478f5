/*
 * A workload that spends most of its time in a signal handler: a SIGPROF timer fires
 * every millisecond of CPU time and on_signal spins, so samples land in
 * main → work_loop → [signal frame] → on_signal → handler_spin.
 *
 * With `altstack`, the work runs in a thread whose handler runs on an alternate signal
 * stack (sigaltstack) mapped before the thread's own stack, so above it, as Go and Rust
 * runtimes set up theirs: the walk from the handler to the code it interrupted goes down
 * the address space, not up: start_thread → worker → work_loop → [signal frame] →
 * on_signal → handler_spin.
 *
 * With `entry`, the work is a loop at a function's first instruction (spin_at_entry), so
 * about half the signals interrupt it at that first byte, where the byte before belongs to
 * another function (before_spin_at_entry): the interrupted frame's pc is exact, not a
 * return address, and must be named by itself, not by the byte before it.
 *
 * usage: signals [SECONDS] [altstack|entry]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Two functions, back to back, with CFI: spin_at_entry's loop starts at its first byte. */
void before_spin_at_entry(void);
void spin_at_entry(long iterations);
__asm__(".text\n"
	".globl before_spin_at_entry\n"
	".type before_spin_at_entry, @function\n"
	"before_spin_at_entry:\n"
	".cfi_startproc\n"
	"ret\n"
	".cfi_endproc\n"
	".size before_spin_at_entry, .-before_spin_at_entry\n"
	".globl spin_at_entry\n"
	".type spin_at_entry, @function\n"
	"spin_at_entry:\n"
	".cfi_startproc\n"
	"decq %rdi\n"
	"jnz spin_at_entry\n"
	"ret\n"
	".cfi_endproc\n"
	".size spin_at_entry, .-spin_at_entry\n");

__attribute__((noinline)) void entry_loop(double end, double seconds)
{
	while (seconds <= 0 || now() < end) {
		before_spin_at_entry();
		spin_at_entry(100000);
	}
}

enum { ALTERNATE_STACK_SIZE = 1 << 16 };

struct work {
	void *alternate_stack;
	double seconds;
};

static void *worker(void *argument)
{
	struct work *work = argument;
	stack_t alternate = {.ss_sp = work->alternate_stack, .ss_size = ALTERNATE_STACK_SIZE};
	if (sigaltstack(&alternate, NULL) != 0) {
		perror("sigaltstack");
		exit(1);
	}
	work_loop(now() + work->seconds, work->seconds);
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	int alternate = argc > 2 && strcmp(argv[2], "altstack") == 0;
	int entry = argc > 2 && strcmp(argv[2], "entry") == 0;
	struct sigaction action = {.sa_handler = on_signal, .sa_flags = alternate ? SA_ONSTACK : 0};
	sigemptyset(&action.sa_mask);
	sigaction(SIGPROF, &action, NULL);
	struct work work = {.seconds = seconds};
	if (alternate) {
		work.alternate_stack = mmap(NULL, ALTERNATE_STACK_SIZE, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (work.alternate_stack == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
	}
	struct itimerval timer = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_PROF, &timer, NULL);
	printf("ready\n");
	fflush(stdout);
	if (alternate) {
		pthread_t thread;
		pthread_create(&thread, NULL, worker, &work);
		/* Blocked here, the main thread takes no SIGPROF: the timer counts the process's
		 * CPU time, and the signal goes to a thread that does not block it. */
		sigset_t profiling;
		sigemptyset(&profiling);
		sigaddset(&profiling, SIGPROF);
		pthread_sigmask(SIG_BLOCK, &profiling, NULL);
		pthread_join(thread, NULL);
		return 0;
	}
	if (entry)
		entry_loop(now() + seconds, seconds);
	else
		work_loop(now() + seconds, seconds);
	return 0;
}
