#!/usr/bin/env bash
# rpm mirrors: `mirrorkit sync` (gpgcheck: true) of a signed rpm-md repository against
# `dnf reposync --download-metadata --gpgcheck` (repo_gpgcheck on), in the same run, on loopback
# (bench/static_server.py as the upstream: keep-alive, a deep backlog).
#   corpus — RB_RPMS rpms (rpmbuild, uncompressed payload of RB_KB KiB of random bytes), every one
#            signed with rpmsign; metadata by createrepo_c, repomd.xml signed (repomd.xml.asc).
#            Setup, not timed.
#   cold   — a fresh state for each tool; warm — the same again, nothing changed upstream;
#   incr   — RB_INC_PCT % new packages upstream (metadata re-signed), from the warm state.
# Both verify repomd.xml's signature, every checksum and every package signature.
# Goals (issue 12): cold ≤ 0.5× reposync, warm ≤ 0.1 s.
# Knobs: RB_RPMS (2000), RB_KB (650), RB_INC_PCT (5), RB_RUNS (3), BENCH_SKIP_BUILD=1, BENCH_KEEP=1.
source "$(dirname "$0")/lib.sh"

RB_RPMS="${RB_RPMS:-2000}"; RB_KB="${RB_KB:-650}"; RB_INC_PCT="${RB_INC_PCT:-5}"; RB_RUNS="${RB_RUNS:-3}"
T="$BENCH_TMP"
source "$(dirname "$0")/rpm_repo.sh"
echo "# distro_rpm.sh: $RB_RPMS rpms of ${RB_KB} KiB, +${RB_INC_PCT}% incremental, ${RB_RUNS} runs, $(print_env)" >&2
seq 1 "$RB_RPMS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_rpm {}'
sign_rpms "$REPO_DIR"/Packages/*.rpm
INC=$(( RB_RPMS * RB_INC_PCT / 100 )); [[ $INC -ge 1 ]] || INC=1
publish
echo "# corpus: $(du -sh "$REPO_DIR" | cut -f1), $INC more for the incremental run" >&2
rpm_serve
rpm_tools

# Old state is moved aside, not deleted, until the end (see distro_apt.sh: ext4 scans recently
# deleted inodes on every create).
fresh() {
  mkdir -p "$T/trash/$1"
  for d in mk-root mk-work rs rs-root rs-cache; do [[ -e "$T/$d" ]] && mv "$T/$d" "$T/trash/$1/$d"; done
  rs_root
}
reset_upstream() { find "$REPO_DIR/Packages" -name 'inc*' -delete; publish; }
add_increment() {
  seq 1 "$INC" | sed "s/^/inc$1-/" | xargs -P "$(nproc)" -I{} bash -c 'make_rpm {}'
  sign_rpms "$REPO_DIR"/Packages/inc"$1"-*.rpm
  publish
}

for run in $(seq 1 "$RB_RUNS"); do
  reset_upstream
  fresh "$run"
  for t in mk rs; do timed "$t-cold" "$T/run-$t"; done
  jq -e '.summary.failed == 0' "$T/mk-cold.out" >/dev/null || { echo "mirrorkit cold failed" >&2; head -c 2000 "$T/mk-cold.out" >&2; exit 1; }
  for t in mk rs; do timed "$t-warm" "$T/run-$t"; done
  jq -e '.mirrors[0].versions[0].status == "skipped"' "$T/mk-warm.out" >/dev/null || { echo "mirrorkit warm was not skipped" >&2; exit 1; }
  add_increment "$run"
  for t in mk rs; do timed "$t-incr" "$T/run-$t"; done
  jq -e '.mirrors[0].versions[0].status == "pushed"' "$T/mk-incr.out" >/dev/null || { echo "mirrorkit incremental did not push" >&2; exit 1; }
  echo "# run $run done" >&2
done
want=$(( RB_RPMS + INC ))
have_mk=$(find "$T/mk-root/mirror/bench/" -name '*.rpm' | wc -l)
have_rs=$(find "$T/rs" -name '*.rpm' | wc -l)
echo "# rpms held: mirrorkit $have_mk, reposync $have_rs (want $want)" >&2

med() { median $(cut -d' ' -f1 "$T/$1.times"); }
rss_mib() { python3 -c "print(f'{$(median $(cut -d' ' -f2 "$T/$1.times"))/1024:.1f}')"; }
row() { # row KEY NAME
  echo "| $2 | $(fmt_s "$(med "$1-cold")") s | $(fmt_s "$(med "$1-warm")") s | $(fmt_s "$(med "$1-incr")") s | $(rss_mib "$1-cold") MiB |"
}
cat <<REPORT

### distro_rpm.sh — $RB_RPMS rpms of ${RB_KB} KiB ($(du -sh "$REPO_DIR/Packages" | cut -f1)), signed packages and metadata, loopback; +$INC incremental; median of ${RB_RUNS}

$(print_env)

| tool | cold | warm | +${RB_INC_PCT}% incremental | peak RSS (cold) |
|---|---|---|---|---|
$(row mk "mirrorkit sync (gpgcheck)")
$(row rs "dnf reposync --gpgcheck")

Ratio (mirrorkit ÷ reposync, cold): **$(ratio "$(med mk-cold)" "$(med rs-cold)")×** (goal ≤ 0.5×).
rpms held at the end: mirrorkit $have_mk, reposync $have_rs (of $want).
REPORT
