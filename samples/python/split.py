"""A pure-Python sample with a known split of its CPU time: hot 60%, warm 30%, cool 10%
(by its own clock: each round gives each function its share of a time slice). Threads
(--threads N) each run the same split. Runs for --seconds, or until killed; with --rounds N,
does a fixed amount of work in the same split and prints its CPU seconds."""
import sys
import threading
import time

# The thread's CPU clock (3.7+); older Pythons (a version ember does not know) use the
# process's, which is the same with one thread.
cpu_clock = getattr(time, "thread_time", time.process_time if hasattr(time, "process_time") else time.clock)


# --rounds: a fixed amount of work (for benchmarks) instead of a time.
fixed_work = False


def spin(amount):
    """Spins for `amount` seconds of the thread's CPU, or `amount` loops of fixed work."""
    total = 0
    until = cpu_clock() + amount
    while not fixed_work and cpu_clock() < until:
        for i in range(200):
            total += i * i
    for _ in range(int(amount) if fixed_work else 0):
        for j in range(200):
            total += j * j
    return total


def hot(slice_seconds):
    return spin(slice_seconds * 0.6)


def warm(slice_seconds):
    return spin(slice_seconds * 0.3)


def cool(slice_seconds):
    return spin(slice_seconds * 0.1)


class Worker:
    def run(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            hot(0.01)
            warm(0.01)
            cool(0.01)

    def run_rounds(self, rounds):
        for _ in range(rounds):
            hot(10)
            warm(10)
            cool(10)


def main():
    seconds = 3.0
    threads = 0
    arguments = sys.argv[1:]
    while arguments:
        option = arguments.pop(0)
        if option == "--seconds":
            seconds = float(arguments.pop(0))
        elif option == "--threads":
            threads = int(arguments.pop(0))
        elif option == "--rounds":
            global fixed_work
            fixed_work = True
            rounds = int(arguments.pop(0))
            start = cpu_clock()
            Worker().run_rounds(rounds)
            # The CPU time of the work alone (a profiler's start-up left out).
            sys.stdout.write("%.4f\n" % (cpu_clock() - start))
            return
    workers = [threading.Thread(target=Worker().run, args=(seconds,), name="worker-%d" % n) for n in range(threads)]
    for worker in workers:
        worker.start()
    # For a profiler attaching by pid: the threads exist now.
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if not workers:
        Worker().run(seconds)
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
