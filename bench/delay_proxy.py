#!/usr/bin/env python3
"""An HTTP forward to one upstream that adds a fixed delay to every request, so a loopback
benchmark shows what round trips cost (loopback has no latency to hide).

usage: delay_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS
Requests are forwarded as they come (method, path, headers, body) to 127.0.0.1:UPSTREAM_PORT and
the answer streamed back; Host is kept, so the upstream writes its own address into documents
(point clients at the upstream's URLs through the proxy by using the proxy's port in both).
"""
import http.client
import http.server
import socketserver
import sys
import time

LISTEN, UPSTREAM, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        time.sleep(DELAY)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        self.send_response(resp.status, resp.reason)
        chunked = resp.getheader("Transfer-Encoding", "").lower() == "chunked"
        for k, v in resp.getheaders():
            if k.lower() in ("connection", "transfer-encoding", "keep-alive"):
                continue
            self.send_header(k, v)
        if chunked or resp.getheader("Content-Length") is None:
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        else:
            self.end_headers()
            if self.command != "HEAD":
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when clients open many connections at once:
    # the kernel drops a SYN and the client waits a second for the retransmit.
    request_queue_size = 1024
    allow_reuse_address = True


Server(("127.0.0.1", LISTEN), Handler).serve_forever()
