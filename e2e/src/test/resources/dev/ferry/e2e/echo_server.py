# TCP echo server for ConntrackRestartTest: echoes every byte; logs each accepted peer (address and port).
import socket
import sys
import threading

name, port = sys.argv[1], int(sys.argv[2])


def echo(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
print("listening", name, port, flush=True)
while True:
    c, a = s.accept()
    print("accepted", name, a[0], a[1], flush=True)
    threading.Thread(target=echo, args=(c,), daemon=True).start()
