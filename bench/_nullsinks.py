"""Two receivers that accept everything as fast as they can, to measure maillog2json's own
ceiling per sink (no server-side indexing or decoding cost):

    python bench/_nullsinks.py es        # prints the port; answers _bulk with 201 per item
    python bench/_nullsinks.py fluentd   # prints the port; acks every forward chunk unread

Not a test double for correctness (the tests use noida-db and tests/fluentd_receiver.py):
these only count and acknowledge.
"""
from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgpack


class Bulk(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    documents = 0

    def log_message(self, *args) -> None:     # quiet
        pass

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(json.dumps({"version": {"number": "8.15.0"}, "tagline": "You Know, for Search"}).encode())

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", 0))
        data = self.rfile.read(n)
        items = data.count(b"\n") // 2
        Bulk.documents += items
        one = b'{"create":{"status":201}}'
        self._reply(b'{"took":1,"errors":false,"items":[' + b",".join([one] * items) + b"]}")

    do_PUT = do_POST


class Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        sock: socket.socket = self.request
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return
            unpacker.feed(data)
            for msg in unpacker:
                if isinstance(msg, list) and len(msg) >= 3 and isinstance(msg[-1], dict) and "chunk" in msg[-1]:
                    sock.sendall(msgpack.packb({"ack": msg[-1]["chunk"]}))


def main() -> None:
    kind = sys.argv[1]
    if kind == "es":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Bulk)
    else:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Forward)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()        # until the parent closes our stdin


if __name__ == "__main__":
    main()
