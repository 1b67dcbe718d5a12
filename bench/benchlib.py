"""bench/benchlib.py - what the Python bench scripts share: starting a
`wspush serve` and reading its ports from the "listening on" line."""
import os
import re
import subprocess
import sys

LISTEN_RE = re.compile(rb"listening on .*?:(\d+).*?admin.*?:(\d+)")


def start(binary, args):
    """Starts `binary serve args`; returns (process, port, admin port) once it
    listens, or exits with its log. Its stderr is then left non-blocking so
    that it never blocks on a full pipe."""
    p = subprocess.Popen([binary, "serve"] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    buf = b""
    while True:
        line = p.stderr.readline()
        if not line:
            sys.exit("server exited: " + buf.decode(errors="replace"))
        buf += line
        m = LISTEN_RE.search(line)
        if m:
            os.set_blocking(p.stderr.fileno(), False)
            return p, int(m.group(1)), int(m.group(2))
