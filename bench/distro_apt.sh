#!/usr/bin/env bash
# apt mirrors: `mirrorkit sync` of a signed apt repository against apt-mirror, debmirror and
# `aptly mirror update`, in the same run, on loopback (bench/static_server.py as the upstream: keep-alive, a deep backlog).
#   corpus — AB_DEBS `.deb`s (dpkg-deb, uncompressed payload of AB_KB KiB of random bytes, so
#            nothing compresses away), Packages/Release by apt-ftparchive, signed with a
#            throw-away gpg key (InRelease + Release.gpg). Setup, not timed.
#   cold   — a fresh state for each tool; warm — the same again, nothing changed upstream;
#   incr   — AB_INC_PCT % new packages upstream (re-signed), from the warm state.
# Each tool verifies what it can: mirrorkit the InRelease signature and every index and .deb
# digest; debmirror the Release.gpg signature and the digests (by its own options); aptly the
# signature and digests; apt-mirror nothing.
# Goals (issue 12): cold no slower than apt-mirror, warm ≤ 0.1 s, incremental ≤ 0.5 s, peak RSS
# < 64 MiB.
# Knobs: AB_DEBS (2000), AB_KB (650), AB_INC_PCT (5), AB_RUNS (3), BENCH_SKIP_BUILD=1, BENCH_KEEP=1.
source "$(dirname "$0")/lib.sh"

AB_DEBS="${AB_DEBS:-2000}"; AB_KB="${AB_KB:-650}"; AB_INC_PCT="${AB_INC_PCT:-5}"; AB_RUNS="${AB_RUNS:-3}"
T="$BENCH_TMP"
echo "# distro_apt.sh: $AB_DEBS debs of ${AB_KB} KiB, +${AB_INC_PCT}% incremental, ${AB_RUNS} runs, $(print_env)" >&2

source "$(dirname "$0")/apt_repo.sh"
seq 1 "$AB_DEBS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_deb {}'
INC=$(( AB_DEBS * AB_INC_PCT / 100 )); [[ $INC -ge 1 ]] || INC=1
publish
echo "# corpus: $(du -sh "$REPO_DIR" | cut -f1), $INC more for the incremental run" >&2
apt_serve


apt_tools

# A run's old state is moved aside, not deleted, until the end: ext4 scans inodes deleted in the
# last minutes on every create, so deleting ~10,000 files just before a cold run slows whichever
# tool runs first (measured: a quarter of mirrorkit's time went to ext4's recently_deleted).
fresh() {
  mkdir -p "$T/trash/$1"
  for d in mk-root mk-work am dm aptly; do [[ -e "$T/$d" ]] && mv "$T/$d" "$T/trash/$1/$d"; done
  mkdir -p "$T/am" "$T/dm"; ap_create
}
reset_upstream() { find "$REPO_DIR/pool/main" -name 'inc*' -delete; publish; }
add_increment() {
  seq 1 "$INC" | sed "s/^/inc$1-/" | xargs -P "$(nproc)" -I{} bash -c 'make_deb {}'
  publish
}

for run in $(seq 1 "$AB_RUNS"); do
  reset_upstream
  fresh "$run"
  for t in mk am dm ap; do timed "$t-cold" "$T/run-$t"; done
  jq -e '.summary.failed == 0' "$T/mk-cold.out" >/dev/null || { echo "mirrorkit cold failed" >&2; head -c 2000 "$T/mk-cold.out" >&2; exit 1; }
  for t in mk am dm ap; do timed "$t-warm" "$T/run-$t"; done
  jq -e '.mirrors[0].versions[0].status == "skipped"' "$T/mk-warm.out" >/dev/null || { echo "mirrorkit warm was not skipped" >&2; exit 1; }
  add_increment "$run"
  for t in mk am dm ap; do timed "$t-incr" "$T/run-$t"; done
  jq -e '.mirrors[0].versions[0].status == "pushed"' "$T/mk-incr.out" >/dev/null || { echo "mirrorkit incremental did not push" >&2; exit 1; }
  echo "# run $run done" >&2
done
# Every tool holds every package at the end.
want=$(( AB_DEBS + INC ))
have_mk=$(find "$T/mk-root/mirror/bench/" -name '*.deb' | wc -l)
have_am=$(find "$T/am/mirror" -name '*.deb' | wc -l)
have_dm=$(find "$T/dm/pool" -name '*.deb' | wc -l)
have_ap=$(find "$T/aptly/pool" -name '*.deb' | wc -l)
echo "# .debs held: mirrorkit $have_mk, apt-mirror $have_am, debmirror $have_dm, aptly $have_ap (want $want)" >&2

med() { median $(cut -d' ' -f1 "$T/$1.times"); }
rss_mib() { python3 -c "print(f'{$(median $(cut -d' ' -f2 "$T/$1.times"))/1024:.1f}')"; }
row() { # row KEY NAME
  echo "| $2 | $(fmt_s "$(med "$1-cold")") s | $(fmt_s "$(med "$1-warm")") s | $(fmt_s "$(med "$1-incr")") s | $(rss_mib "$1-cold") MiB |"
}
cat <<REPORT

### distro_apt.sh — $AB_DEBS .debs of ${AB_KB} KiB ($(du -sh "$REPO_DIR/pool" | cut -f1)), signed, by-hash, loopback; +$INC incremental; median of ${AB_RUNS}

$(print_env)

| tool | cold | warm | +${AB_INC_PCT}% incremental | peak RSS (cold) |
|---|---|---|---|---|
$(row mk "mirrorkit sync")
$(row am apt-mirror)
$(row dm debmirror)
$(row ap "aptly mirror update")

Ratios (peer ÷ mirrorkit, cold): apt-mirror **$(ratio "$(med am-cold)" "$(med mk-cold)")×**, debmirror **$(ratio "$(med dm-cold)" "$(med mk-cold)")×**, aptly **$(ratio "$(med ap-cold)" "$(med mk-cold)")×**.
.debs held at the end: mirrorkit $have_mk, apt-mirror $have_am, debmirror $have_dm, aptly $have_ap (of $want).
REPORT
