/*
 * A C++ program whose hot work runs on a thread started by std::thread: its stack goes
 * through libstdc++'s thread entry (execute_native_thread_routine) and libc's
 * start_thread down to clone3, in code without frame pointers.
 * Call path: clone3 → start_thread → execute_native_thread_routine → … → worker → crunch.
 *
 * usage: cxxthread [SECONDS]   (runs forever without an argument)
 * Prints "ready" once running.
 */
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

static volatile long sink;

__attribute__((noinline)) long crunch(long n)
{
	long x = 0;
	for (long i = 0; i < n; i++) {
		x = x * 31 + i;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

__attribute__((noinline)) void worker(double seconds)
{
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	while (seconds <= 0 || std::chrono::steady_clock::now() < end)
		sink = crunch(1000000);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 0;
	std::thread thread(worker, seconds);
	std::printf("ready\n");
	std::fflush(stdout);
	thread.join();
	return 0;
}
