#!/usr/bin/env python3
"""Package corpus for bench/packages.sh: N packages per ecosystem with one file each of
MIN_KB..MAX_KB incompressible bytes (log-uniform, seeded), plus one of BIG_MIB MiB.

usage: packages_corpus.py OUT N MIN_KB MAX_KB BIG_MIB SEED CARGO_DL_BASE
Writes OUT/npm/*.tgz (npm publish-able tarballs), OUT/pypi/*.whl (wheels), OUT/cargo/ (a sparse
registry: config.json with dl under CARGO_DL_BASE, index files, crates/), and the PURL lists
OUT/{npm,pypi,cargo}.txt (one PURL per line) and OUT/cargo-deps.toml (a [dependencies] table).
"""
import base64
import hashlib
import io
import json
import math
import os
import random
import sys
import tarfile
import zipfile

out, n, min_kb, max_kb, big_mib, seed, dl_base = sys.argv[1:8]
n, min_kb, max_kb, big_mib, seed = int(n), int(min_kb), int(max_kb), int(big_mib), int(seed)
rng = random.Random(seed)


def sizes():
    lo, hi = math.log(min_kb * 1024), math.log(max_kb * 1024)
    for i in range(n):
        yield f"{i:03d}", int(math.exp(rng.uniform(lo, hi)))
    if big_mib > 0:
        yield "big", big_mib << 20


def tar_gz(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


for d in ("npm", "pypi", "cargo/crates"):
    os.makedirs(os.path.join(out, d), exist_ok=True)
purls = {"npm": [], "pypi": [], "cargo": []}
deps = []
index = {}
for suffix, size in sizes():
    data = rng.randbytes(size)
    # npm: package/package.json + package/data.bin
    name = f"bench-npm-{suffix}"
    manifest = json.dumps({"name": name, "version": "1.0.0", "license": "MIT"}).encode()
    with open(os.path.join(out, "npm", f"{name}-1.0.0.tgz"), "wb") as f:
        f.write(tar_gz([("package/package.json", manifest), ("package/data.bin", data)]))
    purls["npm"].append(f"pkg:npm/{name}@1.0.0")
    # PyPI: a wheel holding the data
    dist = f"bench_py_{suffix}"
    info = f"{dist}-1.0.0.dist-info"
    files = [
        (f"{dist}/data.bin", data),
        (f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\n".encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(c).digest()).rstrip(b'=').decode()},{len(c)}\n"
        for p, c in files
    ) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(out, "pypi", f"{dist}-1.0.0-py3-none-any.whl"), "w", zipfile.ZIP_STORED) as z:
        for p, c in files + [(f"{info}/RECORD", record.encode())]:
            z.writestr(p, c)
    purls["pypi"].append(f"pkg:pypi/{dist.replace('_', '-')}@1.0.0")
    # cargo: a crate with the data
    cname = f"bench_crate_{suffix}"
    toml = f'[package]\nname = "{cname}"\nversion = "1.0.0"\nedition = "2021"\n'.encode()
    crate = tar_gz([(f"{cname}-1.0.0/Cargo.toml", toml), (f"{cname}-1.0.0/src/lib.rs", b""), (f"{cname}-1.0.0/data.bin", data)])
    os.makedirs(os.path.join(out, "cargo/crates", cname), exist_ok=True)
    with open(os.path.join(out, "cargo/crates", cname, f"{cname}-1.0.0.crate"), "wb") as f:
        f.write(crate)
    line = {"name": cname, "vers": "1.0.0", "deps": [], "cksum": hashlib.sha256(crate).hexdigest(), "features": {}, "yanked": False}
    path = f"{cname[:2]}/{cname[2:4]}/{cname}"
    os.makedirs(os.path.join(out, "cargo", os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(out, "cargo", path), "w") as f:
        f.write(json.dumps(line) + "\n")
    purls["cargo"].append(f"pkg:cargo/{cname}@1.0.0")
    deps.append(f'{cname} = "=1.0.0"')
with open(os.path.join(out, "cargo/config.json"), "w") as f:
    json.dump({"dl": f"{dl_base}/crates/{{crate}}/{{crate}}-{{version}}.crate"}, f)
for eco, lines in purls.items():
    with open(os.path.join(out, f"{eco}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "cargo-deps.toml"), "w") as f:
    f.write("[dependencies]\n" + "\n".join(deps) + "\n")
