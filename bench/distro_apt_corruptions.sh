#!/usr/bin/env bash
# apt corruption cases against mirrorkit, apt-mirror, debmirror and aptly, in the same run: a
# signed repository of AB_DEBS small .debs is corrupted one way at a time, and each tool mirrors it
# from a fresh state. A case counts as caught when the tool fails (non-zero exit) or its mirror
# holds none of the corrupted bytes; it counts as missed when the tool succeeds and serves them
# (or, for a forged signature, when it succeeds at all).
#   flipped .deb   — one byte of a .deb changed (its Packages entry still right)
#   truncated .deb — a .deb cut short by 100 bytes
#   unknown key    — InRelease and Release.gpg signed by a key outside the keyring
#   edited index   — Packages (all compressions) changed after the Release was signed
# Issue 12's claim to check: mirrorkit 4/4 where debmirror catches 1 and apt-mirror 0.
# Knobs: AB_DEBS (10), AB_KB (20), BENCH_SKIP_BUILD=1, BENCH_KEEP=1.
source "$(dirname "$0")/lib.sh"

AB_DEBS="${AB_DEBS:-10}"; AB_KB="${AB_KB:-20}"
T="$BENCH_TMP"
echo "# distro_apt_corruptions.sh: $AB_DEBS debs of ${AB_KB} KiB, $(print_env)" >&2
source "$(dirname "$0")/apt_repo.sh"
seq 1 "$AB_DEBS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_deb {}'
publish
cp -a "$REPO_DIR" "$T/good"
apt_serve
apt_tools
export OTHER_GNUPG="$T/other-gnupg"; mkdir -m 700 -p "$OTHER_GNUPG"
GNUPGHOME="$OTHER_GNUPG" gpg --batch --quiet --passphrase '' --quick-gen-key 'somebody else <else@example.org>' ed25519 sign never

dirs_of() { case "$1" in mk) echo "$T/mk-root $T/mk-work" ;; am) echo "$T/am" ;; dm) echo "$T/dm" ;; ap) echo "$T/aptly" ;; esac; }
restore() { rsync -a --delete "$T/good/" "$REPO_DIR/"; }
flip() { python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xff; open(p,'wb').write(b)" "$1"; }
BAD=()   # sha256 of the corrupted files of the current case
corrupt() {
  restore; BAD=()
  local deb="$REPO_DIR/pool/main/pkg3_1.0_all.deb" bin="$REPO_DIR/dists/stable/main/binary-amd64"
  case "$1" in
    flipped) flip "$deb"; BAD+=("$(sha256sum <"$deb" | cut -d' ' -f1)") ;;
    truncated) truncate -s -100 "$deb"; BAD+=("$(sha256sum <"$deb" | cut -d' ' -f1)") ;;
    unknown-key)
      GNUPGHOME="$OTHER_GNUPG" gpg --batch --yes --quiet --clearsign -o "$REPO_DIR/dists/stable/InRelease" "$REPO_DIR/dists/stable/Release"
      GNUPGHOME="$OTHER_GNUPG" gpg --batch --yes --quiet --armor --detach-sign -o "$REPO_DIR/dists/stable/Release.gpg" "$REPO_DIR/dists/stable/Release" ;;
    edited-index)
      sed -i 's/^Description: bench$/Description: bench (edited)/' "$bin/Packages"
      gzip -kf "$bin/Packages"; xz -kf "$bin/Packages"
      for f in "$bin/Packages" "$bin/Packages.gz" "$bin/Packages.xz"; do BAD+=("$(sha256sum <"$f" | cut -d' ' -f1)"); done ;;
  esac
}

CASES=(flipped truncated unknown-key edited-index)
declare -A RESULT; declare -A CAUGHT
for t in mk am dm ap; do CAUGHT[$t]=0; done
for c in "${CASES[@]}"; do
  corrupt "$c"
  for t in mk am dm ap; do
    for d in $(dirs_of "$t"); do rm -rf "$d"; done
    mkdir -p "$T/am" "$T/dm"
    [[ $t == ap ]] && { ap_create 2>/dev/null || true; }
    rc=0; "$T/run-$t" >"$T/$t-$c.out" 2>"$T/$t-$c.err" || rc=$?
    if [[ $rc -ne 0 ]] || { [[ $c != unknown-key ]] && ! serves_bad "$t"; }; then
      RESULT[$t,$c]="caught (exit $rc)"; CAUGHT[$t]=$(( CAUGHT[$t] + 1 ))
    else
      RESULT[$t,$c]="**missed** (exit $rc)"
    fi
    echo "# $c $t: ${RESULT[$t,$c]}" >&2
  done
done
cat <<REPORT

### distro_apt_corruptions.sh — $AB_DEBS .debs, one corruption at a time, each tool from a fresh state

$(print_env)

| case | mirrorkit | apt-mirror | debmirror | aptly mirror update |
|---|---|---|---|---|
$(for c in "${CASES[@]}"; do echo "| $c | ${RESULT[mk,$c]} | ${RESULT[am,$c]} | ${RESULT[dm,$c]} | ${RESULT[ap,$c]} |"; done)
| **caught** | **${CAUGHT[mk]}/${#CASES[@]}** | **${CAUGHT[am]}/${#CASES[@]}** | **${CAUGHT[dm]}/${#CASES[@]}** | **${CAUGHT[ap]}/${#CASES[@]}** |
REPORT
