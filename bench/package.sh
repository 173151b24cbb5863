#!/usr/bin/env bash
# Packaging throughput: mirrorkit's xz and zstd packaging of a binary asset vs `tar | xz -T0 -6`
# and `tar | zstd -T0 -3` on the same input, in the same run.
#
# Inputs: PKG_MIB MiB of /dev/urandom (incompressible) and PKG_MIB MiB of dictionary-like text
# (compressible). mirrorkit is driven by a url_index spec (asset_type: binary, file:// URL) into
# an OCI layout; its time includes hashing the input and writing the layout, which the tar
# pipelines do not do, so sha256sum of the input is timed too.
#
# Knobs: PKG_MIB (default 512), PKG_RUNS (hyperfine runs, default 3),
#        PKG_INPUTS (default "random text"), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, MIRRORKIT_BIN.
source "$(dirname "$0")/lib.sh"

PKG_MIB="${PKG_MIB:-512}"
PKG_RUNS="${PKG_RUNS:-3}"
PKG_INPUTS="${PKG_INPUTS:-random text}"
T="$BENCH_TMP"
echo "# package.sh: ${PKG_MIB} MiB inputs, ${PKG_RUNS} runs each, $(print_env)" >&2

make_input() {
  local kind="$1" dir="$T/in-$kind"
  mkdir -p "$dir"
  case "$kind" in
    random) head -c "${PKG_MIB}M" /dev/urandom >"$dir/asset" ;;
    text)
      # Lines of words drawn (seeded) from a 4096-word synthetic vocabulary: compresses ~3-4x
      # with xz, unlike `seq`, whose output xz squeezes to almost nothing.
      python3 - "$dir/asset" "$((PKG_MIB * 1048576))" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 11))) for _ in range(4096)]
with open(path, "wb") as f:
    left = size
    while left > 0:
        words = rng.choices(vocab, k=20000)
        lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
        chunk = ("\n".join(lines) + "\n").encode()[:left]
        f.write(chunk)
        left -= len(chunk)
PY
      ;;
  esac
  echo "$dir"
}

write_spec() { # dir codec -> spec path
  local dir="$1" codec="$2"
  cat >"$dir/index.json" <<EOF
{"versions": {"1.0.0": {"assets": {"asset-linux-amd64": "file://$dir/asset"}}}}
EOF
  cat >"$dir/spec-$codec.yml" <<EOF
target: {layout: $dir/oci-$codec}
work_dir: $dir/work-$codec
mirrors:
  bench:
    source: {type: url_index, url: 'file://$dir/index.json'}
    assets:
      linux/amd64: ['^asset-linux-amd64\$']
    asset_type: binary
    compression: $codec
EOF
  echo "$dir/spec-$codec.yml"
}

hf() { # name prepare command -> median seconds
  local name="$1" prepare="$2" cmd="$3"
  hyperfine --style basic --runs "$PKG_RUNS" --prepare "$prepare" \
    --export-json "$T/hf-$name.json" "$cmd" >&2
  hf_median "$T/hf-$name.json"
}

# The largest blob of the layout is the layer.
layer_of() { find "$1/bench/blobs/sha256" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2; }

ROWS=()
SUMMARY=()
bytes=$((PKG_MIB * 1048576))
for kind in $PKG_INPUTS; do
  dir="$(make_input "$kind")"
  in_sha="$(sha256sum "$dir/asset" | cut -d' ' -f1)"
  declare -A med=() size=()

  med[sha256sum]="$(hf "$kind-sha256sum" "true" "sha256sum $dir/asset")"
  for codec in xz zstd; do
    spec="$(write_spec "$dir" "$codec")"
    med[mk-$codec]="$(hf "$kind-mk-$codec" "rm -rf $dir/oci-$codec $dir/work-$codec" \
      "$MK --log-level warn sync $spec")"
    layer="$(layer_of "$dir/oci-$codec")"
    size[mk-$codec]="$(stat -c %s "$layer")"
    # Correctness: the layer is a tar holding the input, byte for byte.
    got="$("$codec" -dc "$layer" | tar -xOf - | sha256sum | cut -d' ' -f1)"
    if [[ "$got" != "$in_sha" ]]; then
      echo "PROBLEM: mirrorkit $codec layer of $kind does not hold the input ($got != $in_sha)" >&2
    fi
  done
  med[tar-xz]="$(hf "$kind-tar-xz" "rm -f $dir/out.tar.xz" \
    "tar -cf - -C $dir asset | xz -T0 -6 > $dir/out.tar.xz")"
  size[tar-xz]="$(stat -c %s "$dir/out.tar.xz")"
  med[tar-zstd]="$(hf "$kind-tar-zstd" "rm -f $dir/out.tar.zst" \
    "tar -cf - -C $dir asset | zstd -q -T0 -3 > $dir/out.tar.zst")"
  size[tar-zstd]="$(stat -c %s "$dir/out.tar.zst")"

  for k in mk-xz tar-xz mk-zstd tar-zstd sha256sum; do
    case "$k" in
      mk-xz) label="mirrorkit sync (xz -6, MT)" ;;
      tar-xz) label="tar \| xz -T0 -6" ;;
      mk-zstd) label="mirrorkit sync (zstd -3, MT)" ;;
      tar-zstd) label="tar \| zstd -T0 -3" ;;
      sha256sum) label="sha256sum (hashing share)" ;;
    esac
    out="${size[$k]:-}"
    [[ -n "$out" ]] && out="$(python3 -c "print(f'{$out/1048576:.1f} MiB')")" || out="-"
    ROWS+=("| $kind | $label | $(fmt_s "${med[$k]}") | $(mib_per_s "$bytes" "${med[$k]}") | $out |")
  done
  SUMMARY+=("| $kind | $(ratio "${med[tar-xz]}" "${med[mk-xz]}") | $(ratio "${med[mk-xz]}" "${med[mk-zstd]}") | $(ratio "$(python3 -c "print(${med[tar-xz]}+${med[sha256sum]})")" "${med[mk-xz]}") |")
  unset med size
  rm -rf "$dir"
done

echo
echo "### package.sh — ${PKG_MIB} MiB inputs, median of ${PKG_RUNS} runs"
echo
echo "| input | command | median s | MiB/s (input) | output |"
echo "|---|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| input | mirrorkit xz speed ÷ tar\|xz speed (goal ≥ 0.9) | mirrorkit zstd speedup over mirrorkit xz (goal ≥ 5) | mirrorkit xz speed ÷ speed of (tar\|xz then sha256sum) |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${SUMMARY[@]}"
