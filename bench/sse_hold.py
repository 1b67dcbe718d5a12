#!/usr/bin/env python3
"""sse_hold.py - holds N idle Server-Sent Events streams (for
bench/conn_memory.sh sse): connects, sends the EventSource request, reads
and drops whatever arrives (ticks, heartbeats) for SECONDS, then closes.
Prints the events counted.  Usage: sse_hold.py PORT PATH N SECONDS"""
import selectors
import socket
import sys
import time

port, path, n, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sel = selectors.DefaultSelector()
req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").encode()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
events = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.5):
        try:
            data = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        events += data.count(b"\n\ndata: ") + data.startswith(b"data: ")
print(f"held {n} SSE streams, {events} events")
