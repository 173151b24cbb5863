#!/usr/bin/env bash
# Language packages: `mirrorkit mirror` of PK_N PURLs per ecosystem against each client's own
# download of the same set, in the same run, every request through a proxy adding PK_DELAY_MS
# (loopback has no latency to hide):
#   npm   — a verdaccio upstream; peer `npm cache add NAME@VERSION…` (fresh cache, then warm)
#   PyPI  — a pypiserver upstream; peer `pip download --no-deps` (fresh directory, then again);
#           and bandersnatch (allowlist mode, its defaults) against bench/warehouse_json.py, the
#           part of PyPI's API it needs (pypiserver has not), over the same files and proxy;
#           mirrorkit is measured again against that same server (its PEP 691 pages) for that row
#   cargo — a sparse registry on python's http.server; peer `cargo fetch` of a project depending
#           on every crate (fresh CARGO_HOME, then again)
# Corpus: bench/packages_corpus.py — one file per package of PK_MIN_KB..PK_MAX_KB incompressible
# bytes plus one of PK_BIG_MIB MiB (setup, not timed). Cold = fresh work dir and tree; warm = the
# same run again with nothing new.
#
# Goals (issue 11): cold ≥ 5× faster than the client's own download, warm one conditional request
# per package and no download, peak RSS < 100 MiB with the big file, cold ≥ 2× faster than
# bandersnatch. bandersnatch is installed with pip into a venv of the run (PK_BANDERSNATCH=0 skips).
# Knobs: PK_N (200), PK_MIN_KB (10), PK_MAX_KB (5120), PK_BIG_MIB (200), PK_DELAY_MS (20),
#        PK_RUNS (3), PK_SEED (1), PK_ECOSYSTEMS ("npm pypi cargo"), PK_MK_CONCURRENCY (mirrorkit's
#        --concurrency; default: its own default), BENCH_SKIP_BUILD=1, BENCH_KEEP=1.
source "$(dirname "$0")/lib.sh"

PK_N="${PK_N:-200}"; PK_MIN_KB="${PK_MIN_KB:-10}"; PK_MAX_KB="${PK_MAX_KB:-5120}"
PK_BIG_MIB="${PK_BIG_MIB:-200}"; PK_DELAY_MS="${PK_DELAY_MS:-20}"; PK_RUNS="${PK_RUNS:-3}"
PK_SEED="${PK_SEED:-1}"; PK_ECOSYSTEMS="${PK_ECOSYSTEMS:-npm pypi cargo}"
MK_FLAGS=(); [[ -n "${PK_MK_CONCURRENCY:-}" ]] && MK_FLAGS=(--concurrency "$PK_MK_CONCURRENCY")
T="$BENCH_TMP"; HERE="$(cd "$(dirname "$0")" && pwd)"
for tool in verdaccio npm pypi-server pip cargo; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (bash scripts/test installs the test tools)" >&2; exit 1; }
done
echo "# packages.sh: mirrorkit ${MK_FLAGS[*]:-(default concurrency)}, $PK_N packages/ecosystem, ${PK_MIN_KB} KiB..${PK_MAX_KB} KiB + ${PK_BIG_MIB} MiB, ${PK_DELAY_MS} ms/request, ${PK_RUNS} runs, $(print_env)" >&2

proxy() { # proxy UPSTREAM_PORT -> sets PROXY_PORT
  PROXY_PORT="$(free_port)"
  python3 "$HERE/delay_proxy.py" "$PROXY_PORT" "$1" "$PK_DELAY_MS" & _BENCH_PIDS+=("$!")
  _wait_http "$PROXY_PORT" /
}
wait_port() { for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

CARGO_UP="$(free_port)"
python3 "$HERE/delay_proxy.py" 0 0 0 2>/dev/null & kill $! 2>/dev/null || true
CARGO_PROXY="$(free_port)"
python3 "$HERE/packages_corpus.py" "$T/corpus" "$PK_N" "$PK_MIN_KB" "$PK_MAX_KB" "$PK_BIG_MIB" "$PK_SEED" "http://127.0.0.1:$CARGO_PROXY"
echo "# corpus: $(du -sh "$T/corpus/npm" | cut -f1) per ecosystem" >&2

timed() { # timed NAME CMD... -> appends "seconds maxrss_kib" to $T/NAME.times
  local name="$1"; shift
  local t0="$EPOCHREALTIME"
  /usr/bin/time -f '%M' -o "$T/$name.rss" "$@" >"$T/$name.out" 2>"$T/$name.err" || { tail -20 "$T/$name.err" >&2; return 1; }
  echo "$(python3 -c "print($EPOCHREALTIME-$t0)") $(cat "$T/$name.rss")" >>"$T/$name.times"
}
mk_pair() { # mk_pair ECO UPSTREAM [KEY]: mirrorkit cold (fresh work dir and tree) then warm
  local k="${3:-$1}"
  rm -rf "$T/work-$k" "$T/tree-$k"
  timed "mk-$k-cold" "$MK" mirror $(cat "$T/corpus/$1.txt") --upstream "$1=$2" --to "$T/tree-$k" \
    --base-url http://127.0.0.1:1/ --work-dir "$T/work-$k" --format json "${MK_FLAGS[@]}"
  jq -e '.summary.failed == 0' "$T/mk-$k-cold.out" >/dev/null || { echo "mirrorkit $k cold failed" >&2; head -c 2000 "$T/mk-$k-cold.out" >&2; exit 1; }
  timed "mk-$k-warm" "$MK" mirror $(cat "$T/corpus/$1.txt") --upstream "$1=$2" --to "$T/tree-$k" \
    --base-url http://127.0.0.1:1/ --work-dir "$T/work-$k" --format json "${MK_FLAGS[@]}"
  jq -e ".summary.unchanged == $(wc -l <"$T/corpus/$1.txt")" "$T/mk-$k-warm.out" >/dev/null || { echo "mirrorkit $k warm was not all unchanged" >&2; exit 1; }
}

if [[ " $PK_ECOSYSTEMS " == *" npm "* ]]; then
  mkdir -p "$T/verdaccio"
  port="$(free_port)"
  cat >"$T/verdaccio/config.yaml" <<VCONF
storage: ./storage
max_body_size: $((PK_BIG_MIB * 2 + 100))mb
auth: {htpasswd: {file: ./htpasswd, max_users: 10}}
uplinks: {}
packages: {'**': {access: \$all, publish: \$authenticated}}
log: {type: file, path: $T/verdaccio/log, level: warn}
VCONF
  verdaccio --config "$T/verdaccio/config.yaml" --listen "127.0.0.1:$port" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
  _wait_http "$port" /-/ping
  token="$(curl -s -X PUT -H 'content-type: application/json' "http://127.0.0.1:$port/-/user/org.couchdb.user:bench" \
    -d '{"name":"bench","password":"bench-password"}' | jq -r .token)"
  ls "$T"/corpus/npm/*.tgz | xargs -P 4 -I{} npm publish {} --registry "http://127.0.0.1:$port/" \
    "--//127.0.0.1:$port/:_authToken=$token" --cache "$T/npm-publish-cache" --loglevel=error >/dev/null
  proxy "$port"; NPM_URL="http://127.0.0.1:$PROXY_PORT/"
fi
if [[ " $PK_ECOSYSTEMS " == *" pypi "* ]]; then
  port="$(free_port)"
  pypi-server run -i 127.0.0.1 -p "$port" --disable-fallback "$T/corpus/pypi" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
  wait_port "$port"
  proxy "$port"; PYPI_URL="http://127.0.0.1:$PROXY_PORT/simple/"
  if [[ "${PK_BANDERSNATCH:-1}" == 1 ]]; then
    python3 -m venv "$T/bs-venv" && "$T/bs-venv/bin/pip" install -q --disable-pip-version-check bandersnatch >&2
    echo "# $("$T/bs-venv/bin/bandersnatch" --version 2>&1 | tail -1)" >&2
    wport="$(free_port)"
    python3 "$HERE/warehouse_json.py" "$wport" "$T/corpus/pypi" & _BENCH_PIDS+=("$!")
    wait_port "$wport"
    proxy "$wport"; WAREHOUSE_URL="http://127.0.0.1:$PROXY_PORT"
    { printf '[mirror]\ndirectory = %s\nmaster = %s\nallow-non-https = true\nstorage-backend = filesystem\njson = false\nrelease-files = true\nstop-on-error = true\ntimeout = 600\napi-method = simple\n' "$T/bs-mirror" "$WAREHOUSE_URL"
      printf '[plugins]\nenabled =\n    allowlist_project\n[allowlist]\npackages =\n'
      sed 's|^pkg:pypi/||; s|@.*||; s|^|    |' "$T/corpus/pypi.txt"; } >"$T/bandersnatch.conf"
  fi
fi
if [[ " $PK_ECOSYSTEMS " == *" cargo "* ]]; then
  python3 "$HERE/static_server.py" "$T/corpus/cargo" "$CARGO_UP" >/dev/null 2>&1 & _BENCH_PIDS+=("$!")
  wait_port "$CARGO_UP"
  python3 "$HERE/delay_proxy.py" "$CARGO_PROXY" "$CARGO_UP" "$PK_DELAY_MS" & _BENCH_PIDS+=("$!")
  wait_port "$CARGO_PROXY"
  CARGO_URL="sparse+http://127.0.0.1:$CARGO_PROXY/"
  mkdir -p "$T/app/src" "$T/app/.cargo"
  { printf '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'; cat "$T/corpus/cargo-deps.toml"; } >"$T/app/Cargo.toml"
  : >"$T/app/src/lib.rs"
  printf '[source.crates-io]\nreplace-with = "up"\n[source.up]\nregistry = "%s"\n' "$CARGO_URL" >"$T/app/.cargo/config.toml"
fi

npm_specs() { sed 's|^pkg:npm/||' "$T/corpus/npm.txt"; }
pip_specs() { sed 's|^pkg:pypi/||; s|@|==|' "$T/corpus/pypi.txt"; }
for run in $(seq 1 "$PK_RUNS"); do
  if [[ -n "${NPM_URL:-}" ]]; then
    mk_pair npm "$NPM_URL"
    rm -rf "$T/npm-cache"
    timed npm-cold npm cache add $(npm_specs) --registry "$NPM_URL" --cache "$T/npm-cache" --loglevel=error
    timed npm-warm npm cache add $(npm_specs) --registry "$NPM_URL" --cache "$T/npm-cache" --loglevel=error
  fi
  if [[ -n "${PYPI_URL:-}" ]]; then
    mk_pair pypi "$PYPI_URL"
    rm -rf "$T/pip-dl"
    timed pip-cold pip download --no-deps --no-cache-dir --disable-pip-version-check -q -d "$T/pip-dl" --index-url "$PYPI_URL" $(pip_specs)
    timed pip-warm pip download --no-deps --no-cache-dir --disable-pip-version-check -q -d "$T/pip-dl" --index-url "$PYPI_URL" $(pip_specs)
    if [[ -n "${WAREHOUSE_URL:-}" ]]; then
      # The same upstream for both: its PEP 691 project pages (with ETags, as PyPI's).
      mk_pair pypi "$WAREHOUSE_URL/simple/" pypi-wh
      rm -rf "$T/bs-mirror"
      timed bs-cold "$T/bs-venv/bin/bandersnatch" --config "$T/bandersnatch.conf" mirror
      [[ "$(find "$T/bs-mirror/web/packages" -type f | wc -l)" == "$(wc -l <"$T/corpus/pypi.txt")" ]] \
        || { echo "bandersnatch did not mirror every file" >&2; exit 1; }
      timed bs-warm "$T/bs-venv/bin/bandersnatch" --config "$T/bandersnatch.conf" mirror
    fi
  fi
  if [[ -n "${CARGO_URL:-}" ]]; then
    mk_pair cargo "$CARGO_URL"
    rm -rf "$T/cargo-home" "$T/app/Cargo.lock"
    timed cargo-cold env -C "$T/app" CARGO_HOME="$T/cargo-home" cargo fetch
    timed cargo-warm env -C "$T/app" CARGO_HOME="$T/cargo-home" cargo fetch
  fi
  echo "# run $run done" >&2
done

med() { median $(cut -d' ' -f1 "$T/$1.times"); }
rss_mib() { python3 -c "print(f'{$(median $(cut -d' ' -f2 "$T/$1.times"))/1024:.1f}')"; }
row() { # row ECO PEER_NAME PEER_KEY [MIRRORKIT_KEY] [LABEL]
  local mc mw pc pw k="${4:-$1}"
  mc="$(med "mk-$k-cold")"; mw="$(med "mk-$k-warm")"; pc="$(med "$3-cold")"; pw="$(med "$3-warm")"
  echo "| ${5:-$1} | $(fmt_s "$mc") s | $(fmt_s "$pc") s ($2) | **$(ratio "$pc" "$mc")×** | $(fmt_s "$mw") s | $(fmt_s "$pw") s | **$(ratio "$pw" "$mw")×** | $(rss_mib "mk-$k-cold") MiB | $(rss_mib "$3-cold") MiB |"
}
cat <<REPORT

### packages.sh — $PK_N packages per ecosystem (${PK_MIN_KB} KiB–${PK_MAX_KB} KiB) + one of ${PK_BIG_MIB} MiB, ${PK_DELAY_MS} ms added per request, median of ${PK_RUNS}

$(print_env)

| ecosystem | mirrorkit cold | client cold | client ÷ mirrorkit (goal ≥ 5) | mirrorkit warm | client warm | client ÷ mirrorkit | mirrorkit peak RSS (goal < 100) | client peak RSS |
|---|---|---|---|---|---|---|---|---|
$([[ -n "${NPM_URL:-}" ]] && row npm "npm cache add" npm)
$([[ -n "${PYPI_URL:-}" ]] && row pypi "pip download" pip)
$([[ -n "${WAREHOUSE_URL:-}" ]] && row pypi "bandersnatch" bs pypi-wh "pypi (Warehouse API)")
$([[ -n "${CARGO_URL:-}" ]] && row cargo "cargo fetch" cargo)

Every mirrorkit cold run reported no failure; every warm run reported every version unchanged.
REPORT
