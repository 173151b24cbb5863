# The apt side of the apt benchmarks (sourced after lib.sh, with T set): a signed upstream
# repository of generated .debs (make_deb NAME, publish), served on loopback (apt_serve: sets
# PORT and URL), and the four tools as scripts (apt_tools: $T/run-mk, run-am, run-dm, run-ap,
# with ap_create for aptly's mirror). AB_KB sets the size of each .deb.
AB_KB="${AB_KB:-650}"
for tool in dpkg-deb apt-ftparchive gpg apt-mirror debmirror aptly; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install dpkg-dev apt-utils gnupg apt-mirror debmirror aptly)" >&2; exit 1; }
done

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
apt_serve() {
  PORT="$(free_port)"
  python3 "$REPO/bench/static_server.py" "$REPO_DIR" "$PORT" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
  _wait_http "$PORT" /dists/stable/InRelease
  URL="http://127.0.0.1:$PORT/"
}

# The four tools, each a script (so /usr/bin/time measures it and its children); needs URL.
apt_tools() {
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
  tool mk "exec '$MK' sync '$T/mk.yml' --work-dir '$T/mk-work' --format json"
  tool am "exec apt-mirror '$T/apt-mirror.list'"
  tool dm "exec debmirror --host=127.0.0.1:$PORT --root=/ --method=http --dist=stable --section=main --arch=amd64 --nosource --keyring='$T/keyring.gpg' --diff=none --rsync-extra=none --progress '$T/dm'"
  tool ap "exec aptly -config='$T/aptly.conf' mirror update -keyring='$T/keyring.gpg' bench"
}
ap_create() { aptly -config="$T/aptly.conf" mirror create -keyring="$T/keyring.gpg" bench "$URL" stable main >/dev/null; }
