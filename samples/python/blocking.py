"""A Python sample that mostly waits, for off-CPU profiles: its main thread repeats 20 ms
computing (compute), 50 ms blocked reading a pipe that another thread writes to (read_pipe),
and 30 ms in time.sleep (nap), for --seconds, then prints the seconds it spent in each, by
its own clock, as `compute=S pipe=S sleep=S` (samples/blocking.c's line)."""
import os
import sys
import threading
import time


def compute(seconds):
    total = 0
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        for i in range(200):
            total += i * i
    return total


def read_pipe(fd):
    return os.read(fd, 1)


def nap(seconds):
    time.sleep(seconds)


def feeder(fd, stop):
    """Writes a byte 50 ms after each request (a byte on the other pipe)."""
    requests, replies = fd
    while not stop.is_set():
        if not os.read(requests, 1):
            return
        time.sleep(0.05)
        os.write(replies, b"x")


def main():
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    stop = threading.Event()
    thread = threading.Thread(target=feeder, args=((request_read, reply_write), stop), name="feeder", daemon=True)
    thread.start()
    spent = {"compute": 0.0, "pipe": 0.0, "sleep": 0.0}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        compute(0.02)
        middle = time.perf_counter()
        os.write(request_write, b"r")
        read_pipe(reply_read)
        after = time.perf_counter()
        nap(0.03)
        spent["compute"] += middle - start
        spent["pipe"] += after - middle
        spent["sleep"] += time.perf_counter() - after
    stop.set()
    os.close(request_write)
    print(" ".join(f"{name}={value:.6f}" for name, value in spent.items()), flush=True)


if __name__ == "__main__":
    main()
