#!/usr/bin/env python3
"""A small HTTP/1.1 server for the lab's pods (standard library, asyncio).

It answers every GET with a short body naming the pod, keeps the connection open unless the client sends
"Connection: close" (or speaks HTTP/1.0), and then closes first. It exists because `python3 -m http.server`
tops out well below what the dataplanes can carry, and the benchmark must measure the dataplane, not the
server. Usage: httpd.py PORT NAME
"""

import asyncio
import socket
import sys


class Http(asyncio.Protocol):
    """One connection: parse request heads out of the byte stream, answer each one."""

    def __init__(self, keep, close):
        self.keep = keep
        self.close = close
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            head = self.buf[:end].lower()
            self.buf = self.buf[end + 4:]
            closing = b"connection: close" in head or head.split(b"\r\n", 1)[0].endswith(b"http/1.0")
            if closing:
                self.transport.write(self.close)
                self.transport.close()
                return
            self.transport.write(self.keep)


def main():
    port = int(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "pod"
    body = ("hello from %s\n" % name).encode()
    common = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % len(body)
    keep = common + b"\r\n" + body
    close = common + b"Connection: close\r\n\r\n" + body

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Http(keep, close), host="0.0.0.0", port=port, backlog=4096,
                                          reuse_address=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
