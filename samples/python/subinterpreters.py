"""Python in two interpreters at once (CPython 3.12+): the main thread spins in the main
interpreter (main_spin); a thread first spins there too (warm_up, 0.3 s), then creates a
subinterpreter that imports this file and spins in it (sub_spin) for the rest of --seconds.
Each of the three calls spin, the loop itself.
Prints "ready" once the thread started."""
import os
import sys
import threading
import time


def spin(seconds):
    total = 0
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        for i in range(200):
            total += i * i
    return total


def sub_spin(seconds):
    return spin(seconds)


def sub_work(seconds):
    end = time.time() + seconds
    while time.time() < end:
        sub_spin(0.01)


def main_spin(seconds):
    return spin(seconds)


def main_work(seconds):
    end = time.time() + seconds
    while time.time() < end:
        main_spin(0.01)


def warm_up(seconds):
    return spin(seconds)


def in_subinterpreter(seconds):
    started = time.time()
    warm_up(0.3)
    seconds -= time.time() - started
    try:
        import _interpreters  # 3.13

        interpreter = _interpreters.create()
        run = _interpreters.exec
    except ImportError:
        import _xxsubinterpreters as _interpreters  # 3.12

        interpreter = _interpreters.create()
        run = _interpreters.run_string
    code = "import sys\nsys.path.insert(0, %r)\nimport subinterpreters\nsubinterpreters.sub_work(%r)\n" % (
        os.path.dirname(os.path.abspath(__file__)), seconds)
    run(interpreter, code)
    _interpreters.destroy(interpreter)


def main():
    seconds = 3.0
    arguments = sys.argv[1:]
    if arguments[:1] == ["--seconds"]:
        seconds = float(arguments[1])
    worker = threading.Thread(target=in_subinterpreter, args=(seconds,), name="subinterpreter")
    worker.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    main_work(seconds)
    worker.join()


if __name__ == "__main__":
    main()
