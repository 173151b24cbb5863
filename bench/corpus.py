#!/usr/bin/env python3
"""The image corpus of bench/bundles.sh and bench/images.sh, generated deterministically.

usage: corpus.py ROOT REPOS TAGS MIN_MIB MAX_MIB SEED > images.txt

Writes one OCI image layout per repository under ROOT/<repository>/: REPOS repositories
(team<r%4>/app<r>) × TAGS tags (1.0, 1.1, …), each image with 3–4 layers of MIN..MAX MiB random
bytes, the first layer one of 3 shared base layers, every 4th repository multi-arch (an index of
amd64 + arm64). Prints "repository tag" per image.
"""
import hashlib, json, os, random, sys
root, repos, tags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lo, hi, seed = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
rng = random.Random(seed)
MiB = 1 << 20

def blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    p = os.path.join(layout, "blobs", "sha256", d)
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)
    return "sha256:" + d, len(data)

def noise(n, key):
    r = random.Random(key)
    return r.randbytes(n)

bases = [noise(int(rng.uniform(lo, hi) * MiB), f"{seed}-base-{i}") for i in range(3)]
for r in range(repos):
    name = f"team{r % 4}/app{r}"
    layout = os.path.join(root, name)
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for t in range(tags):
        tag = f"1.{t}"
        archs = ["amd64", "arm64"] if r % 4 == 0 else ["amd64"]
        manifests = []
        for arch in archs:
            layers = [bases[(r + t) % 3]]
            for l in range(rng.randint(2, 3)):
                layers.append(noise(int(rng.uniform(lo, hi) * MiB), f"{seed}-{r}-{t}-{arch}-{l}"))
            descs = []
            for data in layers:
                d, n = blob(layout, data)
                descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
            cfg = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in descs]}}).encode()
            cd, cn = blob(layout, cfg)
            m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                            "layers": descs}).encode()
            md, mn = blob(layout, m)
            manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
                              "platform": {"architecture": arch, "os": "linux"}})
        if len(manifests) == 1:
            top = dict(manifests[0]); top.pop("platform")
        else:
            i = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}).encode()
            idd, idn = blob(layout, i)
            top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idd, "size": idn}
        top["annotations"] = {"org.opencontainers.image.ref.name": tag}
        entries.append(top)
        print(name, tag)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": entries}, f)
