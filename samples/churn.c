/*
 * A target whose address space keeps changing, and one that is traced, while it is sampled:
 * ember must neither crash nor hang on either.
 *
 * usage: churn maps SECONDS    loads and unloads libwork.so and maps, protects and unmaps
 *                              code pages, over and over, calling into each while it lives
 *        churn trace PID SECONDS  attaches to PID with ptrace and stops and resumes it,
 *                              over and over, then detaches
 * Prints "ready" when it starts.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `return 42` in x86-64 machine code, for pages of code that come and go. */
static const unsigned char return_42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};

static int churn_maps(double seconds, const char *library)
{
	volatile long sink = 0;
	double end = now() + seconds;
	while (now() < end) {
		void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			fprintf(stderr, "churn: %s\n", dlerror());
			return 1;
		}
		void (*work)(long) = (void (*)(long))dlsym(handle, "library_work");
		if (work)
			work(20000);
		dlclose(handle);

		unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (code == MAP_FAILED)
			return 1;
		memcpy(code, return_42, sizeof return_42);
		mprotect(code, 4096, PROT_READ | PROT_EXEC);
		for (int i = 0; i < 1000; i++)
			sink += ((int (*)(void))code)();
		munmap(code, 4096);
	}
	return sink == 0;
}

static int trace(pid_t pid, double seconds)
{
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) {
		fprintf(stderr, "churn: cannot trace %d: %s\n", pid, strerror(errno));
		return 1;
	}
	double end = now() + seconds;
	while (now() < end) {
		ptrace(PTRACE_INTERRUPT, pid, 0, 0);
		int status;
		if (waitpid(pid, &status, __WALL) < 0)
			break;
		usleep(2000);
		ptrace(PTRACE_CONT, pid, 0, 0);
		usleep(5000);
	}
	ptrace(PTRACE_INTERRUPT, pid, 0, 0);
	int status;
	waitpid(pid, &status, __WALL);
	ptrace(PTRACE_DETACH, pid, 0, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "maps") == 0) {
		char library[4096];
		snprintf(library, sizeof library, "%s", argv[0]);
		char *slash = strrchr(library, '/');
		snprintf(slash ? slash + 1 : library, sizeof library - (slash ? slash + 1 - library : 0), "libwork.so");
		printf("ready\n");
		fflush(stdout);
		return churn_maps(atof(argv[2]), library);
	}
	if (argc >= 4 && strcmp(argv[1], "trace") == 0) {
		printf("ready\n");
		fflush(stdout);
		return trace(atoi(argv[2]), atof(argv[3]));
	}
	fprintf(stderr, "usage: churn maps SECONDS | churn trace PID SECONDS\n");
	return 2;
}
