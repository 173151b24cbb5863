#!/usr/bin/env bash
# Peak RSS (and wall time) of `mirrorkit sync` mirroring one big incompressible binary asset,
# served by a local HTTP server, into a real docker-registry on loopback (insecure), with
# compression zstd and xz. Peer: `skopeo copy` of an equivalent single-layer image (the asset
# as a tar, zstd-compressed) from an OCI layout into the same kind of registry.
# Peak RSS is /usr/bin/time -v's "Maximum resident set size". Every run gets a fresh registry
# and work dir, so nothing is skipped.
#
# Knobs: RSS_MIB (asset size, default 1024), RSS_XZ_MIB (asset size for the xz run, default
#        RSS_MIB: xz -6 is slow, a smaller asset keeps the run short and the peak is the same
#        once the asset spans more blocks than there are threads), RSS_RUNS (default 1; the
#        median is printed), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN.
source "$(dirname "$0")/lib.sh"

RSS_MIB="${RSS_MIB:-1024}"
RSS_XZ_MIB="${RSS_XZ_MIB:-$RSS_MIB}"
RSS_RUNS="${RSS_RUNS:-1}"
T="$BENCH_TMP"
echo "# rss.sh: ${RSS_MIB} MiB asset (xz: ${RSS_XZ_MIB} MiB), ${RSS_RUNS} run(s), $(print_env)" >&2
command -v skopeo >/dev/null || { echo "missing skopeo" >&2; exit 1; }

files="$T/files"
mkdir -p "$files"
head -c "${RSS_MIB}M" /dev/urandom >"$files/big-$RSS_MIB"
if [[ "$RSS_XZ_MIB" != "$RSS_MIB" ]]; then
  head -c "${RSS_XZ_MIB}M" "$files/big-$RSS_MIB" >"$files/big-$RSS_XZ_MIB"
fi
for mib in $(printf '%s\n' "$RSS_MIB" "$RSS_XZ_MIB" | sort -u); do
  sum="$(sha256sum "$files/big-$mib" | cut -d' ' -f1)"
  cat >"$files/index-$mib.json" <<EOF
{"versions": {"1.0.0": {"assets": {"big-linux-amd64": {"url": "big-$mib", "checksum": "sha256:$sum"}}}}}
EOF
done
start_fileserver "$files"

# time_v OUT -- CMD… : run CMD under /usr/bin/time -v; prints "rss_kib wall_s".
time_v() {
  local out="$1"; shift; shift
  local t0 t1 rc=0
  t0="$(date +%s.%N)"
  /usr/bin/time -v -o "$out.time" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
  t1="$(date +%s.%N)"
  if [[ "$rc" != 0 ]]; then
    echo "PROBLEM: exit $rc from: $*" >&2
    tail -20 "$out.stderr" "$out.stdout" >&2
  fi
  local rss
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time")"
  echo "$rss $(python3 -c "print(f'{$t1-$t0:.3f}')")"
}

declare -A RSS=() WALL=()
for codec in zstd xz skopeo; do
  rss_list=() wall_list=()
  for run in $(seq 1 "$RSS_RUNS"); do
    start_registry "$T/registry-$codec-$run"
    case "$codec" in
      zstd | xz)
        mib="$RSS_MIB"; [[ "$codec" == xz ]] && mib="$RSS_XZ_MIB"
        spec="$T/spec-$codec-$run.yml"
        cat >"$spec" <<EOF
target: {registry: '$REGISTRY_HOST', namespace: bench, insecure: true}
work_dir: $T/work-$codec-$run
mirrors:
  big:
    source: {type: url_index, url: '$FILESERVER_URL/index-$mib.json'}
    assets:
      linux/amd64: ['^big-linux-amd64\$']
    asset_type: binary
    compression: $codec
EOF
        read -r rss wall < <(time_v "$T/$codec-$run" -- "$MK" --log-level warn sync "$spec")
        # The pushed image must be there.
        skopeo --insecure-policy inspect --raw --tls-verify=false \
          "docker://$REGISTRY_HOST/bench/big:1.0.0" >/dev/null ||
          echo "PROBLEM: bench/big:1.0.0 not in the registry after the $codec sync" >&2
        rm -rf "$T/work-$codec-$run"
        ;;
      skopeo)
        if [[ ! -d "$T/layout" ]]; then
          # A one-layer OCI image by hand: the asset as a tar, zstd -3 (like mirrorkit's layer).
          mkdir -p "$T/layout/blobs/sha256"
          cp "$files/big-$RSS_MIB" "$T/big-linux-amd64"
          tar -cf "$T/layer.tar" -C "$T" big-linux-amd64
          rm "$T/big-linux-amd64"
          diff_id="$(sha256sum "$T/layer.tar" | cut -d' ' -f1)"
          zstd -q -T0 -3 --rm "$T/layer.tar" -o "$T/layer.tar.zst"
          layer="$(sha256sum "$T/layer.tar.zst" | cut -d' ' -f1)"
          layer_size="$(stat -c %s "$T/layer.tar.zst")"
          mv "$T/layer.tar.zst" "$T/layout/blobs/sha256/$layer"
          printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' \
            "$diff_id" >"$T/config.json"
          config="$(sha256sum "$T/config.json" | cut -d' ' -f1)"
          config_size="$(stat -c %s "$T/config.json")"
          mv "$T/config.json" "$T/layout/blobs/sha256/$config"
          printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:%s","size":%s}]}' \
            "$config" "$config_size" "$layer" "$layer_size" >"$T/manifest.json"
          manifest="$(sha256sum "$T/manifest.json" | cut -d' ' -f1)"
          manifest_size="$(stat -c %s "$T/manifest.json")"
          mv "$T/manifest.json" "$T/layout/blobs/sha256/$manifest"
          printf '{"imageLayoutVersion":"1.0.0"}' >"$T/layout/oci-layout"
          printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1.0.0"}}]}' \
            "$manifest" "$manifest_size" >"$T/layout/index.json"
        fi
        read -r rss wall < <(time_v "$T/skopeo-$run" -- skopeo --insecure-policy copy --quiet \
          --dest-tls-verify=false "oci:$T/layout:1.0.0" "docker://$REGISTRY_HOST/bench/skopeo:1.0.0")
        ;;
    esac
    stop_registry
    rm -rf "$T/registry-$codec-$run"
    echo "$codec run $run: max RSS ${rss} KiB, wall ${wall} s" >&2
    rss_list+=("$rss") wall_list+=("$wall")
  done
  RSS[$codec]="$(median "${rss_list[@]}")"
  WALL[$codec]="$(median "${wall_list[@]}")"
done

mib_of() { python3 -c "print(f'{float($1)/1024:.1f}')"; }
met() { python3 -c "print('met' if float($1)/1024 < 100 else 'missed')"; }
echo
echo "### rss.sh — median of ${RSS_RUNS} run(s), fresh registry per run"
echo
echo "| command | asset | peak RSS MiB | wall s | MiB/s | RSS ÷ skopeo's | goal < 100 MiB |"
echo "|---|---:|---:|---:|---:|---:|---|"
for codec in zstd xz; do
  mib="$RSS_MIB"; [[ "$codec" == xz ]] && mib="$RSS_XZ_MIB"
  echo "| mirrorkit sync, $codec | $mib MiB | $(mib_of "${RSS[$codec]}") | $(fmt_s "${WALL[$codec]}") | $(mib_per_s $((mib * 1048576)) "${WALL[$codec]}") | $(ratio "${RSS[$codec]}" "${RSS[skopeo]}") | $(met "${RSS[$codec]}") |"
done
echo "| skopeo copy oci: → docker:// (zstd layer, peer) | $RSS_MIB MiB | $(mib_of "${RSS[skopeo]}") | $(fmt_s "${WALL[skopeo]}") | $(mib_per_s $((RSS_MIB * 1048576)) "${WALL[skopeo]}") | 1.00 | – |"
