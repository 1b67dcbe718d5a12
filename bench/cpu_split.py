#!/usr/bin/python3
"""cpu_split.py - where a box's CPU goes during a run, one line per interval:
the box from /proc/stat (user, system, softirq, idle, ... in cores) and the
CPU of processes by group (the wspush server, wspush-bench, ksoftirqd,
kworker, and the three busiest others by name), in cores. One pass over
/proc/*/stat per interval (a few ms), so it can run beside a benchmark.

    /usr/bin/python3 bench/cpu_split.py [INTERVAL_S] > split.txt   (Ctrl-C to stop)

Used for the 1M headline runs in BENCHMARKS.md (issue 16, goal 6)."""
import os, sys, time
INTERVAL = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
HZ = os.sysconf("SC_CLK_TCK")
def stat():
    f = open("/proc/stat").readline().split()[1:9]
    return [int(x) for x in f]
def groups():
    g = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            s = open(f"/proc/{pid}/stat").read()
        except OSError: continue
        comm = s[s.index("(")+1:s.rindex(")")]
        f = s[s.rindex(")")+2:].split()
        t = int(f[11]) + int(f[12])
        if comm == "wspush": k = "server"
        elif comm.startswith("wspush-bench"): k = "bench"
        elif comm.startswith("ksoftirqd"): k = "ksoftirqd"
        elif comm.startswith("kworker"): k = "kworker"
        else: k = "other:" + comm
        g[(pid, k)] = t
    return g
t0 = time.time(); a = stat(); ga = groups()
names = ["user","nice","sys","idle","iowait","irq","softirq","steal"]
while True:
    time.sleep(INTERVAL)
    b = stat(); gb = groups(); dt = time.time() - t0; t0 = time.time()
    d = [(y - x) / HZ / dt for x, y in zip(a, b)]
    per = {}
    for key, v in gb.items():
        dv = v - ga[key] if key in ga else 0  # a process new since the last sample: next time
        per[key[1]] = per.get(key[1], 0) + dv / HZ / dt
    top_other = sorted(((v, k) for k, v in per.items() if k.startswith("other:")), reverse=True)[:3]
    print(time.strftime("%H:%M:%S"), " ".join(f"{n}={v:.2f}" for n, v in zip(names, d)),
          "|", " ".join(f"{k}={per.get(k,0):.2f}" for k in ["server","bench","ksoftirqd","kworker"]),
          "|", " ".join(f"{k[6:]}={v:.2f}" for v, k in top_other), flush=True)
    a, ga = b, gb
