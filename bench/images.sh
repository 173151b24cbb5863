#!/usr/bin/env bash
# Image sync between two local registries: mirrorkit sync (oci sources) against
# `skopeo sync --all` on the same corpus, in the same run, and against the floor this machine
# allows: a plain HTTP copy of the same blobs and manifests (bench/http_copy.py, 4 streams).
#
# Corpus: bench/corpus.py — IMG_REPOS repositories × IMG_TAGS tags, 3–4 layers of
# IMG_MIN_MIB..IMG_MAX_MIB incompressible bytes, 3 shared base layers, every 4th repository
# multi-arch — pushed once into a source docker-registry with skopeo (setup, not timed).
# Every cold run gets fresh target registries (one per tool), so nothing is mounted from an earlier
# run; warm = the same sync again with nothing new.
#
# Goals (from the issue): cold ≥ 1.5× faster than skopeo, warm ≥ 10× faster, peak RSS < 150 MiB,
# cold within 1.3× of the plain HTTP copy.
# Knobs: IMG_REPOS (24), IMG_TAGS (2), IMG_MIN_MIB (1), IMG_MAX_MIB (16), IMG_RUNS (3),
#        IMG_SEED (1), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN,
#        MIRRORKIT_BIN_B (a second binary, e.g. an older commit's: timed in the same runs, into
#        its own fresh target, the two taking turns at going first).
source "$(dirname "$0")/lib.sh"

IMG_REPOS="${IMG_REPOS:-24}"
IMG_TAGS="${IMG_TAGS:-2}"
IMG_MIN_MIB="${IMG_MIN_MIB:-1}"
IMG_MAX_MIB="${IMG_MAX_MIB:-16}"
IMG_RUNS="${IMG_RUNS:-3}"
IMG_SEED="${IMG_SEED:-1}"
command -v skopeo >/dev/null || { echo "missing tool: skopeo" >&2; exit 1; }
T="$BENCH_TMP"
MK_B=""
if [[ -n "${MIRRORKIT_BIN_B:-}" ]]; then
  cp "$MIRRORKIT_BIN_B" "$T/mirrorkit-b"; MK_B="$T/mirrorkit-b"
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
echo "# images.sh: ${IMG_REPOS} repos × ${IMG_TAGS} tags, layers ${IMG_MIN_MIB}..${IMG_MAX_MIB} MiB, ${IMG_RUNS} runs, $(print_env)" >&2

python3 "$HERE/corpus.py" "$T/corpus" "$IMG_REPOS" "$IMG_TAGS" "$IMG_MIN_MIB" "$IMG_MAX_MIB" "$IMG_SEED" >"$T/images.txt"
start_registry "$T/src"
SRC="$REGISTRY_HOST"
while read -r repo tag; do
  skopeo copy --quiet --all --dest-tls-verify=false "oci:$T/corpus/$repo:$tag" "docker://$SRC/$repo:$tag"
done <"$T/images.txt"
corpus_bytes="$(du -sb "$T/src/data" | cut -f1)"
echo "# source registry holds $(wc -l <"$T/images.txt") images, $((corpus_bytes / 1048576)) MiB" >&2

spec() { # spec TARGET_HOST -> $T/spec.yml
  {
    echo "target: {registry: '$1', namespace: mk, insecure: true}"
    echo "registries: {'$SRC': {insecure: true}}"
    echo "mirrors:"
    cut -d' ' -f1 "$T/images.txt" | sort -u | while read -r repo; do
      echo "  ${repo//\//-}: {source: {type: oci, image: '$SRC/$repo'}, repository: $repo}"
    done
  } >"$T/spec.yml"
}
{
  echo "$SRC:"
  echo "  tls-verify: false"
  echo "  images:"
  cut -d' ' -f1 "$T/images.txt" | sort -u | while read -r repo; do
    tags="$(awk -v r="$repo" '$1==r {print $2}' "$T/images.txt" | paste -sd, -)"
    echo "    $repo: [$tags]"
  done
} >"$T/sync.yml"

reads() { # reads HOST PREFIX -> curl arguments: every repository's tag list, every tag's manifest HEAD
  local accept='Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json'
  cut -d' ' -f1 "$T/images.txt" | sort -u | while read -r repo; do
    echo "http://$1/v2/$2$repo/tags/list -o /dev/null"
  done
  while read -r repo tag; do
    echo "-I -H ${accept// /} http://$1/v2/$2$repo/manifests/$tag -o /dev/null"
  done <"$T/images.txt"
}

timed() { # timed NAME CMD... -> appends "seconds maxrss_kib" to $T/NAME.times
  local name="$1"; shift
  local t0="$EPOCHREALTIME"
  /usr/bin/time -f '%M' -o "$T/$name.rss" "$@" >"$T/$name.out" 2>"$T/$name.err" || { cat "$T/$name.err" >&2; return 1; }
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") $(cat "$T/$name.rss")" >>"$T/$name.times"
}

for run in $(seq 1 "$IMG_RUNS"); do
  start_registry "$T/dst-mk-$run"; DST_MK="$REGISTRY_HOST"
  start_registry "$T/dst-sk-$run"; DST_SK="$REGISTRY_HOST"
  start_registry "$T/dst-http-$run"; DST_HTTP="$REGISTRY_HOST"
  mk_pair() { # mk_pair NAME BINARY TARGET_HOST: a cold then a warm sync into a fresh work dir
    spec "$3"
    rm -rf "$T/work"
    timed "$1-cold" "$2" sync "$T/spec.yml" --work-dir "$T/work" --format json
    timed "$1-warm" "$2" sync "$T/spec.yml" --work-dir "$T/work" --format json
  }
  if [[ -n "$MK_B" ]]; then
    start_registry "$T/dst-mkb-$run"; DST_MKB="$REGISTRY_HOST"
    if (( run % 2 )); then mk_pair mkb "$MK_B" "$DST_MKB"; mk_pair mk "$MK" "$DST_MK"
    else mk_pair mk "$MK" "$DST_MK"; mk_pair mkb "$MK_B" "$DST_MKB"; fi
  else
    mk_pair mk "$MK" "$DST_MK"
  fi
  # skopeo sync files each image under DEST/<last path component> (app0, app1, …: unique here).
  timed sk-cold skopeo sync --all --src yaml --dest docker --dest-tls-verify=false "$T/sync.yml" "$DST_SK/sk"
  timed sk-warm skopeo sync --all --src yaml --dest docker --dest-tls-verify=false "$T/sync.yml" "$DST_SK/sk"
  timed http-cold python3 "$HERE/http_copy.py" "$SRC" "$DST_HTTP" "$T/images.txt"
  # The floor of a warm run: the reads any sync must make replayed by curl (8 at once, kept-alive
  # connections). "source" = each repository's tag list and each tag's manifest HEAD on the
  # source (without them a sync cannot know what changed); "both" adds the same on the target
  # (what mirrorkit reads to know the target holds each tag).
  timed floor-src curl -s --parallel --parallel-max 8 $(reads "$SRC" "")
  timed floor-both curl -s --parallel --parallel-max 8 $(reads "$SRC" "") $(reads "$DST_MK" mk/)
  echo "# run $run: mk $(tail -1 "$T/mk-cold.times") warm $(tail -1 "$T/mk-warm.times"); skopeo $(tail -1 "$T/sk-cold.times") warm $(tail -1 "$T/sk-warm.times"); http $(tail -1 "$T/http-cold.times"); floor src $(tail -1 "$T/floor-src.times") both $(tail -1 "$T/floor-both.times")" >&2
  jq -e '.summary.failed == 0 and .summary.mirrors_failed == 0' "$T/mk-cold.out" >/dev/null ||
    { echo "mirrorkit cold run reported failures" >&2; cat "$T/mk-cold.out" >&2; exit 1; }
  if [[ "$run" == 1 ]]; then
    while read -r repo tag; do
      a="$(skopeo inspect --raw --tls-verify=false "docker://$SRC/$repo:$tag" | sha256sum | cut -c1-64)"
      b="$(skopeo inspect --raw --tls-verify=false "docker://$DST_MK/mk/$repo:$tag" | sha256sum | cut -c1-64)"
      [[ "$a" == "$b" ]] || { echo "digest differs for $repo:$tag" >&2; exit 1; }
    done <"$T/images.txt"
  fi
done

med() { median $(cut -d' ' -f1 "$T/$1.times"); }
rss_mib() { python3 -c "print(f'{$(median $(cut -d' ' -f2 "$T/$1.times"))/1024:.1f}')"; }
mc="$(med mk-cold)"; mw="$(med mk-warm)"; sc="$(med sk-cold)"; sw="$(med sk-warm)"; hc="$(med http-cold)"
fs="$(med floor-src)"; fb="$(med floor-both)"
cat <<EOF

### images.sh — $(wc -l <"$T/images.txt") images in ${IMG_REPOS} repositories ($((corpus_bytes / 1048576)) MiB in the source registry), median of ${IMG_RUNS}

$(print_env)

| measurement | mirrorkit sync | skopeo sync --all | skopeo ÷ mirrorkit | plain HTTP copy | mirrorkit ÷ HTTP copy |
|---|---|---|---|---|---|
| cold (fresh target registry) | $(fmt_s "$mc") s | $(fmt_s "$sc") s | **$(ratio "$sc" "$mc")×** (goal ≥ 1.5) | $(fmt_s "$hc") s | **$(ratio "$mc" "$hc")** (goal ≤ 1.3) |
| warm (nothing new) | $(fmt_s "$mw") s | $(fmt_s "$sw") s | **$(ratio "$sw" "$mw")×** (goal ≥ 10) | – | – |
| warm floor: the same reads replayed by curl (8 at once) | source only $(fmt_s "$fs") s, source + target $(fmt_s "$fb") s | – | skopeo ÷ source-only floor: $(ratio "$sw" "$fs")× | – | mirrorkit ÷ source + target floor: **$(ratio "$mw" "$fb")** |
| peak RSS | cold $(rss_mib mk-cold) MiB, warm $(rss_mib mk-warm) MiB (goal < 150) | cold $(rss_mib sk-cold) MiB | – | – | – |

Every manifest digest in mirrorkit's target equals the source's (skopeo inspect --raw, run 1).
EOF
if [[ -n "$MK_B" ]]; then
  bc="$(med mkb-cold)"; bw="$(med mkb-warm)"
  cat <<EOF

Binary B ($(sha256sum "$MK_B" | cut -c1-12)) in the same runs, into its own fresh target:

| measurement | mirrorkit (A) | mirrorkit B | A ÷ B |
|---|---|---|---|
| cold | $(fmt_s "$mc") s | $(fmt_s "$bc") s | $(ratio "$mc" "$bc") |
| warm | $(fmt_s "$mw") s | $(fmt_s "$bw") s | $(ratio "$mw" "$bw") |
EOF
fi
