"""A fast webhook receiver for the `webhooks` benchmark: raw asyncio HTTP/1.1 with keep-alive, no framework.

Every request is answered `200` with an empty body, at once (no signature check: the benchmark measures
the sender). `GET /stats` answers what it got so far as JSON: requests, bytes, and how many carried
`x-ghl-signature` (Ed25519) and `x-wh-signature` (RSA). Bodies must come with a Content-Length (httpx
sends one for a bytes body); chunked bodies are refused with a 400 and the connection closed.

    python -m benchmarks.receiver [PORT]   # prints `RECEIVER_READY http://127.0.0.1:<port>` when it listens
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import orjson

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
STATS = {"requests": 0, "bytes": 0, "ed25519": 0, "rsa": 0}


class Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    self.transport.write(BAD)
                    self.transport.close()
                    return
            total = end + 4 + length
            if len(self.buf) < total:
                return
            del self.buf[:total]
            if head.startswith(b"get /stats "):
                body = orjson.dumps(STATS)
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
                continue
            STATS["requests"] += 1
            STATS["bytes"] += length
            if b"\r\nx-ghl-signature:" in head:
                STATS["ed25519"] += 1
            if b"\r\nx-wh-signature:" in head:
                STATS["rsa"] += 1
            self.transport.write(OK)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"RECEIVER_READY http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
