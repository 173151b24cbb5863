# Shared helpers for the bench/*.sh scripts. Source it; do not run it.
#
# Gives: $REPO (checkout root), $MK (the mirrorkit binary), $BENCH_TMP (a temp dir removed on
# exit, with every server this script started killed first), free_port, start_registry,
# start_fileserver, hf_median, mib_per_s, kv.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MK="${MIRRORKIT_BIN:-$REPO/target/release/mirrorkit}"
REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$REPO" && cargo build --release -p mirrorkit >&2)
fi
[[ -x "$MK" ]] || { echo "mirrorkit binary not found at $MK" >&2; exit 1; }
for tool in hyperfine python3 jq; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (apt-get install time)" >&2; exit 1; }

BENCH_TMP="$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/mirrorkit-bench.XXXXXX")"
_BENCH_PIDS=()

# Other people may rebuild target/release in the shared checkout while a benchmark runs: run a
# private copy so every measurement of one script uses the same binary.
cp "$MK" "$BENCH_TMP/mirrorkit"
MK="$BENCH_TMP/mirrorkit"
MK_SHA="$(sha256sum "$MK" | cut -c1-12)"

_bench_cleanup() {
  local pid
  for pid in "${_BENCH_PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "kept $BENCH_TMP" >&2
  else
    rm -rf "$BENCH_TMP"
  fi
}
trap _bench_cleanup EXIT
trap 'exit 130' INT TERM

# A TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait until http://127.0.0.1:$1$2 answers (any HTTP status).
_wait_http() {
  local port="$1" path="$2" i
  for i in $(seq 1 200); do
    if python3 - "$port" "$path" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=1)
except urllib.error.HTTPError:
    pass
PY
    sleep 0.1
  done
  echo "server on port $port did not come up" >&2
  return 1
}

# start_registry DIR -> sets REGISTRY_HOST (127.0.0.1:PORT), REGISTRY_LOG and REGISTRY_PID.
# docker-registry (CNCF distribution 2.8) with filesystem storage under DIR/data.
start_registry() {
  local dir="$1" port
  mkdir -p "$dir/data"
  port="$(free_port)"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: mirrorkit-bench-secret
EOF
  REGISTRY_LOG="$dir/registry.log"
  "$REGISTRY_BIN" serve "$dir/config.yml" >"$REGISTRY_LOG" 2>&1 &
  REGISTRY_PID="$!"
  _BENCH_PIDS+=("$REGISTRY_PID")
  REGISTRY_HOST="127.0.0.1:$port"
  _wait_http "$port" /v2/
}

# stop_registry: stop the registry start_registry started last.
stop_registry() {
  local keep=() pid
  kill "$REGISTRY_PID" 2>/dev/null || true
  wait "$REGISTRY_PID" 2>/dev/null || true
  for pid in "${_BENCH_PIDS[@]}"; do [[ "$pid" == "$REGISTRY_PID" ]] || keep+=("$pid"); done
  _BENCH_PIDS=("${keep[@]}")
}

# start_fileserver DIR -> sets FILESERVER_URL (http://127.0.0.1:PORT) and FILESERVER_LOG
# (python's http.server access log: one line per request).
start_fileserver() {
  local dir="$1" port
  port="$(free_port)"
  FILESERVER_LOG="$BENCH_TMP/fileserver-$port.log"
  python3 -u -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >"$FILESERVER_LOG" 2>&1 &
  _BENCH_PIDS+=("$!")
  FILESERVER_URL="http://127.0.0.1:$port"
  _wait_http "$port" /
}

# hf_median JSON -> median seconds of the first result of a hyperfine --export-json file.
hf_median() { jq -r '.results[0].median' "$1"; }

# mib_per_s BYTES SECONDS
mib_per_s() { python3 -c "import sys; print(f'{int(sys.argv[1])/1048576/float(sys.argv[2]):.1f}')" "$1" "$2"; }

# fmt_s SECONDS -> 3 significant decimals
fmt_s() { python3 -c "import sys; print(f'{float(sys.argv[1]):.3f}')" "$1"; }

# ratio A B -> A/B with 2 decimals
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.stdin))'; }

# Print the environment the numbers were taken in (one block, markdown-friendly).
print_env() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  HEAD: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')  binary sha256: $MK_SHA  nproc: $(nproc)"
}

# timed NAME CMD... — run CMD (its output to $T/NAME.out/.err), append "seconds maxrss_kib" to
# $T/NAME.times (T: the script's temp dir).
timed() {
  local name="$1"; shift
  local t0="$EPOCHREALTIME"
  /usr/bin/time -f '%M' -o "$T/$name.rss" "$@" >"$T/$name.out" 2>"$T/$name.err" || { tail -20 "$T/$name.err" >&2; return 1; }
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") $(cat "$T/$name.rss")" >>"$T/$name.times"
}

# tool NAME COMMAND — write COMMAND as the script $T/run-NAME.
tool() { printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$2" >"$T/run-$1"; chmod +x "$T/run-$1"; }

# serves_bad TOOL — whether the tool's state holds any of the corrupted files: the corruption
# scripts set BAD (the SHA-256s of the corrupted files) and define `dirs_of TOOL`.
serves_bad() {
  [[ ${#BAD[@]} -gt 0 ]] || return 1
  local d; for d in $(dirs_of "$1"); do
    [[ -e "$d" ]] || continue
    find -L "$d" -type f -print0 2>/dev/null | xargs -0 -r sha256sum | cut -d' ' -f1 | grep -qxF -f <(printf '%s\n' "${BAD[@]}") && return 0
  done
  return 1
}
