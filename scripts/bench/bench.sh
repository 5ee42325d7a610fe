#!/usr/bin/env bash
# `task bench`: Portico against nginx, HAProxy and Caddy on the same machine, same upstream,
# same load generator, one proxy core each; then Portico with plugins (limit-count +
# prometheus; a wasm `_meta.pre_function` hook; ext-plugin-pre-req to the real Go plugin
# runner) and Portico with 10 000 routes.
#
#   proxy under test      taskset -c $BENCH_PROXY_CPU (0), one worker/thread/GOMAXPROCS=1
#   upstream + wrk        taskset -c $BENCH_LOAD_CPU (1); the upstream is scripts/bench/upstream
#                         (1 KiB body, keep-alive)
#   load                  wrk -t1 -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s --latency,
#                         each after a ${BENCH_WARMUP}s warm-up; $BENCH_RUNS rounds, each running
#                         every row once (interleaved, so the VM's drift hits all rows alike);
#                         the table shows the median of the runs, the ratios the median of
#                         the per-round ratios
#   listeners             127.0.0.1 only, on free ports picked at random in 20000-32767
#   plugin rows           one route "/*"; `vs portico` is the req/s ratio to the no-plugin
#                         Portico row (the cost of the plugin), `vs nginx` the ratio to nginx
#     wasm pre_function   testdata/wasm/header.wasm (reads $route_id, sets the request header
#                         X-Route-Id: one get_var and one set_header a call) uploaded as
#                         wasm_modules/header, as `_meta.pre_function` of client-control with an
#                         empty conf (a plugin that does nothing: the row costs the hook); the
#                         log shows the hook's calls per request (one: it runs before the
#                         phases the plugin has, client-control's rewrite)
#     ext-plugin-pre-req  the real Go runner (testdata/extrunner, apisix-go-plugin-runner
#                         v0.5.0) started by Portico from ext_plugin.cmd, so it shares the proxy
#                         CPU (the proxy CPU column counts both); the conf runs trewrite setting
#                         one request header; measured once the first request answers 200
#
# Output: a table on stdout, bench/results.json, bench/results.svg, bench/results.md.
#
# Environment (all optional):
#   BENCH_RUNS=5 BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_CONNECTIONS=50 BENCH_ROUTES=10000
#   BENCH_PROXY_CPU=0 BENCH_LOAD_CPU=1 BENCH_OUT=bench
#   BENCH_MAX_OTHER=15 BENCH_RETRIES=3 BENCH_QUIET_WAIT=60
#                                on a shared machine: before each run wait up to QUIET_WAIT s
#                                until other processes use < MAX_OTHER % of a core; a run during
#                                which they used more is discarded and repeated (RETRIES per
#                                row); the "other load" column shows what remained
#   BENCH_ONLY="nginx portico"   run only these rows (ids as in ROWS below; "scale" for the
#                                10 000-route part); the results files are still written
#   BENCH_PERF=1                 also record a `perf` CPU profile of Portico (no plugin row)
#                                and print its top functions (needs perf)
#   BENCH_PORTICO=PATH           use this Portico binary instead of building ./cmd/portico
#   BENCH_KEEP=1                 keep the work directory (configs, logs, wrk output)
#
# Adding a row: write one function row_<id> that starts the proxy (start_bg), calls
# `enlist <id> "<label>" <url> <pid>` (or `skip_row <id> "<label>" "<why>"`) and appends
# `stop_pid <pid>` to FINISH; then add <id> to ROWS. Rows are measured interleaved (see
# enlist), so every proxy stays up, idle on the proxy CPU, until all rounds are done.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

RUNS=${BENCH_RUNS:-5}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-50}
ROUTES=${BENCH_ROUTES:-10000}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
OUT=${BENCH_OUT:-$ROOT/bench}
ONLY=${BENCH_ONLY:-}
MAX_OTHER=${BENCH_MAX_OTHER:-15}     # % of a core other processes may use during a run
RETRIES=${BENCH_RETRIES:-3}          # disturbed runs repeated per row, at most
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}   # s to wait for a quiet machine before a run, at most
ADMIN_KEY="bench-admin-key-$RANDOM$RANDOM"

# The order rows are run and shown in. "direct" is the ceiling: wrk straight to the upstream.
ROWS=(
  direct
  nginx
  haproxy
  caddy
  portico
  portico_limit_count_prometheus # APISIX's benchmark-2 plugins
  portico_client_control         # the hook's plugin without the hook (the wasm row's baseline)
  portico_wasm_pre_function      # a wasm _meta.pre_function hook on a no-op plugin
  portico_ext_plugin_pre_req     # ext-plugin-pre-req to the real Go plugin runner
  scale                          # Portico with $ROUTES routes (several rows + metrics)
)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- environment, deps, builds

if [ "$(nproc)" -lt 2 ]; then
  log "warning: only $(nproc) CPU; proxy, upstream and wrk all share CPU 0"
  PROXY_CPU=0 LOAD_CPU=0
fi

# shellcheck disable=SC2086 # a list of package names
bash "$ROOT/scripts/deps.sh" ${BENCH_PACKAGES:-wrk nginx-light haproxy caddy}
for b in wrk nginx haproxy caddy taskset curl; do
  command -v "$b" >/dev/null || die "$b not found after installing dependencies"
done

LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
if awk -v l="${LOAD_START%% *}" 'BEGIN{exit !(l > 0.5)}'; then
  log "warning: load average is $LOAD_START before starting; other work on this machine skews the numbers"
fi

WORK=$(mktemp -d /tmp/portico-bench.XXXXXX)
BIN=$WORK/bin
mkdir -p "$BIN" "$OUT"
log "work directory $WORK"
log "building portico and the helpers"
if [ -n "${BENCH_PORTICO:-}" ]; then
  PORTICO=$(realpath "$BENCH_PORTICO") # a prebuilt binary
else
  go build -o "$ROOT/bin/portico" ./cmd/portico
  PORTICO=$ROOT/bin/portico
fi
for h in upstream admin chart; do
  go build -o "$BIN/$h" "./scripts/bench/$h"
done

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [ -n "${BENCH_KEEP:-}" ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- process and port helpers

USED_PORTS=" "
# free_port VAR: a port on 127.0.0.1 nothing listens on (below the ephemeral range, so wrk's
# and the proxies' outgoing connections cannot take it).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12768))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      printf -v "$1" '%s' "$p"
      return
    fi
  done
}

wait_port() { # wait_port PORT [SECONDS]
  local i
  for ((i = 0; i < ${2:-15} * 20; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_bg NAME CMD...: runs CMD in the background (output in $WORK/NAME.log); sets PID.
start_bg() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# tree PID: PID and its children (nginx's master and worker); bash builtins only, so that
# sampling under load costs no forks.
tree() {
  local f kids
  TREE=("$1")
  for f in /proc/"$1"/task/*/children; do
    [ -r "$f" ] || continue
    read -r -a kids <"$f" 2>/dev/null || true
    TREE+=("${kids[@]}")
  done
}

rss_kb() { # summed VmRSS of PID and its children, in KiB
  local p k v _ sum=0
  tree "$1"
  for p in "${TREE[@]}"; do
    while read -r k v _; do
      [ "$k" = VmRSS: ] && { sum=$((sum + v)); break; }
    done <"/proc/$p/status" 2>/dev/null || true
  done
  echo "$sum"
}

cpu_ticks() { # summed utime+stime of PID and its children, in clock ticks
  local p line f sum=0
  tree "$1"
  for p in "${TREE[@]}"; do
    read -r line <"/proc/$p/stat" 2>/dev/null || continue
    read -r -a f <<<"${line##*) }"
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
HZ=$(getconf CLK_TCK)

# busy_ticks: user+nice+system ticks of all CPUs together (/proc/stat), for the "other load"
# estimate: what the machine ran besides the proxy, the upstream and wrk.
busy_ticks() {
  local c u n s rest
  read -r c u n s rest </proc/stat
  echo $((u + n + s))
}

# child_ticks VAR: CPU time of the children this shell has waited for (wrk), in ticks. `times`
# must run in this shell (not in $(...)), so it writes to a file.
child_ticks() {
  times >"$WORK/times"
  printf -v "$1" '%s' "$(awk -v hz="$HZ" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] }
    printf "%d\n", t * hz }' "$WORK/times")"
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# wrk_ms FILE PCT: a latency percentile from wrk --latency output, in ms.
wrk_ms() {
  awk -v pct="$2%" '$1 == pct {
    v = $2; m = 1
    if (v ~ /us$/) { m = 0.001; sub(/us$/, "", v) }
    else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /m$/) { m = 60000; sub(/m$/, "", v) }
    else if (v ~ /s$/) { m = 1000; sub(/s$/, "", v) }
    printf "%.3f\n", v * m }' "$1"
}

# wait_quiet: before a run, wait (up to QUIET_WAIT s) until the rest of the machine uses less
# than MAX_OTHER % of a core, sampled over 1 s while the proxy is idle.
wait_quiet() {
  local b0 b1 busy waited=0
  while :; do
    b0=$(busy_ticks)
    sleep 1
    b1=$(busy_ticks)
    busy=$(((b1 - b0) * 100 / HZ))
    [ "$busy" -gt "$MAX_OTHER" ] || return 0
    [ "$waited" -gt 0 ] || log "  waiting for a quiet machine (others use $busy % of a core)"
    waited=$((waited + 1))
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      log "  still busy after ${QUIET_WAIT}s ($busy %); running anyway"
      return 0
    fi
  done
}

# ---------------------------------------------------------------- measuring

ROWS_TSV=$WORK/rows.tsv
SCALE_TSV=$WORK/scale.tsv
: >"$ROWS_TSV"
: >"$SCALE_TSV"

# check_url URL: one request must answer 200 with the upstream's 1 KiB body.
check_url() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$1" || true)
  [ "$got" = "200 1024" ] || { log "check $1: got '$got', want '200 1024'"; return 1; }
}

# Rows are measured interleaved: every proxy is started (and left idle) first, then each
# round runs every row once, in ROWS order, $RUNS rounds. A shared VM's speed drifts by ±10 %
# over minutes; run one after another, rows would see different machines, while interleaved
# each round sees them all on about the same one (and the chart's ratios are the medians of
# the per-round ratios).
#
# enlist ID LABEL URL PID: a row to measure; PID is the proxy (its children count too) for
# RSS and CPU. A row whose URL does not answer 200 with 1 KiB is recorded as skipped.
MEASURED=()
declare -A M_LABEL M_URL M_PID M_RPS M_P50 M_P99 M_CPU M_OTHER M_ERRS M_DISC M_RETRIES M_RSS_REST
enlist() {
  local id=$1
  check_url "$3" || { skip_row "$id" "$2" "failed: $3 did not answer 200 with 1 KiB"; return 0; }
  MEASURED+=("$id")
  M_LABEL[$id]=$2 M_URL[$id]=$3 M_PID[$id]=$4
  M_RPS[$id]="" M_P50[$id]="" M_P99[$id]="" M_CPU[$id]="" M_OTHER[$id]=""
  M_ERRS[$id]=0 M_DISC[$id]=0 M_RETRIES[$id]=$RETRIES
  M_RSS_REST[$id]=$(rss_kb "$4")
  : >"$WORK/$id.rss"
}

# run_once ID ROUND: a ${WARMUP}s warm-up, then one ${DURATION}s wrk run of the row; a run
# disturbed by other processes is discarded and repeated (RETRIES per row).
run_once() {
  local id=$1 round=$2 url=${M_URL[$1]} pid=${M_PID[$1]} f o sampler
  local t0 t1 b0 b1 u0 u1 w0 w1 e0 e1 el rps
  while :; do
    f=$WORK/$id.wrk.$round
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >>"$WORK/$id.warmup"
    wait_quiet
    (while :; do rss_kb "$pid"; sleep 0.25; done) >>"$WORK/$id.rss" 2>/dev/null &
    sampler=$!
    PIDS+=("$sampler")
    t0=$(cpu_ticks "$pid") u0=$(cpu_ticks "$UP_PID") b0=$(busy_ticks)
    child_ticks w0
    e0=$EPOCHREALTIME
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$f"
    e1=$EPOCHREALTIME
    b1=$(busy_ticks) t1=$(cpu_ticks "$pid") u1=$(cpu_ticks "$UP_PID")
    child_ticks w1
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    [ "$pid" != "$UP_PID" ] || u1=$u0 # the direct row: the upstream is the "proxy"
    el=$(awk -v a="$e0" -v b="$e1" 'BEGIN{print b - a}') # wrk's real run time, s
    # the sampler's own forks count as other load; they are few (4 a second)
    o=$(awk -v d="$((b1 - b0 - (t1 - t0) - (u1 - u0) - (w1 - w0)))" -v hz="$HZ" -v s="$el" 'BEGIN{v = 100 * d / hz / s; printf "%.0f", v < 0 ? 0 : v}')
    rps=$(awk '/^Requests\/sec:/{print $2}' "$f")
    if [ "$o" -gt "$MAX_OTHER" ] && [ "${M_RETRIES[$id]}" -gt 0 ]; then
      M_RETRIES[$id]=$((M_RETRIES[$id] - 1)) M_DISC[$id]=$((M_DISC[$id] + 1))
      log "  ${M_LABEL[$id]}: run discarded: other processes used $o % of a core meanwhile ($rps req/s)"
      continue
    fi
    break
  done
  M_RPS[$id]+=" $rps"
  M_P50[$id]+=" $(wrk_ms "$f" 50)"
  M_P99[$id]+=" $(wrk_ms "$f" 99)"
  M_CPU[$id]+=" $(awk -v d="$((t1 - t0))" -v hz="$HZ" -v s="$el" 'BEGIN{printf "%.0f", 100 * d / hz / s}')"
  M_OTHER[$id]+=" $o"
  M_ERRS[$id]=$((M_ERRS[$id] + $(awk '/Non-2xx or 3xx responses:/{n += $NF} /Socket errors:/{gsub(/,/, ""); n += $4 + $6 + $8 + $10} END{print n + 0}' "$f")))
  local a=(${M_P50[$id]}) b=(${M_P99[$id]}) c=(${M_CPU[$id]})
  log "  ${M_LABEL[$id]}: $rps req/s, p50 ${a[-1]} ms, p99 ${b[-1]} ms, proxy CPU ${c[-1]} %, other load ≈$o % of a core"
}

# report ID: the row's medians into rows.tsv.
report() {
  local id=$1 rss_peak note=""
  # shellcheck disable=SC2086 # space-separated numbers
  rss_peak=$(sort -n "$WORK/$id.rss" | tail -1)
  [ "${M_ERRS[$id]}" -eq 0 ] || log "  warning: ${M_LABEL[$id]}: ${M_ERRS[$id]} non-2xx responses or socket errors"
  [ "${M_DISC[$id]}" -eq 0 ] || note="${M_DISC[$id]} disturbed runs discarded and repeated"
  # shellcheck disable=SC2086 # space-separated numbers
  printf '%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "${M_LABEL[$id]}" \
    "$(median ${M_RPS[$id]})" "$(median ${M_P50[$id]})" "$(median ${M_P99[$id]})" \
    "${M_RSS_REST[$id]}" "${rss_peak:-0}" "$(median ${M_CPU[$id]})" "${M_ERRS[$id]}" \
    "$(echo ${M_RPS[$id]} | tr ' ' ,)" "$note" "$(median ${M_OTHER[$id]})" >>"$ROWS_TSV"
}

# FINISH: commands run after the rounds, in order (a row's checks, extra metrics, stopping).
FINISH=()

skip_row() { # skip_row ID LABEL WHY
  log "SKIPPED $2: $3"
  printf '%s\tskipped\t%s\t0\t0\t0\t0\t0\t0\t0\t\t%s\t0\n' "$1" "$2" "$3" >>"$ROWS_TSV"
}

scale() { # scale KEY VALUE UNIT DESCRIPTION
  log "  $4: $2 $3"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$SCALE_TSV"
}

# up_or_skip ID LABEL PORT PID: waits for the proxy to listen; otherwise shows its log, records
# the row as skipped, stops it and fails.
up_or_skip() {
  wait_port "$3" && return 0
  tail -5 "$WORK/$1.log" >&2 || true
  skip_row "$1" "$2" "failed to start (see its log)"
  stop_pid "$4"
  return 1
}

# ---------------------------------------------------------------- upstream

free_port UP_PORT
start_bg upstream taskset -c "$LOAD_CPU" "$BIN/upstream" -listen "127.0.0.1:$UP_PORT" -size 1024
UP_PID=$PID
wait_port "$UP_PORT" || die "upstream did not start"
UP=127.0.0.1:$UP_PORT

# ---------------------------------------------------------------- Portico helpers

# start_portico NAME DATA_DIR [PROXY_PORT ADMIN_PORT]: writes $WORK/NAME.yaml (plus the YAML in
# $PORTICO_EXTRA_YAML, if set), starts Portico on the proxy CPU with GOMAXPROCS=1 and waits for
# "portico started". Sets PID, PPORT, APORT, MPORT (metrics), ADMIN (base URL), PCFG.
start_portico() {
  local name=$1 data=$2 i
  PPORT=${3:-}
  APORT=${4:-}
  [ -n "$PPORT" ] || free_port PPORT
  [ -n "$APORT" ] || free_port APORT
  free_port MPORT # not the defaults (9091, 7085): the other rows' Porticos hold them
  free_port SPORT
  PCFG=$WORK/$name.yaml
  cat >"$PCFG" <<EOF
proxy:
  listen: 127.0.0.1:$PPORT
admin:
  listen: 127.0.0.1:$APORT
  keys:
    - {name: bench, key: "$ADMIN_KEY", role: admin}
metrics:
  listen: 127.0.0.1:$MPORT
status:
  listen: 127.0.0.1:$SPORT
data_dir: $data
log:
  level: ${PORTICO_LOG_LEVEL:-info}
${PORTICO_EXTRA_YAML:-}
EOF
  start_bg "$name" taskset -c "$PROXY_CPU" env GOMAXPROCS=1 "$PORTICO" run -c "$PCFG"
  for ((i = 0; i < 1200; i++)); do
    grep -q 'msg="portico started"' "$WORK/$name.log" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; die "portico ($name) exited"; }
    sleep 0.05
  done
  grep -q 'msg="portico started"' "$WORK/$name.log" || die "portico ($name) did not start"
  ADMIN=http://127.0.0.1:$APORT
}

# admin_put PATH JSON: PUT to Portico's Admin API; prints the error body and fails on non-2xx.
admin_put() {
  local code
  code=$(curl -s -o "$WORK/admin.out" -w '%{http_code}' -X PUT "$ADMIN$1" \
    -H "X-API-KEY: $ADMIN_KEY" -H 'Content-Type: application/json' -d "$2")
  [[ $code == 2* ]] || { ADMIN_ERR="$code $(cat "$WORK/admin.out")"; return 1; }
}

# portico_startup KEY LABEL URL: restarts Portico on its config 3 times and records the
# median time to "portico started" and to the first 200 from URL.
portico_startup() {
  local key=$1 label=$2 url=$3 i out s=() f=()
  for i in 1 2 3; do
    out=$("$BIN/admin" startup -url "$url" -- taskset -c "$PROXY_CPU" env GOMAXPROCS=1 "$PORTICO" run -c "$PCFG")
    s+=("$(sed -n 's/^started_ms=//p' <<<"$out")")
    f+=("$(sed -n 's/^first_200_ms=//p' <<<"$out")")
  done
  scale "${key}_started_ms" "$(median "${s[@]}")" ms "start-up, $label: exec to \"portico started\" (median of 3)"
  scale "${key}_first_200_ms" "$(median "${f[@]}")" ms "start-up, $label: exec to first 200 (median of 3)"
}

# ---------------------------------------------------------------- rows

row_direct() {
  enlist direct "upstream direct (no proxy)" "http://$UP/" "$UP_PID"
}

row_nginx() {
  local port d=$WORK/nginx
  free_port port
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  keepalive_requests 1000000;
  upstream backend {
    server $UP;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  start_bg nginx taskset -c "$PROXY_CPU" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
  local pid=$PID
  up_or_skip nginx "nginx" "$port" "$pid" || return 0
  enlist nginx "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||'), 1 worker, upstream keepalive" "http://127.0.0.1:$port/" "$pid"
  FINISH+=("stop_pid $pid")
}

row_haproxy() {
  local port
  free_port port
  cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$port
  default_backend be
backend be
  server s1 $UP
EOF
  start_bg haproxy taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg"
  local pid=$PID
  up_or_skip haproxy "HAProxy" "$port" "$pid" || return 0
  enlist haproxy "HAProxy $(haproxy -v | awk 'NR==1{print $3}' | sed 's/-.*//'), nbthread 1, http-reuse always" "http://127.0.0.1:$port/" "$pid"
  FINISH+=("stop_pid $pid")
}

row_caddy() {
  local port d=$WORK/caddy
  free_port port
  mkdir -p "$d"
  cat >"$d/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://127.0.0.1:$port {
  reverse_proxy $UP
}
EOF
  start_bg caddy taskset -c "$PROXY_CPU" env GOMAXPROCS=1 HOME="$d" XDG_DATA_HOME="$d" XDG_CONFIG_HOME="$d" \
    caddy run --config "$d/Caddyfile" --adapter caddyfile
  local pid=$PID
  up_or_skip caddy "Caddy" "$port" "$pid" || return 0
  enlist caddy "Caddy $(caddy version | awk '{print $1}'), reverse_proxy, GOMAXPROCS=1" "http://127.0.0.1:$port/" "$pid"
  FINISH+=("stop_pid $pid")
}

# portico_row ID LABEL PLUGINS_JSON [SETUP [METRIC]]: Portico with one route "/*" to the
# upstream and the given plugins; skipped with a note when the Admin API refuses the route
# (plugin not built yet). SETUP, a function, runs once Portico is up and before the route is
# written (it sets ADMIN_ERR and fails to skip the row). The row is measured once the route
# answers 200 (up to 30 s: an ext-plugin runner may still be starting). METRIC: a Prometheus
# series (name, or name{labels} as exposed) whose total is logged after the runs, with its
# count per request sent (warm-up and discarded runs included), to show the plugin really ran.
portico_row() {
  local id=$1 label=$2 plugins=$3 setup=${4:-} metric=${5:-} i
  start_portico "$id" "$WORK/data-$id"
  local pid=$PID url=http://127.0.0.1:$PPORT/bench
  if [ -n "$setup" ] && ! "$setup"; then
    skip_row "$id" "$label" "setup failed: $ADMIN_ERR"
    stop_pid "$pid"
    return 0
  fi
  if ! admin_put /apisix/admin/routes/1 "{\"uri\":\"/*\",\"plugins\":$plugins,\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"$UP\":1}}}"; then
    skip_row "$id" "$label" "not built yet (Admin API: $ADMIN_ERR)"
    stop_pid "$pid"
    return 0
  fi
  for ((i = 0; i < 300; i++)); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; then
      [ "$i" -eq 0 ] || log "$label: first 200 after $((i / 10)).$((i % 10)) s"
      break
    fi
    sleep 0.1
  done
  enlist "$id" "$label" "$url" "$pid"
  FINISH+=("portico_finish $id $pid $PPORT $MPORT $APORT $PCFG $metric")
}

# portico_finish ID PID PPORT MPORT APORT PCFG [METRIC]: after the rounds, a Portico row's
# plugin metric, profile and (the no-plugin row) 1-route scale baselines; stops it.
portico_finish() {
  local id=$1 pid=$2 metric=${7:-}
  PPORT=$3 MPORT=$4 ADMIN=http://127.0.0.1:$5 PCFG=$6
  if [ -n "$metric" ]; then
    local n sent
    n=$(curl -s "http://127.0.0.1:$MPORT/apisix/prometheus/metrics" |
      awk -v m="$metric" '$1 == m || index($1, m "{") == 1 {n += $NF} END {printf "%.0f\n", n}')
    sent=$(cat "$WORK/$id.warmup" "$WORK/$id".wrk.* 2>/dev/null | awk '/ requests in /{n += $1} END {print n + 0}')
    log "  $metric: $n, $(awk -v n="$n" -v s="$sent" 'BEGIN{printf "%.2f", s ? n / s : 0}') per request ($sent sent by wrk)"
    [ "$n" -gt 0 ] || log "  warning: $metric is 0: the plugin did not run"
  fi
  if [ "$id" = portico ] && [ -n "${BENCH_PERF:-}" ]; then
    portico_perf "$pid" "http://127.0.0.1:$PPORT/bench"
  fi
  if [ "$id" = portico ]; then
    # The 1-route baselines for the scale metrics.
    admin_put /apisix/admin/upstreams/bench "{\"type\":\"roundrobin\",\"nodes\":{\"$UP\":1}}" || die "$ADMIN_ERR"
    portico_propagation one_route "1 route"
    stop_pid "$pid"
    portico_startup one_route "1 route stored" "http://127.0.0.1:$PPORT/bench"
    return 0
  fi
  stop_pid "$pid"
}

row_portico() {
  portico_row portico "Portico, 1 route, no plugin" '{}'
}

# limit-count + prometheus (APISIX's benchmark-2 configuration), a limit never reached.
row_portico_limit_count_prometheus() {
  portico_row portico_limit_count_prometheus "Portico + limit-count + prometheus" \
    '{"limit-count":{"count":2000000000,"time_window":60,"key":"remote_addr","rejected_code":503},"prometheus":{}}'
}

# A wasm `_meta.pre_function` hook (ABI portico_hook_v1, wasmhost/README.md) on client-control,
# whose empty conf does nothing: the difference to the no-plugin row is the hook (per call: an
# instance from the pool, get_var route_id, set_header X-Route-Id, the call's deadline) plus
# running a one-plugin chain. plugins/chain.go runs a plugin's hook before each request phase
# (rewrite, access, before_proxy, header_filter, log), whether or not the plugin has that
# phase, so the hook runs several times per request; portico_row logs how many. The module is
# the committed testdata/wasm/header.wasm (source: header.wat), uploaded via the Admin API.
WASM_HOOK=$ROOT/testdata/wasm/header.wasm
upload_wasm_hook() {
  admin_put /apisix/admin/wasm_modules/header "{\"desc\":\"bench: X-Route-Id from route_id\",\"wasm\":\"$(base64 -w0 "$WASM_HOOK")\"}"
}
# The wasm row's plugin without its hook: the two rows differ by the hook alone.
row_portico_client_control() {
  portico_row portico_client_control "Portico + client-control (no-op conf, no hook)" '{"client-control":{}}'
}
row_portico_wasm_pre_function() {
  portico_row portico_wasm_pre_function "Portico + wasm pre_function hook" \
    '{"client-control":{"_meta":{"pre_function":"header"}}}' upload_wasm_hook \
    'portico_wasm_hook_calls_total{module="header",result="ok"}'
}

# ext-plugin-pre-req to the real Go plugin runner (testdata/extrunner: apisix-go-plugin-runner
# v0.5.0 with the interop tests' plugins; its own go.mod), which Portico starts from
# ext_plugin.cmd as APISIX does: a child on the proxy CPU (taskset is inherited) with
# GOMAXPROCS=1, talking over a unix socket on kept connections. The conf runs trewrite (a
# cheap plugin that passes the request on) setting one request header. Portico's own
# share of the added latency (without the runner) is BenchmarkOwnShareGoRunner in
# extplugin/bench_test.go.
row_portico_ext_plugin_pre_req() {
  local id=portico_ext_plugin_pre_req label="Portico + ext-plugin-pre-req, Go runner"
  log "building the Go plugin runner (testdata/extrunner)"
  if ! (cd "$ROOT/testdata/extrunner" && GOWORK=off go build -o "$BIN/extrunner" .) >"$WORK/extrunner-build.log" 2>&1; then
    tail -5 "$WORK/extrunner-build.log" >&2
    skip_row "$id" "$label" "go build testdata/extrunner failed"
    return 0
  fi
  PORTICO_EXTRA_YAML="ext_plugin:
  cmd: [\"$BIN/extrunner\", \"run\"]" portico_row "$id" "$label" \
    '{"ext-plugin-pre-req":{"conf":[{"name":"trewrite","value":"{\"set_headers\":{\"X-Gw\":\"1\"}}"}]}}' \
    "" portico_ext_plugin_rpc_seconds_count
}

# portico_propagation KEY LABEL: time from an Admin API write to the proxy serving it.
portico_propagation() {
  local out
  out=$("$BIN/admin" propagate -admin "$ADMIN" -key "$ADMIN_KEY" -proxy "http://127.0.0.1:$PPORT" -n 20)
  scale "${1}_write_to_served_ms" "$(sed -n 's/^median_ms=//p' <<<"$out")" ms "admin write to served, $2 (median of 20)"
  scale "${1}_write_to_served_max_ms" "$(sed -n 's/^max_ms=//p' <<<"$out")" ms "admin write to served, $2 (max of 20)"
}

# snapshot_stats LOG MIN_ROUTES: how long Portico's snapshot rebuilds took once the router held
# at least MIN_ROUTES routes (its debug line "snapshot installed ... took=").
snapshot_stats() {
  local took n
  took=$(grep 'msg="snapshot installed"' "$1" | awk -v min="$2" '{
      r = 0; t = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^routes=/) { r = substr($i, 8) + 0 }
        if ($i ~ /^took=/) { t = substr($i, 6) }
      }
      if (r < min || t == "") next
      m = 1
      if (t ~ /µs$/) { m = 0.001; sub(/µs$/, "", t) }
      else if (t ~ /us$/) { m = 0.001; sub(/us$/, "", t) }
      else if (t ~ /ns$/) { m = 0.000001; sub(/ns$/, "", t) }
      else if (t ~ /ms$/) { sub(/ms$/, "", t) }
      else if (t ~ /s$/) { m = 1000; sub(/s$/, "", t) }
      printf "%.2f\n", t * m }')
  n=$(grep -c 'msg="snapshot installed"' "$1" || true)
  scale snapshot_rebuilds "$n" "" "snapshot rebuilds in total (seeding + propagation writes)"
  [ -n "$took" ] || return 0
  # shellcheck disable=SC2086 # one number a line
  scale snapshot_rebuild_ms "$(median $took)" ms "snapshot rebuild with ≥ $2 routes (median, from Portico's debug log)"
}

# portico_perf PID URL: a perf CPU profile of Portico under the same load (BENCH_PERF=1).
portico_perf() {
  command -v perf >/dev/null || { log "perf not found; no profile"; return 0; }
  log "perf: profiling Portico for ${DURATION}s"
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" "$2" >/dev/null &
  local w=$!
  sleep 1
  perf record -q -F 999 -g -p "$1" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 || true
  wait "$w" || true
  perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -40 >"$OUT/portico-perf.txt" || true
  perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -60 >"$OUT/portico-perf-children.txt" || true
  log "perf: top self time (bench/portico-perf.txt):"
  head -25 "$OUT/portico-perf.txt" >&2 || true
}

# The scale part: Portico with $ROUTES routes (half static /svcN/items, half parameterised
# /svcN/items/:id, all on upstream "bench"), created through the Admin API.
row_scale() {
  local data=$WORK/data-scale out
  PORTICO_LOG_LEVEL=debug start_portico scale "$data" # debug: "snapshot installed ... took="
  local pid=$PID
  scale scale_rss_empty_kb "$(rss_kb "$pid")" KiB "RSS at rest, no routes"
  log "seeding $ROUTES routes through the Admin API (4 concurrent writers)"
  out=$("$BIN/admin" seed -admin "$ADMIN" -key "$ADMIN_KEY" -upstream "$UP" -n "$ROUTES" -conc 4)
  scale seed_seconds "$(sed -n 's/^seconds=//p' <<<"$out")" s "create $ROUTES routes via the Admin API"
  scale seed_rate "$(sed -n 's/^rate=//p' <<<"$out")" "routes/s" "Admin API create rate, whole run"
  scale seed_first_tenth_seconds "$(sed -n 's/^first_tenth_seconds=//p' <<<"$out")" s "time for the first 10 % of the routes"
  scale seed_last_tenth_seconds "$(sed -n 's/^last_tenth_seconds=//p' <<<"$out")" s "time for the last 10 % of the routes"
  scale scale_rss_seeded_kb "$(rss_kb "$pid")" KiB "RSS right after seeding $ROUTES routes"
  portico_propagation scale "$ROUTES routes"
  snapshot_stats "$WORK/scale.log" "$((ROUTES * 9 / 10))"
  # Portico returns the replaced snapshots' memory 3 s after the last rebuild
  sleep 5
  scale scale_rss_rest_kb "$(rss_kb "$pid")" KiB "RSS at rest, $ROUTES routes (5 s after the last admin write)"
  local last=$((ROUTES / 2 - 1)) mid=$((ROUTES / 4))
  enlist scale_static "Portico, $ROUTES routes, static /svc$last/items" "http://127.0.0.1:$PPORT/svc$last/items" "$pid"
  enlist scale_param "Portico, $ROUTES routes, param /svc$mid/items/:id" "http://127.0.0.1:$PPORT/svc$mid/items/42" "$pid"
  FINISH+=("scale_finish $pid $PPORT $PCFG /svc$last/items")
}

scale_finish() { # scale_finish PID PPORT PCFG PATH
  scale scale_rss_after_kb "$(rss_kb "$1")" KiB "RSS at rest, $ROUTES routes, after the runs"
  stop_pid "$1"
  PPORT=$2 PCFG=$3
  portico_startup scale "$ROUTES routes stored" "http://127.0.0.1:$PPORT$4"
}

# ---------------------------------------------------------------- run

START=$(date +%s)
for row in "${ROWS[@]}"; do
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $row "* ]]; then
    continue
  fi
  "row_$row"
done

for ((round = 1; round <= RUNS; round++)); do
  log "round $round of $RUNS: ${#MEASURED[@]} rows, ${WARMUP}s warm-up + ${DURATION}s each"
  for id in "${MEASURED[@]}"; do
    run_once "$id" "$round"
  done
done
for id in "${MEASURED[@]}"; do
  report "$id"
done
for f in "${FINISH[@]}"; do
  $f
done

# ---------------------------------------------------------------- report

META=$WORK/meta.tsv
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  printf 'cores\t%s\n' "$(nproc)"
  printf 'kernel\t%s\n' "$(uname -sr)"
  printf 'go\t%s\n' "$(go env GOVERSION)"
  printf 'portico\t%s\n' "$("$PORTICO" version 2>/dev/null | awk '{print $2}') $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)$([ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo '-dirty')"
  printf 'wrk\t%s\n' "wrk -t1 -c$CONNS -d${DURATION}s --latency, ${WARMUP}s warm-up, median of $RUNS runs"
  printf 'pinning\t%s\n' "proxy on CPU $PROXY_CPU; upstream and wrk on CPU $LOAD_CPU"
  printf 'upstream\t%s\n' "scripts/bench/upstream (Go, minimal HTTP/1.1 server), 1 KiB body, keep-alive"
  printf 'loadavg\t%s\n' "1/5/15-min load $LOAD_START before, $(cut -d" " -f1-3 /proc/loadavg) after"
  printf 'seconds\t%s\n' "$(($(date +%s) - START))"
} >"$META"

"$BIN/chart" -rows "$ROWS_TSV" -scale "$SCALE_TSV" -meta "$META" \
  -json "$OUT/results.json" -svg "$OUT/results.svg" -md "$OUT/results.md"
log "wrote $OUT/results.json, $OUT/results.svg, $OUT/results.md in $(($(date +%s) - START)) s"
