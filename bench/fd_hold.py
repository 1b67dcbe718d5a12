#!/usr/bin/python3
"""fd_hold.py - hold idle descriptors, to see what a box charges for them
(BENCHMARKS.md, issue 16 goal 6: this VM's init, process_api, costs CPU per
open descriptor). Forks PROCS processes; each opens N eventfds (or N/2
socketpairs) and sleeps HOLD seconds, doing no I/O. Run bench/cpu_split.py
beside it.

    /usr/bin/python3 bench/fd_hold.py eventfd|socketpair N PROCS HOLD_S
"""
import os
import socket
import sys
import time

if len(sys.argv) != 5 or sys.argv[1] not in ("eventfd", "socketpair"):
    sys.exit(__doc__)
kind, n, procs, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
kids = []
for _ in range(procs):
    pid = os.fork()
    if pid == 0:
        held = [os.eventfd(0) for _ in range(n)] if kind == "eventfd" else \
            [socket.socketpair() for _ in range(n // 2)]
        time.sleep(hold)
        os._exit(0 if held else 1)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
