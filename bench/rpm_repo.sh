# The rpm side of the rpm benchmarks (sourced after lib.sh, with T set): a signed rpm-md
# upstream of generated rpms (make_rpm NAME, sign_rpms FILE..., publish), served on loopback
# (rpm_serve: sets PORT and URL), and the two tools as scripts (rpm_tools: $T/run-mk, a
# `mirrorkit sync` with gpgcheck, and $T/run-rs, `dnf reposync --gpgcheck` with
# repo_gpgcheck; rs_root prepares reposync's root). RB_KB sets the size of each rpm.
RB_KB="${RB_KB:-650}"
for tool in rpmbuild rpmsign createrepo_c gpg dnf; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install rpm createrepo-c gnupg dnf dnf-plugins-core)" >&2; exit 1; }
done
dnf reposync --help >/dev/null 2>&1 || { echo "missing: dnf reposync (apt-get install dnf-plugins-core)" >&2; exit 1; }

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

rpm_serve() {
  PORT="$(free_port)"
  python3 "$REPO/bench/static_server.py" "$REPO_DIR" "$PORT" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
  _wait_http "$PORT" /repodata/repomd.xml
  URL="http://127.0.0.1:$PORT/"
}

rpm_tools() {
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
}

# reposync --gpgcheck checks packages against the keys in the rpm database of its root (and
# does not import them itself): setup, not timed.
rs_root() {
  mkdir -p "$T/rs" "$T/rs-root"
  rpm --root "$T/rs-root" --initdb && rpm --root "$T/rs-root" --import "$T/key.asc"
}
