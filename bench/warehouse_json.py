#!/usr/bin/env python3
"""The part of PyPI's own API (Warehouse) that bandersnatch mirrors from, over a directory of
distributions, so bandersnatch can be measured against the same corpus as mirrorkit and pip
(pypiserver serves only PEP 503 HTML, which bandersnatch cannot use).

usage: warehouse_json.py PORT DIR
  GET /simple/            PEP 691 JSON root: {"meta": {"api-version", "_last-serial"},
                          "projects": [{"name", "_last-serial"}]}
  GET /pypi/<name>/json   {"info", "last_serial", "releases": {version: [file]}, "urls"},
                          header X-PYPI-LAST-SERIAL
  GET /simple/<name>/     PEP 691 JSON project page, with an ETag (a 304 for If-None-Match), as
                          Warehouse serves it: what mirrorkit mirrors from in the same run
  GET /packages/<file>    the file
Every project has serial 1; URLs are built from the Host header (so a proxy in front keeps its
own address). Files are wheels or sdists named as PyPI names them.
"""
import hashlib
import http.server
import json
import os
import re
import socketserver
import sys

PORT, ROOT = int(sys.argv[1]), sys.argv[2]


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def scan():
    projects = {}
    for f in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, f)
        if f.endswith(".whl"):
            dist, version = f.split("-")[:2]
        elif f.endswith(".tar.gz"):
            dist, version = f[: -len(".tar.gz")].rsplit("-", 1)
        else:
            continue
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        projects.setdefault(normalise(dist), {}).setdefault(version, []).append(
            {"filename": f, "size": os.path.getsize(path), "sha256": h.hexdigest()}
        )
    return projects


PROJECTS = scan()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, doc, content_type="application/json", headers=(), etag=False):
        body = json.dumps(doc).encode()
        if etag:
            tag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
            headers = list(headers) + [("ETag", tag)]
            if self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host = self.headers.get("Host", f"127.0.0.1:{PORT}")
        path = self.path.split("?")[0]
        if path in ("/simple", "/simple/"):
            return self.send_json(
                {
                    "meta": {"api-version": "1.1", "_last-serial": 1},
                    "projects": [{"name": n, "_last-serial": 1} for n in PROJECTS],
                },
                "application/vnd.pypi.simple.v1+json",
            )
        m = re.fullmatch(r"/simple/([^/]+)/?", path)
        if m and normalise(m.group(1)) in PROJECTS:
            name = normalise(m.group(1))
            files = [
                {
                    "filename": f["filename"],
                    "url": f"http://{host}/packages/{f['filename']}",
                    "hashes": {"sha256": f["sha256"]},
                    "requires-python": None,
                    "size": f["size"],
                    "upload-time": "2026-01-01T00:00:00.000000Z",
                    "yanked": False,
                }
                for files in PROJECTS[name].values()
                for f in files
            ]
            return self.send_json(
                {
                    "meta": {"api-version": "1.1", "_last-serial": 1},
                    "name": name,
                    "versions": sorted(PROJECTS[name]),
                    "files": files,
                },
                "application/vnd.pypi.simple.v1+json",
                etag=True,
            )
        m = re.fullmatch(r"/pypi/([^/]+)/json/?", path)
        if m and normalise(m.group(1)) in PROJECTS:
            name = normalise(m.group(1))
            releases = {
                v: [
                    {
                        "filename": f["filename"],
                        "url": f"http://{host}/packages/{f['filename']}",
                        "size": f["size"],
                        "upload_time_iso_8601": "2026-01-01T00:00:00.000000Z",
                        "digests": {"sha256": f["sha256"]},
                        "requires_python": None,
                        "yanked": False,
                        "packagetype": "bdist_wheel" if f["filename"].endswith(".whl") else "sdist",
                    }
                    for f in files
                ]
                for v, files in PROJECTS[name].items()
            }
            latest = sorted(releases)[-1]
            return self.send_json(
                {
                    "info": {"name": name, "version": latest},
                    "last_serial": 1,
                    "releases": releases,
                    "urls": releases[latest],
                },
                headers=[("X-PYPI-LAST-SERIAL", "1")],
            )
        m = re.fullmatch(r"/packages/([^/]+)", path)
        if m and os.path.isfile(os.path.join(ROOT, m.group(1))):
            p = os.path.join(ROOT, m.group(1))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.path.getsize(p)))
            self.end_headers()
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.wfile.write(chunk)
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when clients open many connections at once:
    # the kernel drops a SYN and the client waits a second for the retransmit.
    request_queue_size = 1024


Server(("127.0.0.1", PORT), Handler).serve_forever()
