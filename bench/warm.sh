#!/usr/bin/env bash
# Warm sync: WARM_VERSIONS versions × 4 platforms of small assets, served by a local HTTP server,
# synced cold into a docker-registry once, then `sync` again with nothing new (timed with
# hyperfine). Counts the HTTP requests of one more warm run in the file server's access log and
# the registry's access log, and checks that the warm run downloaded no asset.
#
# Knobs: WARM_VERSIONS (default 50), WARM_ASSET_KIB (default 4), WARM_RUNS (hyperfine runs,
#        default 10), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN.
source "$(dirname "$0")/lib.sh"

WARM_VERSIONS="${WARM_VERSIONS:-50}"
WARM_ASSET_KIB="${WARM_ASSET_KIB:-4}"
WARM_RUNS="${WARM_RUNS:-10}"
ARCHS=(amd64 arm64 ppc64le s390x)
T="$BENCH_TMP"
echo "# warm.sh: ${WARM_VERSIONS} versions × ${#ARCHS[@]} platforms × ${WARM_ASSET_KIB} KiB, ${WARM_RUNS} runs, $(print_env)" >&2

files="$T/files"
mkdir -p "$files"
python3 - "$files" "$WARM_VERSIONS" "$WARM_ASSET_KIB" "${ARCHS[@]}" <<'PY'
import hashlib, json, os, sys
files, n, kib, archs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
versions = {}
for i in range(n):
    v = f"1.{i // 10}.{i % 10}"
    assets = {}
    for a in archs:
        name = f"tool-{v}-linux-{a}"
        data = os.urandom(kib * 1024)
        with open(os.path.join(files, name), "wb") as f:
            f.write(data)
        assets[name] = {"url": name, "checksum": "sha256:" + hashlib.sha256(data).hexdigest()}
    versions[v] = {"assets": assets}
with open(os.path.join(files, "index.json"), "w") as f:
    json.dump({"versions": versions}, f)
PY
start_fileserver "$files"
start_registry "$T/registry"

spec="$T/spec.yml"
{
  echo "target: {registry: '$REGISTRY_HOST', namespace: bench, insecure: true}"
  echo "work_dir: $T/work"
  echo "mirrors:"
  echo "  tool:"
  echo "    source: {type: url_index, url: '$FILESERVER_URL/index.json'}"
  echo "    assets:"
  for a in "${ARCHS[@]}"; do echo "      linux/$a: ['-linux-$a\$']"; done
  echo "    asset_type: binary"
  echo "    compression: zstd"
} >"$spec"

statuses() { jq -r '[.mirrors[].versions[].status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$1"; }

t0="$(date +%s.%N)"
"$MK" --log-level warn sync "$spec" --format json >"$T/cold.json"
t1="$(date +%s.%N)"
cold="$(python3 -c "print($t1-$t0)")"
echo "cold sync: $(fmt_s "$cold") s, $(statuses "$T/cold.json")" >&2

hyperfine --style basic --warmup 1 --runs "$WARM_RUNS" --export-json "$T/hf-warm.json" \
  "$MK --log-level warn sync $spec" >&2
warm="$(hf_median "$T/hf-warm.json")"
warm_min="$(jq -r '.results[0].min' "$T/hf-warm.json")"
warm_max="$(jq -r '.results[0].max' "$T/hf-warm.json")"

# One more warm run, with the requests it makes counted in both servers' access logs.
sleep 0.5
fs_before="$(wc -l <"$FILESERVER_LOG")"
reg_before="$(wc -l <"$REGISTRY_LOG")"
"$MK" --log-level warn sync "$spec" --format json >"$T/warm.json"
sleep 0.5
tail -n +"$((fs_before + 1))" "$FILESERVER_LOG" >"$T/fs-warm.log"
tail -n +"$((reg_before + 1))" "$REGISTRY_LOG" >"$T/reg-warm.log"
warm_status="$(statuses "$T/warm.json")"
fs_reqs="$(grep -cE '"(GET|HEAD) ' "$T/fs-warm.log" || true)"
fs_assets="$(grep -E '"(GET|HEAD) ' "$T/fs-warm.log" | grep -cv 'index.json' || true)"
# distribution's access log: one combined-log-format line per request.
reg_reqs="$(grep -cE '"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/[^"]* HTTP/[0-9.]+" [0-9]{3}' "$T/reg-warm.log" || true)"
reg_by="$(grep -oE '"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/[^"]* HTTP/[0-9.]+" [0-9]{3}' "$T/reg-warm.log" |
  sed -E 's#"([A-Z]+) /v2/([^ ]*) HTTP/[0-9.]+" ([0-9]+)#\1 \3 \2#' |
  sed -E 's#/manifests/[^ ]+#/manifests/<ref>#; s#/blobs/[^ ]+#/blobs/<digest>#; s#/tags/list.*#/tags/list#' |
  sort | uniq -c | sort -rn | awk '{printf "%s %s %s %s; ", $1, $2, $3, $4}')"
echo "warm run: $warm_status; file server: $fs_reqs requests ($fs_assets asset downloads); registry: $reg_reqs requests: $reg_by" >&2

echo
echo "### warm.sh — ${WARM_VERSIONS} versions × ${#ARCHS[@]} platforms × ${WARM_ASSET_KIB} KiB assets, zstd"
echo
echo "| measurement | value |"
echo "|---|---|"
echo "| cold sync (1 run, wall) | $(fmt_s "$cold") s ($(statuses "$T/cold.json")) |"
echo "| warm sync, median of $WARM_RUNS (hyperfine, 1 warmup) | $(fmt_s "$warm") s (min $(fmt_s "$warm_min"), max $(fmt_s "$warm_max")) |"
echo "| goal < 1 s | $(python3 -c "print('met' if $warm < 1 else 'missed')") |"
echo "| warm run result | $warm_status |"
echo "| warm run: file server requests | $fs_reqs ($fs_assets asset downloads) |"
echo "| warm run: registry requests | $reg_reqs |"
echo "| warm run: registry requests by kind | ${reg_by:-none} |"
