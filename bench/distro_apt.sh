#!/usr/bin/env bash
# apt mirrors: `mirrorkit sync` of a signed apt repository against apt-mirror, debmirror and
# `aptly mirror update`, in the same run, on loopback (python's http.server as the upstream).
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
for tool in dpkg-deb apt-ftparchive gpg apt-mirror debmirror aptly; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install dpkg-dev apt-utils gnupg apt-mirror debmirror aptly)" >&2; exit 1; }
done
echo "# distro_apt.sh: $AB_DEBS debs of ${AB_KB} KiB, +${AB_INC_PCT}% incremental, ${AB_RUNS} runs, $(print_env)" >&2

# --- the upstream -----------------------------------------------------------------------------
REPO_DIR="$T/repo"; mkdir -p "$REPO_DIR/pool/main" "$T/src"
export GNUPGHOME="$T/gnupg"; mkdir -m 700 -p "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench archive <bench@example.org>' ed25519 sign never
gpg --batch --quiet --export >"$T/keyring.gpg"

make_deb() { # make_deb NAME
  local d="$T/src/$1"
  mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
  head -c "$((AB_KB * 1024))" /dev/urandom >"$d/usr/share/$1/data"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: bench <b@example.org>\nDescription: bench\n' "$1" >"$d/DEBIAN/control"
  dpkg-deb -Znone --root-owner-group -b "$d" "$REPO_DIR/pool/main/${1}_1.0_all.deb" >/dev/null
  rm -rf "$d"
}
export -f make_deb; export T AB_KB REPO_DIR
publish() {
  local bin="$REPO_DIR/dists/stable/main/binary-amd64"
  mkdir -p "$bin"
  (cd "$REPO_DIR" && apt-ftparchive packages pool/main) >"$bin/Packages"
  gzip -kf "$bin/Packages"; xz -kf -T0 "$bin/Packages"
  rm -f "$REPO_DIR/dists/stable/"{Release,InRelease,Release.gpg}
  (cd "$REPO_DIR" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=stable -o APT::FTPArchive::Release::Architectures=amd64 \
    -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Acquire-By-Hash=yes \
    release dists/stable) >"$T/Release"
  mv "$T/Release" "$REPO_DIR/dists/stable/Release"
  gpg --batch --yes --quiet --clearsign -o "$REPO_DIR/dists/stable/InRelease" "$REPO_DIR/dists/stable/Release"
  gpg --batch --yes --quiet --armor --detach-sign -o "$REPO_DIR/dists/stable/Release.gpg" "$REPO_DIR/dists/stable/Release"
}
seq 1 "$AB_DEBS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_deb {}'
INC=$(( AB_DEBS * AB_INC_PCT / 100 )); [[ $INC -ge 1 ]] || INC=1
publish
echo "# corpus: $(du -sh "$REPO_DIR" | cut -f1), $INC more for the incremental run" >&2
PORT="$(free_port)"
python3 -m http.server --bind 127.0.0.1 --directory "$REPO_DIR" "$PORT" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
_wait_http "$PORT" /dists/stable/InRelease
URL="http://127.0.0.1:$PORT/"

timed() { # timed NAME CMD... -> appends "seconds maxrss_kib" to $T/NAME.times
  local name="$1"; shift
  local t0="$EPOCHREALTIME"
  /usr/bin/time -f '%M' -o "$T/$name.rss" "$@" >"$T/$name.out" 2>"$T/$name.err" || { tail -20 "$T/$name.err" >&2; return 1; }
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") $(cat "$T/$name.rss")" >>"$T/$name.times"
}

# --- the tools (each a script, so /usr/bin/time measures it and its children) -------------------
cat >"$T/mk.yml" <<SPEC
target: {repos: {root: $T/mk-root}}
mirrors:
  bench:
    source: {type: apt, url: '$URL', suites: [stable], components: [main], architectures: [amd64], keyring: $T/keyring.gpg}
SPEC
cat >"$T/apt-mirror.list" <<LIST
set base_path $T/am
set nthreads 20
set _tilde 0
deb-amd64 ${URL%/} stable main
LIST
printf '{"rootDir": "%s", "downloadConcurrency": 8, "architectures": ["amd64"]}\n' "$T/aptly" >"$T/aptly.conf"
tool() { printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$2" >"$T/run-$1"; chmod +x "$T/run-$1"; }
tool mk "exec '$MK' sync '$T/mk.yml' --work-dir '$T/mk-work' --format json"
tool am "exec apt-mirror '$T/apt-mirror.list'"
tool dm "exec debmirror --host=127.0.0.1:$PORT --root=/ --method=http --dist=stable --section=main --arch=amd64 --nosource --keyring='$T/keyring.gpg' --diff=none --rsync-extra=none --progress '$T/dm'"
tool ap "exec aptly -config='$T/aptly.conf' mirror update -keyring='$T/keyring.gpg' bench"
ap_create() { aptly -config="$T/aptly.conf" mirror create -keyring="$T/keyring.gpg" bench "$URL" stable main >/dev/null; }

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
