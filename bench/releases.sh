#!/usr/bin/env bash
# Release set, cold and warm: REL_VERSIONS versions × REL_PLATFORMS platforms of .tar.gz assets
# (partly compressible, sizes spread over REL_MIN_MIB..REL_MAX_MIB, generated deterministically)
# served with their index.json by `python3 -m http.server` on 127.0.0.1, mirrored into a fresh
# docker-registry (loopback, insecure) by `mirrorkit sync`, and — in the same run, on the same
# files, into another fresh registry — by a peer pipeline of plain tools, per asset:
#
#   curl -o asset URL && sha256sum -c (the index's checksum)
#   gzip -dc asset | xz -T0 -6 > layer            (the tar stream kept; zstd -T0 -3 / gzip -6)
#   sha256sum layer, write a minimal OCI layout (oci-layout, index.json, manifest, config {})
#   skopeo copy oci:LAYOUT:TAG docker://REGISTRY/peer/tool:VERSION-ARCH --dest-tls-verify=false
#
# The peer runs REL_PEER_JOBS assets at once (`xargs -P`, default: nproc), because mirrorkit
# prepares several versions concurrently too. mirrorkit and the peer alternate (mk, peer, peer,
# mk, …) for REL_RUNS cold runs each; every cold run gets a fresh registry and (mirrorkit) a fresh
# work dir. After each mirrorkit cold run, `sync` runs again with nothing new (1 run with
# --format json, then REL_WARM_RUNS under hyperfine) and the file server's access log is read for
# the requests of those warm runs: asset downloads must be zero.
#
# Goals (from the issue): cold mirrorkit ≤ 1.3 × cold peer; warm < 1 s with 0 asset downloads.
# The issue's set is 30 × 4 assets of 5–40 MiB (~2.6 GiB); xz -6 runs at ~1–3 MiB/s on a 2-core
# VM, so the defaults scale every asset down 20× (0.25–2 MiB, ~135 MiB of tar content): one run
# with the defaults (3 cold runs of each tool) takes ~7–8 minutes there. REL_MIN_MIB=5
# REL_MAX_MIB=40 gives the full size.
#
# Knobs: REL_VERSIONS (30), REL_PLATFORMS (4, at most 6), REL_MIN_MIB (0.25), REL_MAX_MIB (2)
#        (decimals allowed; the issue's full size is 5..40), REL_TEXT (0.5: share of each asset
#        that is compressible text, the rest random bytes), REL_COMPRESSION (xz|zstd|gzip, xz),
#        REL_RUNS (cold runs per tool, 3), REL_WARM_RUNS (hyperfine warm runs per cold run, 5),
#        REL_PEER_JOBS (nproc), REL_MK_MAX_BUNDLES (unset: mirrorkit's default; else written as
#        `concurrency: {max_bundles: N}` in the spec), REL_SEED (1),
#        BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN.
source "$(dirname "$0")/lib.sh"

REL_VERSIONS="${REL_VERSIONS:-30}"
REL_PLATFORMS="${REL_PLATFORMS:-4}"
REL_MIN_MIB="${REL_MIN_MIB:-0.25}"
REL_MAX_MIB="${REL_MAX_MIB:-2}"
REL_TEXT="${REL_TEXT:-0.5}"
REL_COMPRESSION="${REL_COMPRESSION:-xz}"
REL_RUNS="${REL_RUNS:-3}"
REL_WARM_RUNS="${REL_WARM_RUNS:-5}"
REL_PEER_JOBS="${REL_PEER_JOBS:-$(nproc)}"
REL_MK_MAX_BUNDLES="${REL_MK_MAX_BUNDLES:-}"
REL_SEED="${REL_SEED:-1}"
ALL_ARCHS=(amd64 arm64 ppc64le s390x riscv64 386)
((REL_PLATFORMS >= 1 && REL_PLATFORMS <= ${#ALL_ARCHS[@]})) ||
  { echo "REL_PLATFORMS must be 1..${#ALL_ARCHS[@]}" >&2; exit 1; }
ARCHS=("${ALL_ARCHS[@]:0:$REL_PLATFORMS}")
case "$REL_COMPRESSION" in
  xz) PEER_COMPRESS="xz -T0 -6" ;;
  zstd) PEER_COMPRESS="zstd -q -T0 -3" ;;
  gzip) PEER_COMPRESS="gzip -6 -n" ;;
  *) echo "REL_COMPRESSION must be xz, zstd or gzip" >&2; exit 1 ;;
esac
for tool in skopeo curl "$REL_COMPRESSION" xargs; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
T="$BENCH_TMP"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "# releases.sh: ${REL_VERSIONS} versions × ${REL_PLATFORMS} platforms, ${REL_MIN_MIB}..${REL_MAX_MIB} MiB .tar.gz, $REL_COMPRESSION, ${REL_RUNS} cold runs per tool, peer -P ${REL_PEER_JOBS}, $(print_env)" >&2

# --- the release set -------------------------------------------------------------------------
files="$T/files"
mkdir -p "$files"
t0="$EPOCHREALTIME"
python3 - "$files" "$REL_VERSIONS" "$REL_MIN_MIB" "$REL_MAX_MIB" "$REL_TEXT" "$REL_SEED" "${ARCHS[@]}" >"$T/assets.tsv" <<'PY'
# One .tar.gz per (version, arch): tool-V/bin/tool (random bytes) and tool-V/share/doc/tool.txt
# (lines of words from a seeded 4096-word vocabulary, ~3x compressible with xz). Everything is
# seeded and the tar/gzip headers carry fixed times and owners, so the set is byte-identical
# from run to run. Prints "version arch name sha256 size" per asset.
import gzip, hashlib, io, json, os, random, sys, tarfile
files, n = sys.argv[1], int(sys.argv[2])
lo, hi, text_share, seed = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
archs = sys.argv[7:]
if not (0 < lo <= hi) or not (0 <= text_share <= 1):
    sys.exit("need 0 < REL_MIN_MIB <= REL_MAX_MIB and 0 <= REL_TEXT <= 1")
letters = "abcdefghijklmnopqrstuvwxyz"
vrng = random.Random(f"{seed}-vocab")
vocab = ["".join(vrng.choice(letters) for _ in range(vrng.randint(2, 11))) for _ in range(4096)]

def text(rng, size):
    out = bytearray()
    while len(out) < size:
        words = rng.choices(vocab, k=12000)
        out += ("\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n").encode()
    return bytes(out[:size])

def member(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1700000000
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))

total = 0
versions = {}
count = n * len(archs)
for i in range(n):
    v = f"1.{i // 10}.{i % 10}"
    assets = {}
    for j, a in enumerate(archs):
        rng = random.Random(f"{seed}-{v}-{a}")
        # Sizes spread evenly over [lo, hi] (a shuffled ladder), so the total is predictable.
        k = (i * len(archs) + j) * 7919 % count
        size = int((lo + (hi - lo) * (k / max(count - 1, 1))) * 1048576)
        n_text = int(size * text_share)
        name = f"tool-{v}-linux-{a}.tar.gz"
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
            member(tar, f"tool-{v}/bin/tool", rng.randbytes(size - n_text), 0o755)
            member(tar, f"tool-{v}/share/doc/tool.txt", text(rng, n_text), 0o644)
        path = os.path.join(files, name)
        with open(path, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=6, mtime=0) as gz:
                gz.write(raw.getvalue())
        data = open(path, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        assets[name] = {"url": name, "checksum": "sha256:" + sha}
        total += len(data)
        print(v, a, name, sha, size)
    versions[v] = {"assets": assets}
with open(os.path.join(files, "index.json"), "w") as f:
    json.dump({"versions": versions}, f)
PY
n_assets="$(wc -l <"$T/assets.tsv")"
tar_bytes="$(awk '{s += $5} END {print s}' "$T/assets.tsv")"
gz_bytes="$(du -cb "$files"/*.tar.gz | tail -1 | cut -f1)"
mib() { python3 -c "import sys; print(f'{int(sys.argv[1])/1048576:.1f}')" "$1"; }
echo "generated $n_assets assets in $(fmt_s "$(python3 -c "print($EPOCHREALTIME-$t0)")") s: $(mib "$tar_bytes") MiB of tar content, $(mib "$gz_bytes") MiB as .tar.gz" >&2
start_fileserver "$files"

# --- mirrorkit --------------------------------------------------------------------------------
write_spec() { # registry work_dir -> spec on stdout
  echo "target: {registry: '$1', namespace: mk, insecure: true}"
  echo "work_dir: $2"
  echo "mirrors:"
  echo "  tool:"
  echo "    source: {type: url_index, url: '$FILESERVER_URL/index.json'}"
  echo "    assets:"
  for a in "${ARCHS[@]}"; do echo "      linux/$a: ['-linux-$a\\.tar\\.gz\$']"; done
  echo "    asset_type: archive"
  echo "    compression: $REL_COMPRESSION"
  if [[ -n "$REL_MK_MAX_BUNDLES" ]]; then echo "    concurrency: {max_bundles: $REL_MK_MAX_BUNDLES}"; fi
}
statuses() { jq -r '[.mirrors[].versions[].status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$1"; }
tag_count() { # registry repo [regex] -> how many tags (matching regex)
  curl -sSf "http://$1/v2/$2/tags/list" | jq --arg re "${3:-.}" '[.tags[] | select(test($re))] | length'
}
# timed OUT -- CMD… : run CMD under /usr/bin/time; prints "wall_s cpu_s" (cpu = user + sys of
# the command and every child it waited for).
timed() {
  local out="$1"; shift; shift
  local rc=0 t0 t1
  t0="$EPOCHREALTIME"
  /usr/bin/time -f '%U %S' -o "$out.time" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
  t1="$EPOCHREALTIME"
  if [[ "$rc" != 0 ]]; then
    echo "PROBLEM: exit $rc from: $*" >&2
    tail -20 "$out.stderr" >&2
  fi
  python3 -c "import sys; u, s = open(sys.argv[3]).read().split()[-2:]; print(f'{float(sys.argv[2])-float(sys.argv[1]):.3f} {float(u)+float(s):.2f}')" \
    "$t0" "$t1" "$out.time"
}
fs_lines() { sleep 0.3; wc -l <"$FILESERVER_LOG"; }
# Requests in the file server log after line $1: "requests asset_downloads"
fs_since() {
  local from="$1"
  tail -n +"$((from + 1))" "$FILESERVER_LOG" >"$T/fs-since.log"
  echo "$(grep -cE '"(GET|HEAD) ' "$T/fs-since.log" || true) $(grep -E '"(GET|HEAD) ' "$T/fs-since.log" | grep -cv 'index\.json' || true)"
}

MK_WALL=() MK_CPU=() MK_STORED=() WARM_FIRST=() WARM_MED=() WARM_MAX=() WARM_DL=0 WARM_REQS=0 WARM_N=0 WARM_STATUS=""
run_mk() {
  local run="$1" reg spec wall cpu before reqs dl
  reg="$T/reg-mk-$run"
  start_registry "$reg"
  spec="$T/spec-$run.yml"
  write_spec "$REGISTRY_HOST" "$T/work-mk-$run" >"$spec"
  before="$(fs_lines)"
  read -r wall cpu < <(timed "$T/mk-cold-$run" -- "$MK" --log-level warn sync "$spec" --format json)
  read -r reqs dl < <(fs_since "$before")
  local st tags vtags
  st="$(statuses "$T/mk-cold-$run.stdout")"
  # Besides one tag per version, mirrorkit pushes a build tag per version and the rolling tags
  # X.Y, X and latest (its defaults); check the version tags only.
  tags="$(tag_count "$REGISTRY_HOST" mk/tool)"
  vtags="$(tag_count "$REGISTRY_HOST" mk/tool '^1\.[0-9]+\.[0-9]+$')"
  [[ "$vtags" == "$REL_VERSIONS" ]] || echo "PROBLEM: mirrorkit run $run: $vtags version tags in mk/tool, expected $REL_VERSIONS" >&2
  MK_WALL+=("$wall") MK_CPU+=("$cpu") MK_STORED+=("$(du -sb "$reg/data" | cut -f1)")
  echo "mirrorkit cold run $run: $wall s wall, $cpu s CPU, $st, $vtags version tags ($tags tags in all), file server: $reqs requests ($dl asset downloads)" >&2

  # Warm: nothing new. One run with the JSON report, then hyperfine.
  before="$(fs_lines)"
  read -r wall cpu < <(timed "$T/mk-warm-$run" -- "$MK" --log-level warn sync "$spec" --format json)
  WARM_FIRST+=("$wall")
  WARM_STATUS="$(statuses "$T/mk-warm-$run.stdout")"
  hyperfine --style basic --runs "$REL_WARM_RUNS" --export-json "$T/hf-warm-$run.json" \
    "$MK --log-level warn sync $spec" >&2
  WARM_MED+=("$(hf_median "$T/hf-warm-$run.json")")
  WARM_MAX+=("$(jq -r '.results[0].max' "$T/hf-warm-$run.json")")
  read -r reqs dl < <(fs_since "$before")
  WARM_N=$((WARM_N + 1 + REL_WARM_RUNS)) WARM_DL=$((WARM_DL + dl)) WARM_REQS=$((WARM_REQS + reqs))
  echo "mirrorkit warm after run $run: first $wall s ($WARM_STATUS), hyperfine median $(fmt_s "${WARM_MED[-1]}") s; file server: $reqs requests ($dl asset downloads) over $((1 + REL_WARM_RUNS)) runs" >&2
  stop_registry
  rm -rf "$reg" "$T/work-mk-$run"
}

# --- the peer ---------------------------------------------------------------------------------
# One asset: download + verify, recompress keeping the tar stream, hand-written OCI layout,
# skopeo copy. Appends "version arch t0 t_download t_recompress t_layout t_skopeo" (epoch
# seconds at the end of each stage) to $PEER_TIMES.
cat >"$T/peer-one.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
version="$1" arch="$2" name="$3" sha="$4"
t0="$EPOCHREALTIME"
d="$PEER_DIR/$version-$arch"
mkdir -p "$d/layout/blobs/sha256"
curl -sSf -o "$d/asset" "$PEER_BASE/$name"
echo "$sha  $d/asset" | sha256sum -c --quiet -
t1="$EPOCHREALTIME"
gzip -dc "$d/asset" | $PEER_COMPRESS >"$d/layer"
t2="$EPOCHREALTIME"
layer="$(sha256sum "$d/layer" | cut -d' ' -f1)"
layer_size="$(stat -c %s "$d/layer")"
mv "$d/layer" "$d/layout/blobs/sha256/$layer"
printf '{}' >"$d/layout/blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+%s","digest":"sha256:%s","size":%s}]}' \
  "$PEER_MEDIA" "$layer" "$layer_size" >"$d/manifest.json"
manifest="$(sha256sum "$d/manifest.json" | cut -d' ' -f1)"
manifest_size="$(stat -c %s "$d/manifest.json")"
mv "$d/manifest.json" "$d/layout/blobs/sha256/$manifest"
printf '{"imageLayoutVersion":"1.0.0"}' >"$d/layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$version-$arch" >"$d/layout/index.json"
t3="$EPOCHREALTIME"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
  "oci:$d/layout:$version-$arch" "docker://$PEER_REGISTRY/peer/tool:$version-$arch"
t4="$EPOCHREALTIME"
rm -rf "$d"
echo "$version $arch $t0 $t1 $t2 $t3 $t4" >>"$PEER_TIMES"
SH
[[ "$(printf '{}' | sha256sum | cut -d' ' -f1)" == 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a ]]
case "$REL_COMPRESSION" in xz) PEER_MEDIA=xz ;; zstd) PEER_MEDIA=zstd ;; gzip) PEER_MEDIA=gzip ;; esac

PEER_WALL=() PEER_CPU=() PEER_STORED=() PEER_STAGES=()
run_peer() {
  local run="$1" reg wall cpu tags
  reg="$T/reg-peer-$run"
  start_registry "$reg"
  mkdir -p "$T/peer-$run"
  : >"$T/peer-times-$run"
  read -r wall cpu < <(timed "$T/peer-cold-$run" -- env PEER_DIR="$T/peer-$run" PEER_BASE="$FILESERVER_URL" \
    PEER_COMPRESS="$PEER_COMPRESS" PEER_MEDIA="$PEER_MEDIA" PEER_REGISTRY="$REGISTRY_HOST" \
    PEER_TIMES="$T/peer-times-$run" \
    xargs -a "$T/peer-args" -P "$REL_PEER_JOBS" -n 4 bash "$T/peer-one.sh")
  tags="$(tag_count "$REGISTRY_HOST" peer/tool)"
  [[ "$tags" == "$n_assets" ]] || echo "PROBLEM: peer run $run: $tags tags in peer/tool, expected $n_assets" >&2
  PEER_WALL+=("$wall") PEER_CPU+=("$cpu") PEER_STORED+=("$(du -sb "$reg/data" | cut -f1)")
  # Summed stage times over all assets (seconds of wall time inside the workers).
  PEER_STAGES+=("$(awk '{d += $4-$3; c += $5-$4; l += $6-$5; s += $7-$6} END {printf "%.1f %.1f %.1f %.1f", d, c, l, s}' "$T/peer-times-$run")")
  echo "peer cold run $run: $wall s wall, $cpu s CPU, $tags tags; stage sums (download+verify, recompress, layout, skopeo): ${PEER_STAGES[-1]} s" >&2
  stop_registry
  rm -rf "$reg" "$T/peer-$run"
}
awk '{print $1, $2, $3, $4}' "$T/assets.tsv" >"$T/peer-args"

# --- the runs ---------------------------------------------------------------------------------
for run in $(seq 1 "$REL_RUNS"); do
  if ((run % 2)); then run_mk "$run"; run_peer "$run"; else run_peer "$run"; run_mk "$run"; fi
done

# --- report -----------------------------------------------------------------------------------
mk="$(median "${MK_WALL[@]}")" peer="$(median "${PEER_WALL[@]}")"
mk_cpu="$(median "${MK_CPU[@]}")" peer_cpu="$(median "${PEER_CPU[@]}")"
r="$(ratio "$mk" "$peer")"
warm="$(median "${WARM_MED[@]}")" warm_first="$(median "${WARM_FIRST[@]}")"
warm_max="$(printf '%s\n' "${WARM_MAX[@]}" "${WARM_FIRST[@]}" | sort -g | tail -1)"
minmax() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | xargs printf 'min %.3f, max %.3f'; }
stage_med() { # column (1..4) -> median over runs
  local col="$1" xs=() s
  for s in "${PEER_STAGES[@]}"; do xs+=("$(echo "$s" | cut -d' ' -f"$col")"); done
  python3 -c "import sys; print(f'{float(sys.argv[1]):.1f}')" "$(median "${xs[@]}")"
}
goal() { python3 -c "import sys; print('met' if float(sys.argv[1]) $2 float(sys.argv[3]) else 'missed')" "$1" "$2" "$3"; }
mk_conc="default"
[[ -n "$REL_MK_MAX_BUNDLES" ]] && mk_conc="max_bundles: $REL_MK_MAX_BUNDLES"

echo
echo "### releases.sh — ${REL_VERSIONS} versions × ${REL_PLATFORMS} platforms, .tar.gz assets of ${REL_MIN_MIB}–${REL_MAX_MIB} MiB, $REL_COMPRESSION, median of ${REL_RUNS} cold runs per tool"
echo
echo "Set: $n_assets assets, $(mib "$tar_bytes") MiB of tar content ($(mib "$gz_bytes") MiB as .tar.gz, ${REL_TEXT} text share)."
echo "$(print_env); load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| measurement | value |"
echo "|---|---|"
echo "| cold: mirrorkit sync (fresh registry and work dir; concurrency $mk_conc) | $(fmt_s "$mk") s ($(minmax "${MK_WALL[@]}")), CPU $mk_cpu s, $(mib_per_s "$tar_bytes" "$mk") MiB/s of tar content |"
echo "| cold: peer (curl + sha256sum -c, gzip -dc \\| ${PEER_COMPRESS}, OCI layout, skopeo copy; xargs -P $REL_PEER_JOBS) | $(fmt_s "$peer") s ($(minmax "${PEER_WALL[@]}")), CPU $peer_cpu s, $(mib_per_s "$tar_bytes" "$peer") MiB/s of tar content |"
echo "| **cold ratio mirrorkit ÷ peer (goal ≤ 1.3)** | **$r** ($(goal "$r" '<=' 1.3)) |"
echo "| CPU use (CPU s ÷ wall s): mirrorkit / peer | $(ratio "$mk_cpu" "$mk") / $(ratio "$peer_cpu" "$peer") cores |"
echo "| stored in the registry (median): mirrorkit / peer | $(mib "$(median "${MK_STORED[@]}" | cut -d. -f1)") MiB / $(mib "$(median "${PEER_STORED[@]}" | cut -d. -f1)") MiB |"
echo "| peer stage times summed over assets (median): download+verify / recompress / layout+hash / skopeo | $(stage_med 1) / $(stage_med 2) / $(stage_med 3) / $(stage_med 4) s |"
echo "| **warm sync** (nothing new), median of the hyperfine medians ($REL_WARM_RUNS runs after each cold run) | **$(fmt_s "$warm") s** (first warm run: median $(fmt_s "$warm_first") s; slowest single warm run $(fmt_s "$warm_max") s) |"
echo "| goal warm < 1 s | $(goal "$warm_max" '<' 1) |"
echo "| warm result | $WARM_STATUS |"
echo "| **warm: asset downloads (goal 0)** | **$WARM_DL** over $WARM_N warm runs ($WARM_REQS file server requests in all: $(python3 -c "print(f'{$WARM_REQS/$WARM_N:.1f}')") per run) |"
