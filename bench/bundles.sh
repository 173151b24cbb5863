#!/usr/bin/env bash
# Bundles: export and import of an image corpus, against `tar` of the same layout directory and
# `skopeo copy` of the same images, in the same run.
#
# Corpus (generated, deterministic): BUN_REPOS repositories × BUN_TAGS tags, each image with
# 3–4 layers of BUN_MIN_MIB..BUN_MAX_MIB incompressible bytes; the first layer of every image is
# one of 3 shared base layers; every 4th repository is multi-arch (an index of amd64 + arm64).
# It is written as a directory of OCI layouts, one per repository (mirrorkit's `layout` target),
# and a spec whose mirrors name those repositories.
#
# Measured (median of BUN_RUNS, page cache warm — every tool reads the same files):
#   export → archive:  mirrorkit export SPEC -o b.tar      vs  tar -cf t.tar -C corpus .
#                                                          and skopeo copy oci:… oci:DIR:repo:tag
#                                                              for every image (one layout)
#   import ← archive:  mirrorkit import b.tar --to oci:D   vs  tar -xf t.tar -C D
#   import → registry: mirrorkit import b.tar --to docker://R  vs  skopeo copy oci:DIR:… docker://R/…
#                                                                (the layout skopeo wrote above)
# plus the peak RSS of export and import (/usr/bin/time %M), which must not grow with the corpus.
#
# Goal (from the issue): export and import within 1.2× of tar.
# Knobs: BUN_REPOS (24), BUN_TAGS (2), BUN_MIN_MIB (1), BUN_MAX_MIB (16), BUN_RUNS (3),
#        BUN_SEED (1), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN.
source "$(dirname "$0")/lib.sh"

BUN_REPOS="${BUN_REPOS:-24}"
BUN_TAGS="${BUN_TAGS:-2}"
BUN_MIN_MIB="${BUN_MIN_MIB:-1}"
BUN_MAX_MIB="${BUN_MAX_MIB:-16}"
BUN_RUNS="${BUN_RUNS:-3}"
BUN_SEED="${BUN_SEED:-1}"
for tool in skopeo tar; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
T="$BENCH_TMP"
echo "# bundles.sh: ${BUN_REPOS} repos × ${BUN_TAGS} tags, layers ${BUN_MIN_MIB}..${BUN_MAX_MIB} MiB, ${BUN_RUNS} runs, $(print_env)" >&2

# --- corpus ----------------------------------------------------------------------------------
python3 "$(dirname "$0")/corpus.py" "$T/corpus" "$BUN_REPOS" "$BUN_TAGS" "$BUN_MIN_MIB" "$BUN_MAX_MIB" "$BUN_SEED" >"$T/images.txt"
corpus_bytes="$(du -sb "$T/corpus" | cut -f1)"
{
  echo "target: {layout: corpus}"
  echo "mirrors:"
  cut -d' ' -f1 "$T/images.txt" | sort -u | while read -r repo; do
    key="${repo//\//-}"
    echo "  $key: {repository: $repo, source: {type: url_index, versions: {}}, assets: {linux/amd64: [x]}}"
  done
} >"$T/spec.yml"
echo "# corpus: $(wc -l <"$T/images.txt") images, $(( corpus_bytes / 1048576 )) MiB on disk" >&2
# Warm the page cache for everyone.
find "$T/corpus" -type f -exec cat {} + >/dev/null

timed() { # timed NAME CMD... -> appends "seconds maxrss_kib" to $T/NAME.times
  local name="$1"; shift
  # Start every command with no dirty pages of the one before it still being written back:
  # otherwise whichever tool runs second pays for the first one's writes.
  sync
  local t0="$EPOCHREALTIME"
  /usr/bin/time -f '%M' -o "$T/$name.rss" "$@" >/dev/null 2>"$T/$name.err" || { cat "$T/$name.err" >&2; return 1; }
  local t1="$EPOCHREALTIME"
  echo "$(python3 -c "print($t1-$t0)") $(cat "$T/$name.rss")" >>"$T/$name.times"
}

for run in $(seq 1 "$BUN_RUNS"); do
  # A fresh registry per run and per tool: skopeo keeps a blob-location cache across runs
  # (/var/lib/containers/cache) and would mount blobs from an earlier run's repositories.
  start_registry "$T/reg-mk-$run"
  REG_MK="$REGISTRY_HOST"
  start_registry "$T/reg-sk-$run"
  REG_SK="$REGISTRY_HOST"
  [[ "$run" == 1 ]] && REG="$REG_MK"
  rm -rf "$T/out" && mkdir -p "$T/out"
  (cd "$T" && timed mk-export "$MK" export spec.yml -o out/b.tar)
  timed tar-create tar -cf "$T/out/t.tar" -C "$T/corpus" .
  # mirrorkit fsyncs the archive before renaming it into place (never a half-written bundle
  # under its name after a crash); the same durability for tar is a sync of the file after it.
  timed tar-create-sync sh -c 'tar -cf "$1" -C "$2" . && sync "$1"' _ "$T/out/t2.tar" "$T/corpus"
  rm -f "$T/out/t2.tar"
  rm -rf "$T/out/skopeo-layout"
  sync
  t0="$EPOCHREALTIME"
  while read -r repo tag; do
    skopeo copy --quiet "oci:$T/corpus/$repo:$tag" "oci:$T/out/skopeo-layout:$repo:$tag" >/dev/null
  done <"$T/images.txt"
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") 0" >>"$T/skopeo-export.times"

  rm -rf "$T/out/imp-mk" "$T/out/imp-tar" && mkdir -p "$T/out/imp-tar"
  timed mk-import "$MK" import "$T/out/b.tar" --to "oci:$T/out/imp-mk"
  timed tar-extract tar -xf "$T/out/t.tar" -C "$T/out/imp-tar"

  # Into a fresh namespace of the registry: mirrorkit import vs skopeo copy of the same images.
  timed mk-import-reg "$MK" import "$T/out/b.tar" --to "docker://$REG_MK/mk$run" --insecure-registry "$REG_MK"
  sync
  t0="$EPOCHREALTIME"
  while read -r repo tag; do
    skopeo copy --quiet --all --dest-tls-verify=false "oci:$T/out/skopeo-layout:$repo:$tag" "docker://$REG_SK/sk$run/$repo:$tag" >/dev/null
  done <"$T/images.txt"
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") 0" >>"$T/skopeo-import-reg.times"
done

# Same digests on both sides of the round trip (a check, not a measurement).
while read -r repo tag; do
  a="$(skopeo inspect --raw "oci:$T/corpus/$repo:$tag" | sha256sum | cut -c1-64)"
  b="$(skopeo inspect --raw --tls-verify=false "docker://$REG/mk1/$repo:$tag" | sha256sum | cut -c1-64)"
  [[ "$a" == "$b" ]] || { echo "digest differs for $repo:$tag" >&2; exit 1; }
done <"$T/images.txt"

med() { median $(cut -d' ' -f1 "$T/$1.times"); }
rss() { median $(cut -d' ' -f2 "$T/$1.times"); }
mib() { python3 -c "print(f'{$1/1024:.1f}')"; }
bundle_bytes="$(stat -c %s "$T/out/b.tar")"
e_mk="$(med mk-export)"; e_tar="$(med tar-create)"; e_sk="$(med skopeo-export)"
e_tar_sync="$(med tar-create-sync)"
i_mk="$(med mk-import)"; i_tar="$(med tar-extract)"
r_mk="$(med mk-import-reg)"; r_sk="$(med skopeo-import-reg)"
cat <<EOF

### Bundles: export and import ($(wc -l <"$T/images.txt") images in ${BUN_REPOS} repositories, $(( corpus_bytes / 1048576 )) MiB; median of ${BUN_RUNS})

$(print_env)

| operation | mirrorkit | tar | ratio mirrorkit/tar | skopeo copy | ratio mirrorkit/skopeo | mirrorkit peak RSS |
|---|---|---|---|---|---|---|
| export to a local archive | $(fmt_s "$e_mk") s ($(mib_per_s "$bundle_bytes" "$e_mk") MiB/s) | $(fmt_s "$e_tar") s | $(ratio "$e_mk" "$e_tar") | $(fmt_s "$e_sk") s (to one layout) | $(ratio "$e_mk" "$e_sk") | $(mib "$(rss mk-export)") MiB |
| export, against tar with the same durability (\`tar -cf\` then \`sync\` of the file) | $(fmt_s "$e_mk") s | $(fmt_s "$e_tar_sync") s | $(ratio "$e_mk" "$e_tar_sync") | – | – | – |
| import from it into oci:DIR | $(fmt_s "$i_mk") s | $(fmt_s "$i_tar") s | $(ratio "$i_mk" "$i_tar") | – | – | $(mib "$(rss mk-import)") MiB |
| import from it into a registry | $(fmt_s "$r_mk") s | – | – | $(fmt_s "$r_sk") s (from its layout) | $(ratio "$r_mk" "$r_sk") | $(mib "$(rss mk-import-reg)") MiB |

Bundle: $(( bundle_bytes / 1048576 )) MiB (tar of the corpus: $(( $(stat -c %s "$T/out/t.tar") / 1048576 )) MiB). Round trip corpus → bundle → registry: every manifest digest equal (checked with skopeo inspect --raw).
EOF
