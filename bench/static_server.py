#!/usr/bin/env python3
"""A static file server for the benchmarks' upstreams: usage: static_server.py DIR PORT

`python3 -m http.server` listens with a backlog of 5 and closes the connection after every
response (HTTP/1.0), so eight or more clients downloading at once overflow its accept queue:
the kernel drops a SYN and the client waits a full second for the retransmit (seen as
`TcpExtListenOverflows` in `nstat`, and as a bimodal 0.3 s / 1.1 s incremental apt sync). A real
mirror (nginx, Apache) has a deep backlog and keeps connections alive; so does this: a thread per
connection, HTTP/1.1 keep-alive, a backlog of 1024, no access log. Binds 127.0.0.1 only.
"""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    handler = functools.partial(Handler, directory=directory)
    with Server(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
