#!/usr/bin/env bash
# rpm corruption cases against mirrorkit (gpgcheck: true) and `dnf reposync --gpgcheck`
# (repo_gpgcheck on), in the same run: a signed rpm-md repository of RC_RPMS small rpms is
# corrupted one way at a time, and each tool mirrors it from a fresh state. A case counts as
# caught when the tool fails (non-zero exit) or its mirror holds none of the corrupted bytes;
# for the metadata signature cases, succeeding at all is a miss.
#   flipped-rpm      — one byte of an rpm changed (primary's checksum still the original's)
#   flipped-primary  — one byte of primary.xml.gz changed (repomd's checksum still right)
#   edited-repomd    — repomd.xml changed after it was signed
#   missing-asc      — repomd.xml.asc removed
#   untrusted-signer — an rpm re-signed by a key outside the keyring, the metadata rebuilt and
#                      signed by the right key (only a package signature check catches it)
# Issue 12's goal: 5/5.
# Knobs: RC_RPMS (10), RB_KB (20), BENCH_SKIP_BUILD=1, BENCH_KEEP=1.
source "$(dirname "$0")/lib.sh"

RC_RPMS="${RC_RPMS:-10}"; RB_KB="${RB_KB:-20}"
T="$BENCH_TMP"
source "$(dirname "$0")/rpm_repo.sh"
echo "# distro_rpm_corruptions.sh: $RC_RPMS rpms of ${RB_KB} KiB, $(print_env)" >&2
seq 1 "$RC_RPMS" | sed 's/^/pkg/' | xargs -P "$(nproc)" -I{} bash -c 'make_rpm {}'
sign_rpms "$REPO_DIR"/Packages/*.rpm
publish
cp -a "$REPO_DIR" "$T/good"
rpm_serve
rpm_tools
OTHER_GNUPG="$T/other-gnupg"; mkdir -m 700 -p "$OTHER_GNUPG"
GNUPGHOME="$OTHER_GNUPG" gpg --batch --quiet --passphrase '' --quick-gen-key 'somebody else <else@example.org>' ed25519 sign never

dirs_of() { case "$1" in mk) echo "$T/mk-root $T/mk-work" ;; rs) echo "$T/rs $T/rs-cache" ;; esac; }
restore() { rsync -a --delete "$T/good/" "$REPO_DIR/"; }
flip() { python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0xff; open(p,'wb').write(b)" "$1"; }
BAD=()   # sha256 of the corrupted files of the current case
corrupt() {
  restore; BAD=()
  local rpm="$REPO_DIR/Packages/pkg3-1.0-1.noarch.rpm"
  case "$1" in
    flipped-rpm) flip "$rpm"; BAD+=("$(sha256sum <"$rpm" | cut -d' ' -f1)") ;;
    flipped-primary)
      local primary; primary="$(ls "$REPO_DIR"/repodata/*primary.xml.gz)"
      flip "$primary"; BAD+=("$(sha256sum <"$primary" | cut -d' ' -f1)") ;;
    edited-repomd) sed -i 's|<revision>|<revision>1|' "$REPO_DIR/repodata/repomd.xml" ;;
    missing-asc) rm "$REPO_DIR/repodata/repomd.xml.asc" ;;
    untrusted-signer)
      rpmsign --delsign "$rpm" >/dev/null 2>&1
      rpmsign --addsign --define "__gpg /usr/bin/gpg" --define "_gpg_name else@example.org" \
        --define "_gpg_path $OTHER_GNUPG" \
        --define "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase ''" "$rpm" >/dev/null 2>&1
      publish
      BAD+=("$(sha256sum <"$rpm" | cut -d' ' -f1)") ;;
  esac
}

fresh_run() { # fresh_run TOOL CASE -> exit code
  local d; for d in $(dirs_of "$1") "$T/rs-root"; do rm -rf "$d"; done
  [[ $1 == rs ]] && rs_root
  local rc=0; "$T/run-$1" >"$T/$1-$2.out" 2>"$T/$1-$2.err" || rc=$?
  return "$rc"
}
# The control: an intact repository mirrors with both, or no failure below means anything.
restore
for t in mk rs; do
  fresh_run "$t" intact || { echo "$t fails on the intact repository:" >&2; tail -5 "$T/$t-intact.err" >&2; exit 1; }
done

CASES=(flipped-rpm flipped-primary edited-repomd missing-asc untrusted-signer)
declare -A RESULT; declare -A CAUGHT
for t in mk rs; do CAUGHT[$t]=0; done
for c in "${CASES[@]}"; do
  corrupt "$c"
  for t in mk rs; do
    rc=0; fresh_run "$t" "$c" || rc=$?
    signature_case=0; [[ $c == edited-repomd || $c == missing-asc ]] && signature_case=1
    if [[ $rc -ne 0 ]] || { [[ $signature_case == 0 ]] && ! serves_bad "$t"; }; then
      RESULT[$t,$c]="caught (exit $rc)"; CAUGHT[$t]=$(( CAUGHT[$t] + 1 ))
    else
      RESULT[$t,$c]="**missed** (exit $rc)"
    fi
    why="$(jq -r '.mirrors[0].versions[0].reason // empty' "$T/$t-$c.out" 2>/dev/null || true)"
    echo "# $c $t: ${RESULT[$t,$c]}: ${why:-$(tail -c 200 "$T/$t-$c.err" | tr '\n' ' ')}" >&2
  done
done
cat <<REPORT

### distro_rpm_corruptions.sh — $RC_RPMS rpms, one corruption at a time, each tool from a fresh state

$(print_env)

| case | mirrorkit (gpgcheck) | dnf reposync --gpgcheck (repo_gpgcheck) |
|---|---|---|
$(for c in "${CASES[@]}"; do echo "| $c | ${RESULT[mk,$c]} | ${RESULT[rs,$c]} |"; done)
| **caught** | **${CAUGHT[mk]}/${#CASES[@]}** | **${CAUGHT[rs]}/${#CASES[@]}** |
REPORT
