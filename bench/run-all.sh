#!/usr/bin/env bash
# Run every benchmark; results (markdown tables) on stdout, progress on stderr.
#   bash bench/run-all.sh                 # full sizes
#   QUICK=1 bash bench/run-all.sh         # small sizes, a couple of minutes
# Knobs (see each script): PKG_MIB PKG_RUNS PKG_INPUTS RSS_MIB RSS_XZ_MIB RSS_RUNS
#                          WARM_VERSIONS WARM_ASSET_KIB WARM_RUNS
#                          REL_VERSIONS REL_PLATFORMS REL_MIN_MIB REL_MAX_MIB REL_TEXT
#                          REL_COMPRESSION REL_RUNS REL_WARM_RUNS REL_PEER_JOBS REL_MK_MAX_BUNDLES
#                          BUN_REPOS BUN_TAGS BUN_MIN_MIB BUN_MAX_MIB BUN_RUNS
#                          IMG_REPOS IMG_TAGS IMG_MIN_MIB IMG_MAX_MIB IMG_RUNS
#                          BENCH_KEEP MIRRORKIT_BIN
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ "${QUICK:-0}" == 1 ]]; then
  export PKG_MIB="${PKG_MIB:-48}" PKG_RUNS="${PKG_RUNS:-1}"
  export RSS_MIB="${RSS_MIB:-128}" RSS_XZ_MIB="${RSS_XZ_MIB:-48}"
  export WARM_VERSIONS="${WARM_VERSIONS:-10}" WARM_RUNS="${WARM_RUNS:-5}"
  export REL_VERSIONS="${REL_VERSIONS:-10}" REL_MAX_MIB="${REL_MAX_MIB:-0.5}" REL_RUNS="${REL_RUNS:-1}"
  export BUN_REPOS="${BUN_REPOS:-6}" BUN_MAX_MIB="${BUN_MAX_MIB:-4}" BUN_RUNS="${BUN_RUNS:-1}"
  export IMG_REPOS="${IMG_REPOS:-6}" IMG_MAX_MIB="${IMG_MAX_MIB:-4}" IMG_RUNS="${IMG_RUNS:-1}"
fi
(cd "$here/.." && cargo build --release -p mirrorkit >&2)
export BENCH_SKIP_BUILD=1
echo "## mirrorkit benchmarks — $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$here/.." rev-parse --short HEAD)"
for b in package rss warm releases bundles images; do
  bash "$here/$b.sh"
done
