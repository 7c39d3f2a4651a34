# Long-lived TCP client for ConntrackRestartTest: one connection, 1 KiB of random bytes every 50 ms, each echo
# read back in full; SHA-256 of what was sent and what came back. Runs until the stop file exists (at most
# 120 s). Prints "connected", "echoed N" every 20 chunks, and "OK sent=... recv=... sha=..." or "ERROR ...".
import hashlib
import os
import socket
import sys
import time

host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sent, recv = hashlib.sha256(), hashlib.sha256()
n_sent = n_recv = 0
try:
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(60)
    print("connected", s.getsockname()[0], s.getsockname()[1], flush=True)
    deadline = time.time() + 120
    chunks = 0
    while not os.path.exists(stop) and time.time() < deadline:
        chunk = os.urandom(1024)
        s.sendall(chunk)
        sent.update(chunk)
        n_sent += len(chunk)
        got = 0
        while got < len(chunk):
            d = s.recv(len(chunk) - got)
            if not d:
                raise ConnectionError("closed by peer")
            recv.update(d)
            got += len(d)
        n_recv += got
        chunks += 1
        if chunks % 20 == 0:
            print("echoed", chunks, flush=True)
        time.sleep(0.05)
    s.close()
except Exception as e:  # reset, timeout, refused: the test fails on any of them
    print("ERROR", type(e).__name__, e, "after", n_sent, "bytes", flush=True)
    sys.exit(1)
ok = sent.hexdigest() == recv.hexdigest() and n_sent == n_recv
print("OK" if ok else "ERROR mismatch", "sent=%d recv=%d sha=%s/%s" % (n_sent, n_recv, sent.hexdigest(),
      recv.hexdigest()), flush=True)
sys.exit(0 if ok else 1)
