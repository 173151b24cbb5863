#!/usr/bin/env bash
# rpm mirrors: `mirrorkit sync` (gpgcheck: true) of a signed rpm-md repository against
# `dnf reposync --download-metadata --gpgcheck` (repo_gpgcheck on), in the same run, on loopback
# (python's http.server as the upstream).
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
for tool in rpmbuild rpmsign createrepo_c gpg dnf; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install rpm createrepo-c gnupg dnf dnf-plugins-core)" >&2; exit 1; }
done
dnf reposync --help >/dev/null 2>&1 || { echo "missing: dnf reposync (apt-get install dnf-plugins-core)" >&2; exit 1; }
echo "# distro_rpm.sh: $RB_RPMS rpms of ${RB_KB} KiB, +${RB_INC_PCT}% incremental, ${RB_RUNS} runs, $(print_env)" >&2

# --- the upstream -----------------------------------------------------------------------------
REPO_DIR="$T/repo"; mkdir -p "$REPO_DIR/Packages" "$T/src"
export GNUPGHOME="$T/gnupg"; mkdir -m 700 -p "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'bench rpm <bench@example.org>' ed25519 sign never
gpg --batch --quiet --armor --export >"$T/key.asc"

make_rpm() { # make_rpm NAME
  local d="$T/src/$1"
  mkdir -p "$d"
  head -c "$((RB_KB * 1024))" /dev/urandom >"$d/data"
  cat >"$d/p.spec" <<SPEC
Name: $1
Version: 1.0
Release: 1
Summary: bench
License: MIT
BuildArch: noarch
%define _binary_payload w0.gzdio
%define _build_id_links none
%description
bench
%install
mkdir -p %{buildroot}/usr/share/$1
cp $d/data %{buildroot}/usr/share/$1/data
%files
/usr/share/$1/data
SPEC
  rpmbuild -bb --quiet --define "_topdir $d/top" "$d/p.spec" >/dev/null 2>&1
  mv "$d/top/RPMS/noarch/$1-1.0-1.noarch.rpm" "$REPO_DIR/Packages/"
  rm -rf "$d"
}
sign_rpms() { # sign_rpms FILE...
  rpmsign --addsign --define "__gpg /usr/bin/gpg" --define "_gpg_name bench@example.org" \
    --define "_gpg_path $GNUPGHOME" \
    --define "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase ''" "$@" >/dev/null 2>&1
}
export -f make_rpm; export T RB_KB REPO_DIR
publish() {
  rm -rf "$REPO_DIR/repodata"
  createrepo_c --quiet "$REPO_DIR"
  gpg --batch --yes --quiet --armor --detach-sign -o "$REPO_DIR/repodata/repomd.xml.asc" "$REPO_DIR/repodata/repomd.xml"
}
seq 1 "$RB_RPMS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_rpm {}'
sign_rpms "$REPO_DIR"/Packages/*.rpm
INC=$(( RB_RPMS * RB_INC_PCT / 100 )); [[ $INC -ge 1 ]] || INC=1
publish
echo "# corpus: $(du -sh "$REPO_DIR" | cut -f1), $INC more for the incremental run" >&2
PORT="$(free_port)"
python3 -m http.server --bind 127.0.0.1 --directory "$REPO_DIR" "$PORT" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
_wait_http "$PORT" /repodata/repomd.xml
URL="http://127.0.0.1:$PORT/"


# --- the tools ----------------------------------------------------------------------------------
cat >"$T/mk.yml" <<SPEC
target: {repos: {root: $T/mk-root}}
mirrors:
  bench:
    source: {type: rpm, url: '$URL', keyring: $T/key.asc, gpgcheck: true}
SPEC
cat >"$T/dnf.conf" <<CONF
[main]
reposdir=/dev/null
cachedir=$T/rs-cache
keepcache=0
[bench]
name=bench
baseurl=$URL
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$T/key.asc
CONF
tool mk "exec '$MK' sync '$T/mk.yml' --work-dir '$T/mk-work' --format json"
tool rs "exec dnf -q -y -c '$T/dnf.conf' --installroot '$T/rs-root' --releasever 9 reposync --repoid bench --download-metadata --gpgcheck --norepopath -p '$T/rs'"

# Old state is moved aside, not deleted, until the end (see distro_apt.sh: ext4 scans recently
# deleted inodes on every create).
fresh() {
  mkdir -p "$T/trash/$1"
  for d in mk-root mk-work rs rs-root rs-cache; do [[ -e "$T/$d" ]] && mv "$T/$d" "$T/trash/$1/$d"; done
  mkdir -p "$T/rs" "$T/rs-root"
  # reposync --gpgcheck checks packages against the keys in the rpm database of its root
  # (and does not import them itself): setup, not timed.
  rpm --root "$T/rs-root" --initdb && rpm --root "$T/rs-root" --import "$T/key.asc"
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
