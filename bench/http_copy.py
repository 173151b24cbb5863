#!/usr/bin/env python3
"""The floor for registry-to-registry copies: a plain HTTP copy of the same blobs and manifests.

usage: http_copy.py SRC_HOST DST_HOST images.txt

For every "repository tag" line: GET the manifest (an index's children too), then for every
blob not yet sent to that repository: GET it from the source and stream it into a monolithic
upload (POST, then PUT ?digest= with the body) on the target; then PUT the manifests, children
first. 4 blobs in flight. No verification, no retries, no mounts: the least work a correct copy
over HTTP can do, which is what the benchmark compares against.
"""
import concurrent.futures
import http.client
import json
import sys
import threading
import urllib.parse

SRC, DST, LIST = sys.argv[1], sys.argv[2], sys.argv[3]
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
local = threading.local()


def conn(host):
    pool = getattr(local, "pool", None)
    if pool is None:
        pool = local.pool = {}
    if host not in pool:
        h, p = host.split(":")
        pool[host] = http.client.HTTPConnection(h, int(p), timeout=120)
    return pool[host]


def request(host, method, path, body=None, headers=None):
    c = conn(host)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status >= 400:
        raise RuntimeError(f"{method} {host}{path}: {r.status} {data[:200]!r}")
    return r, data


def get_manifest(repo, ref):
    r, data = request(SRC, "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    return data, r.getheader("Content-Type").split(";")[0]


def copy_blob(repo, digest, size):
    src = conn(SRC)
    src.request("GET", f"/v2/{repo}/blobs/{digest}")
    body = src.getresponse()
    if body.status != 200:
        raise RuntimeError(f"GET blob {digest}: {body.status}")
    r, _ = request(DST, "POST", f"/v2/{repo}/blobs/uploads/")
    loc = urllib.parse.urlparse(r.getheader("Location"))
    sep = "&" if loc.query else "?"
    path = f"{loc.path}?{loc.query}{sep}digest={digest}" if loc.query else f"{loc.path}?digest={digest}"
    dst = conn(DST)
    dst.putrequest("PUT", path)
    dst.putheader("Content-Type", "application/octet-stream")
    dst.putheader("Content-Length", str(size))
    dst.endheaders()
    while True:
        chunk = body.read(1 << 20)
        if not chunk:
            break
        dst.send(chunk)
    resp = dst.getresponse()
    resp.read()
    if resp.status >= 400:
        raise RuntimeError(f"PUT blob {digest}: {resp.status}")


def main():
    images = [line.split() for line in open(LIST) if line.strip()]
    plan = []  # (repo, [(manifest bytes, media type, ref)], {digest: size})
    for repo, tag in images:
        top, mt = get_manifest(repo, tag)
        manifests, blobs = [], {}
        doc = json.loads(top)
        children = doc.get("manifests", []) if "manifests" in doc else []
        for child in children:
            data, cmt = get_manifest(repo, child["digest"])
            manifests.append((data, cmt, child["digest"]))
            m = json.loads(data)
            for d in [m["config"]] + m["layers"]:
                blobs[d["digest"]] = d["size"]
        if not children:
            for d in [doc["config"]] + doc["layers"]:
                blobs[d["digest"]] = d["size"]
        manifests.append((top, mt, tag))
        plan.append((repo, manifests, blobs))
    sent = set()
    jobs = []
    for repo, _, blobs in plan:
        for d, size in blobs.items():
            if (repo, d) not in sent:
                sent.add((repo, d))
                jobs.append((repo, d, size))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(copy_blob, *j) for j in jobs]:
            f.result()
    for repo, manifests, _ in plan:
        for data, mt, ref in manifests:
            request(DST, "PUT", f"/v2/{repo}/manifests/{ref}", body=data, headers={"Content-Type": mt})


main()
