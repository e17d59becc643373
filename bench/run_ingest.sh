#!/usr/bin/env bash
# Ingest benchmark: 64 keep-alive connections post ~1 KB Chinese suggestions to minyid's
# web channel (file sink and HTTP sink on, journal durable), once with synchronous=FULL
# and once with NORMAL, then the same load against nginx answering `return 201` (the
# local ceiling). Prints one line per run and the ratios. Usage: bench/run_ingest.sh [SECONDS]
# DEDUP=true|false (default false: the skeleton's numbers) switches duplicate/cluster detection;
# DEDUP=compare runs off and on alternately ROUNDS times (default 3) and prints the slowdowns.
# SENDERS=per-message|unique (default per-message): see minyi-ingest-load --help.
# HTTP_MODE=structured|binary|batch (default structured, the sink's default): the HTTP sink's mode.
# LOADGEN_THREADS=N (default 1): the load generator's event-loop threads (64: one per
# connection, as the generator was until session 8).
# Each minyid run also prints its CPU time per stored suggestion, in all and per thread
# (from /proc, sampled just before and after the load): on a VM whose speed drifts this
# says more than the rate alone.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${CONNECTIONS:-64}
MINYI_WITH_BENCH_TOOLS=1 scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DMINYI_BUILD_TESTS=OFF -DMINYI_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
CSV=${CSV:-../shared/data/teddy2020c/stream_all_attachments.csv}
work=$(mktemp -d /tmp/minyi-bench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; if [[ -f $work/nginx.pid ]]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx: the downstream for the HTTP sink, and the ceiling for the same load.
NGINX_PORT=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 201 '{"id":"x"}'; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work/nginx"

# CPU time (user+system, clock ticks) of each of PID's threads, one "name ticks" per line.
thread_ticks() { for t in /proc/"$1"/task/*; do echo "$(cat "$t/comm" 2>/dev/null) $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"; done; }
# minyid's CPU per stored suggestion over the load, per thread name and in all.
cpu_report() {  # BEFORE AFTER SUGGESTIONS
  python3 - "$@" <<'PY'
import collections, os, sys
def ticks(path):
    c = collections.Counter()
    for line in open(path):
        name, _, v = line.rstrip('\n').rpartition(' ')
        if v.isdigit(): c[name] += int(v)
    return c
a, b, n = ticks(sys.argv[1]), ticks(sys.argv[2]), int(sys.argv[3])
us = 1e6 / os.sysconf('SC_CLK_TCK') / max(n, 1)
per = {k: (b[k] - a[k]) * us for k in b if b[k] > a[k]}
print(f"  minyid CPU per suggestion: {sum(per.values()):.0f} us (" +
      ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])) + ")")
PY
}

# One minyid run: prints the load generator's line, minyid's CPU per suggestion and the
# journal's counts.
run_minyid() {  # MODE DEDUP
  local mode=$1 dedup=$2 state port pid line
  state="$work/state-$mode-$dedup-$RANDOM"
  port=$(free_port)
  cat >"$state.yaml" <<CONF
minyi:
  state_dir: $state
  plugin_path: [$(pwd)/build-bench/plugins]
  public: {listen: 127.0.0.1:$port}
  log: {level: warn}
  journal: {synchronous: $mode}
dedup: {enabled: $dedup}
channels:
  - {name: portal, plugin: web}
sinks:
  - {name: archive, plugin: file, path: $state/out/events.ndjson}
  - {name: cases, plugin: http, url: "http://127.0.0.1:$NGINX_PORT/intake", mode: ${HTTP_MODE:-structured}}
CONF
  ./build-bench/minyid --config "$state.yaml" 2>"$state.log" &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; python3 -c 'import time; time.sleep(0.1)'; done
  thread_ticks $pid >"$state.cpu0"
  line=$(./build-bench/bench/minyi-ingest-load --port "$port" --connections "$CONNS" --threads "${LOADGEN_THREADS:-1}" --duration "$DURATION" \
         --csv "$CSV" --senders "${SENDERS:-per-message}" \
         --label "minyid synchronous=$mode dedup=$dedup senders=${SENDERS:-per-message} http_sink=${HTTP_MODE:-structured}")
  thread_ticks $pid >"$state.cpu1"
  kill -TERM $pid
  wait $pid
  echo "$line"
  # Over the load only: start-up and the drain after it are outside the two samples (the
  # sinks' backlog, if any, is not counted; the suggestions are those stored by the end).
  cpu_report "$state.cpu0" "$state.cpu1" "$(sqlite3 "$state/journal.db" 'SELECT COUNT(*) FROM suggestions')"
  echo "  journal: $(sqlite3 "$state/journal.db" 'SELECT COUNT(*) FROM suggestions') suggestions; sink cursors: $(sqlite3 "$state/journal.db" "SELECT group_concat(sink || '=' || seq, ' ') FROM sink_cursors")"
  rm -rf "$state"
}
rate() { sed -E -n 's/.* rate=([0-9]+).*/\1/p' <<<"$1" | head -1; }
ceiling() {
  ./build-bench/bench/minyi-ingest-load --port "$NGINX_PORT" --connections "$CONNS" --threads "${LOADGEN_THREADS:-1}" --duration "$DURATION" \
    --csv "$CSV" --label "nginx return 201"
}

if [[ ${DEDUP:-false} == compare ]]; then
  # Dedup off and on, alternately, ROUNDS times per synchronous mode: this VM's speed
  # drifts over minutes, so pairs run back to back compare better than separate runs.
  ROUNDS=${ROUNDS:-3}
  for mode in FULL NORMAL; do
    slow=()
    for r in $(seq "$ROUNDS"); do
      off=$(run_minyid "$mode" false); echo "$off"
      on=$(run_minyid "$mode" true); echo "$on"
      slow+=("$(python3 -c "import sys; print(f'{1 - float(sys.argv[2]) / float(sys.argv[1]):.3f}')" "$(rate "$off")" "$(rate "$on")")")
      echo "  round $r: dedup on is $(python3 -c "import sys; print(f'{float(sys.argv[1]):.1%}')" "${slow[-1]}") slower"
    done
    python3 - "$mode" "${slow[@]}" <<'PY'
import statistics, sys
mode, xs = sys.argv[1], [float(x) for x in sys.argv[2:]]
print(f"{mode}: dedup on slower by {', '.join(f'{x:.0%}' for x in xs)} (median {statistics.median(xs):.0%})")
PY
  done
  ceiling
  exit 0
fi

results=()
for mode in FULL NORMAL; do
  out=$(run_minyid "$mode" "${DEDUP:-false}")
  echo "$out"
  results+=("$out")
done
top=$(ceiling)
echo "$top"
full=$(rate "${results[0]}"); normal=$(rate "${results[1]}"); top=$(rate "$top")
python3 - "$full" "$normal" "$top" <<'PY'
import sys
full, normal, top = map(float, sys.argv[1:])
print(f"FULL/NORMAL throughput: {full / normal:.2f}   minyid FULL vs nginx: {full / top:.2%}   NORMAL vs nginx: {normal / top:.2%}")
PY
