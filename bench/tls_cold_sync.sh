#!/usr/bin/env bash
# Cold image syncs over HTTPS, counted (issue 9: the HTTP/2 cold-sync hang). Two docker-registry
# (distribution 2.8) instances serving HTTPS on 127.0.0.1 (so reqwest negotiates h2 via ALPN), the bench image corpus in the source,
# and N cold `mirrorkit sync` runs (fresh target registry + fresh work dir each), each under
# `timeout $TMO`. Exit 124 = hang.
#
# usage: MK=/path/to/mirrorkit [N=10] [TMO=120] [REPOS=24 TAGS=2 MIN_MIB=1 MAX_MIB=16 SEED=1]
#        [SNAP_AT="60 115"] [STATE=$TMPDIR/mirrorkit-tls-cold-sync] [KEEP_OK=0] [DST_CONCURRENCY=n]
#        [MK_LOG_LEVEL=debug] bash bench/tls_cold_sync.sh
# DST_CONCURRENCY adds `registries: {<target>: {concurrency: n}}` to the spec (the target's
# per-host permit count; default 8). TMO > 120 lets reqwest's 120 s read_timeout fire first, so
# the state after it (the permanent deadlock) can be observed.
#
# - CA + server cert (SAN IP:127.0.0.1) made once under $STATE/tls; mirrorkit trusts the CA
#   through SSL_CERT_FILE (reqwest 0.13 rustls -> rustls-platform-verifier -> rustls-native-certs,
#   which reads SSL_CERT_FILE/SSL_CERT_DIR on Linux).
# - The source registry's data is generated + pushed once per corpus setting and reused
#   ($STATE/src-<params>); a fresh source registry process serves it for each invocation.
# - Per run: $STATE/runs/<stamp>-<i>/ holds mk.out (json report), mk.err (debug log),
#   dst/registry.log, and, when the run is still alive at each of SNAP_AT seconds,
#   snap-<t>s.txt (ss -tnpi of the process, /proc/PID/task/*/stat+wchan, registry log tails).
#   Successful runs' dirs are removed unless KEEP_OK=1 (the registry data is always removed).
# - Summary lines go to stdout and to $STATE/runs/<stamp>/summary.txt.
set -euo pipefail

: "${MK:?set MK=/path/to/mirrorkit}"
N="${N:-10}"; TMO="${TMO:-120}"
REPOS="${REPOS:-24}"; TAGS="${TAGS:-2}"; MIN_MIB="${MIN_MIB:-1}"; MAX_MIB="${MAX_MIB:-16}"; SEED="${SEED:-1}"
SNAP_AT="${SNAP_AT:-60 115}"
STATE="${STATE:-${TMPDIR:-/tmp}/mirrorkit-tls-cold-sync}"
KEEP_OK="${KEEP_OK:-0}"
REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"
CORPUS_PY="${CORPUS_PY:-$(cd "$(dirname "$0")" && pwd)/corpus.py}"
for t in openssl skopeo jq python3 curl ss timeout "$REGISTRY_BIN"; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
[[ -x "$MK" ]] || { echo "not executable: $MK" >&2; exit 1; }
mkdir -p "$STATE"
STAMP="$(date +%Y%m%d-%H%M%S)"
RUNS="$STATE/runs/$STAMP"; mkdir -p "$RUNS"
# Private copy: the path may be rebuilt while we run.
cp "$MK" "$RUNS/mirrorkit"; MKBIN="$RUNS/mirrorkit"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && { kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- TLS ----------------------------------------------------------------------------------
TLS="$STATE/tls"
if [[ ! -s "$TLS/server.crt" ]]; then
  mkdir -p "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mirrorkit bench CA" \
    -keyout "$TLS/ca.key" -out "$TLS/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >"$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
    -days 3650 -extfile "$TLS/server.ext" -out "$TLS/server.crt" 2>/dev/null
fi
export SSL_CERT_FILE="$TLS/ca.crt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_registry DIR DATA -> REGISTRY_HOST, REGISTRY_PID, REGISTRY_LOG
start_registry() {
  local dir="$1" data="$2" port i
  mkdir -p "$dir" "$data"
  port="$(free_port)"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: mirrorkit-bench-secret
  tls:
    certificate: $TLS/server.crt
    key: $TLS/server.key
EOF
  REGISTRY_LOG="$dir/registry.log"
  "$REGISTRY_BIN" serve "$dir/config.yml" >>"$REGISTRY_LOG" 2>&1 &
  REGISTRY_PID="$!"; PIDS+=("$REGISTRY_PID")
  REGISTRY_HOST="127.0.0.1:$port"
  for i in $(seq 1 200); do
    curl -sf --cacert "$TLS/ca.crt" -o /dev/null "https://$REGISTRY_HOST/v2/" && return 0
    sleep 0.1
  done
  echo "registry on $port did not come up; log:" >&2; cat "$REGISTRY_LOG" >&2; return 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---- source registry (generated + pushed once per corpus setting) -------------------------
SRCDIR="$STATE/src-r${REPOS}-t${TAGS}-${MIN_MIB}-${MAX_MIB}-s${SEED}"
if [[ ! -e "$SRCDIR/done" ]]; then
  rm -rf "$SRCDIR"; mkdir -p "$SRCDIR"
  echo "# generating corpus $SRCDIR" >&2
  python3 "$CORPUS_PY" "$SRCDIR/corpus" "$REPOS" "$TAGS" "$MIN_MIB" "$MAX_MIB" "$SEED" >"$SRCDIR/images.txt"
  start_registry "$SRCDIR" "$SRCDIR/data"
  while read -r repo tag; do
    skopeo copy --quiet --all --dest-tls-verify=false "oci:$SRCDIR/corpus/$repo:$tag" "docker://$REGISTRY_HOST/$repo:$tag"
  done <"$SRCDIR/images.txt"
  stop_pid "$REGISTRY_PID"
  rm -rf "$SRCDIR/corpus"
  touch "$SRCDIR/done"
fi
start_registry "$RUNS/src" "$SRCDIR/data"
SRC="$REGISTRY_HOST"; SRC_LOG="$REGISTRY_LOG"
# Confirm h2 is negotiated (curl ALPN).
proto="$(curl -s --cacert "$TLS/ca.crt" -o /dev/null -w '%{http_version}' "https://$SRC/v2/")"
echo "# DST_CONCURRENCY=${DST_CONCURRENCY:-default}" | tee "$RUNS/summary.txt"
echo "# source $SRC speaks HTTP/$proto; $(wc -l <"$SRCDIR/images.txt") images, $(( $(du -sb "$SRCDIR/data" | cut -f1) / 1048576 )) MiB; MK=$MK ($(sha256sum "$MKBIN" | cut -c1-12)); N=$N TMO=$TMO" | tee -a "$RUNS/summary.txt"

write_spec() { # write_spec TARGET_HOST FILE
  {
    echo "target: {registry: '$1', namespace: mk}"
    if [[ -n "${DST_CONCURRENCY:-}" ]]; then echo "registries: {'$1': {concurrency: $DST_CONCURRENCY}}"; fi
    echo "mirrors:"
    cut -d' ' -f1 "$SRCDIR/images.txt" | sort -u | while read -r repo; do
      echo "  ${repo//\//-}: {source: {type: oci, image: '$SRC/$repo'}, repository: $repo}"
    done
  } >"$2"
}

snapshot() { # snapshot PID DIR SECONDS DST_LOG
  local pid="$1" out="$2/snap-${3}s.txt" t
  {
    echo "=== t=${3}s pid=$pid  $(date -u +%T)"
    echo "--- ss -tnpi (sockets of pid $pid; Recv-Q/Send-Q are kernel queues)"
    ss -tnpi 2>/dev/null | awk -v p="pid=$pid," 'index($0,p){print; getline; print}'
    echo "--- ss -tni peers (registry side of the same connections)"
    ss -tnpi 2>/dev/null | grep -A1 -E "docker-regist" | grep -v '^--$' || true
    echo "--- /proc/$pid/task/*/stat (tid comm state utime stime) + wchan"
    for t in /proc/"$pid"/task/*; do
      [[ -r "$t/stat" ]] || continue
      awk '{print $1, $2, $3, "utime="$14, "stime="$15}' "$t/stat" | tr '\n' ' '
      echo " wchan=$(cat "$t/wchan" 2>/dev/null)"
    done
    echo "--- process cpu: $(awk '{print "utime="$14, "stime="$15}' /proc/"$pid"/stat 2>/dev/null)"
    echo "--- target registry log: last 30 lines"
    tail -n 30 "$4"
    echo "--- source registry log: last 10 lines"
    tail -n 10 "$SRC_LOG"
    echo "--- mirrorkit stderr: last 30 lines"
    tail -n 30 "$2/mk.err"
  } >"$out" 2>&1
}

ok=0; hung=0; failed=0; ok_times=()
for i in $(seq 1 "$N"); do
  R="$RUNS/run-$i"; mkdir -p "$R"
  start_registry "$R/dst" "$R/dst/data"
  DST="$REGISTRY_HOST"; DST_PID="$REGISTRY_PID"; DST_LOG="$REGISTRY_LOG"
  write_spec "$DST" "$R/spec.yml"
  t0="$EPOCHREALTIME"
  # setsid not needed: timeout signals the child; we watch its pid for snapshots.
  timeout "$TMO" "$MKBIN" --log-level "${MK_LOG_LEVEL:-debug}" --color never sync "$R/spec.yml" \
    --work-dir "$R/work" --format json >"$R/mk.out" 2>"$R/mk.err" &
  tpid="$!"
  mkpid=""
  for _ in $(seq 1 50); do mkpid="$(pgrep -P "$tpid" | head -1 || true)"; [[ -n "$mkpid" ]] && break; sleep 0.1; done
  # Snapshots at SNAP_AT seconds while the run is alive.
  (
    for s in $SNAP_AT; do
      while :; do
        now="$(python3 -c "print(int($EPOCHREALTIME-$t0))" 2>/dev/null)" || exit 0
        (( now >= s )) && break
        kill -0 "$tpid" 2>/dev/null || exit 0
        sleep 1
      done
      kill -0 "$tpid" 2>/dev/null || exit 0
      [[ -n "$mkpid" ]] && snapshot "$mkpid" "$R" "$s" "$DST_LOG"
    done
  ) &
  spid="$!"
  rc=0; wait "$tpid" || rc=$?
  dt="$(python3 -c "print(f'{$EPOCHREALTIME-$t0:.1f}')")"
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  stop_pid "$DST_PID"
  discon="$(grep -c 'client disconnected' "$DST_LOG" || true)"
  fallbacks="$(grep -c 'streamed upload failed' "$R/mk.err" || true)"
  summ="$(jq -c '.summary // empty' "$R/mk.out" 2>/dev/null | head -c 300 || true)"
  if [[ "$rc" == 124 ]]; then
    hung=$((hung + 1)); verdict=HANG
  elif [[ "$rc" == 0 ]]; then
    ok=$((ok + 1)); ok_times+=("$dt"); verdict=ok
  else
    failed=$((failed + 1)); verdict="FAIL(rc=$rc)"
  fi
  line="run $i: $verdict ${dt}s  target-log 'client disconnected'=$discon  mk 'streamed upload failed'=$fallbacks  $summ"
  echo "$line" | tee -a "$RUNS/summary.txt"
  rm -rf "$R/dst/data" "$R/work"
  [[ "$verdict" == ok && "$KEEP_OK" != 1 ]] && rm -rf "$R"
done
times="$(printf '%s\n' "${ok_times[@]:-}" | grep . | sort -g | paste -sd' ' - || true)"
echo "TOTAL: runs=$N ok=$ok hung=$hung failed=$failed; ok durations (s): ${times:-none}; details: $RUNS" | tee -a "$RUNS/summary.txt"
