# A Pool of 4 processes mapping a function. Its locks and queues are POSIX
# semaphores (sem_open), which glibc keeps in /dev/shm. argv: the output dir,
# then optionally a start method ("fork", the default before Python 3.14;
# "forkserver", the default from 3.14, talks to its server over a unix socket).
import json
import multiprocessing
import os
import sys


def square(n):
    return n * n


if __name__ == "__main__":
    if len(sys.argv) > 2:
        multiprocessing.set_start_method(sys.argv[2])
    with multiprocessing.Pool(4) as pool:
        total = sum(pool.map(square, range(1000)))
        workers = len(multiprocessing.active_children())
    with open(os.path.join(sys.argv[1], "result.json"), "w") as f:
        json.dump({"sum": total, "workers": workers}, f)
    print(total, workers)
