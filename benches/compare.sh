#!/usr/bin/env bash
# End-to-end comparison with libgearman through the same gearmand.
#
# Starts one gearmand on a free loopback port and measures, for echo jobs of
# PAYLOAD bytes (100), at 1 and at 64 jobs in flight:
#   - libgearman: our small C client (tasks batched C at a time) with
#     libgearman's C worker (one process),
#   - ours: the load generator's client and worker (one process) for each
#     adapter this build has; the worker on one connection, and at 64 in
#     flight also on WORKER_CONNECTIONS connections (it grabs on each, so
#     more of gearmand's threads serve it),
#   - ours, embedded: the same client and worker against our embedded server
#     (in the same process), for the same load,
# then prints a table of jobs/s (median of REPEAT runs) and the ratios to
# libgearman, and the client's memory per job in flight at MEMORY_JOBS jobs.
#
# Environment: JOBS (jobs per run at 64 in flight, 20000), JOBS_SERIAL (at 1
# in flight, 5000), REPEAT (3), PAYLOAD (100), MEMORY_JOBS (100000, 0 to
# skip), LEVELS (jobs in flight to measure, "1 64"), WORKER_CONNECTIONS (8),
# GEARMAND (/usr/sbin/gearmand), GEARMAND_THREADS (gearmand's default),
# LOADGEN (a load generator binary to measure instead of building this
# tree's, e.g. an older build to compare).
# Skips (exit 0) when gearmand or libgearman's headers are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-20000}
JOBS_SERIAL=${JOBS_SERIAL:-5000}
REPEAT=${REPEAT:-3}
PAYLOAD=${PAYLOAD:-100}
MEMORY_JOBS=${MEMORY_JOBS:-100000}
WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-8}
GEARMAND=${GEARMAND:-/usr/sbin/gearmand}
read -r -a LEVELS <<<"${LEVELS:-1 64}"

if [ ! -x "$GEARMAND" ] || [ ! -f /usr/include/libgearman-1.0/gearman.h ]; then
  echo "compare.sh: gearmand or libgearman's development files are not installed; skipping" >&2
  exit 0
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the C client and worker and the load generator..." >&2
cc -O2 -o "$work/c-client" benches/c/client.c -lgearman
cc -O2 -o "$work/c-worker" benches/c/worker.c -lgearman
if [ -n "${LOADGEN:-}" ]; then
  loadgen=$LOADGEN
else
  cargo build --release --quiet -p benches --bin loadgen
  target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  loadgen="$target_dir/release/loadgen"
fi
read -r -a adapters <<<"$("$loadgen" --adapters)"

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_gearmand() {
  local attempt port threads=()
  [ -n "${GEARMAND_THREADS:-}" ] && threads=(--threads="$GEARMAND_THREADS")
  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    port_is_free "$port" || continue
    "$GEARMAND" --listen=127.0.0.1 --port="$port" --log-file=none \
      --pid-file="$work/gearmand.pid" "${threads[@]}" &
    local pid=$!
    for _ in $(seq 1 50); do
      if ! port_is_free "$port"; then
        pids+=("$pid")
        SERVER="127.0.0.1:$port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "compare.sh: gearmand did not start" >&2
  exit 1
}

start_gearmand
gearmand_version=$("$GEARMAND" --version 2>&1 | awk '/gearmand/ {print $2; exit}')
GEARMAND_THREADS_TEXT="${GEARMAND_THREADS:-4 (default)} I/O threads"
echo "gearmand $gearmand_version on $SERVER" >&2

GEARMAND_PID=${pids[0]}
"$work/c-worker" --server "$SERVER" --function echo-c &
C_WORKER_PID=$!
pids+=("$C_WORKER_PID")

# User plus system CPU ticks (1/100 s) a process has used.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

declare -A results cpu gearmand_cpu p50 p99
record() { results["$1"]="${results["$1"]:-} $2"; }

# measure KEY JOBS OTHER_PID COMMAND...: runs one measurement and records its
# jobs/s, the CPU per job of the client and worker (the command's own cpu=
# figure, plus what OTHER_PID used meanwhile unless it is -), and gearmand's.
measure() {
  local key=$1 jobs=$2 other=$3 output g0 g1 o0=0 o1=0 own
  shift 3
  g0=$(ticks "$GEARMAND_PID")
  [ "$other" = - ] || o0=$(ticks "$other")
  if ! output=$("$@" 2>"$work/stderr"); then
    echo "compare.sh: failed: $* -> $output $(cat "$work/stderr")" >&2
    exit 1
  fi
  g1=$(ticks "$GEARMAND_PID")
  [ "$other" = - ] || o1=$(ticks "$other")
  echo "$output" >&2
  results["$key"]="${results["$key"]:-} $(echo "$output" | grep -Eo '[0-9]+ jobs/s' | awk '{print $1}')"
  p50["$key"]="${p50["$key"]:-} $(echo "$output" | grep -Eo 'p50=[0-9.]+' | cut -d= -f2)"
  p99["$key"]="${p99["$key"]:-} $(echo "$output" | grep -Eo 'p99=[0-9.]+' | cut -d= -f2)"
  own=$(echo "$output" | grep -Eo 'cpu=[0-9.]+' | cut -d= -f2)
  cpu["$key"]="${cpu["$key"]:-} $(awk -v own="${own:-0}" -v t=$((o1 - o0)) -v n="$jobs" \
    'BEGIN {printf "%.1f", own + t * 10000 / n}')"
  gearmand_cpu["$key"]="${gearmand_cpu["$key"]:-} $(awk -v t=$((g1 - g0)) -v n="$jobs" \
    'BEGIN {printf "%.1f", t * 10000 / n}')"
}

jobs_for() { if [ "$1" = 1 ]; then echo "$JOBS_SERIAL"; else echo "$JOBS"; fi; }

# Worker connection counts measured at a level: one, and at 64 in flight
# also WORKER_CONNECTIONS.
conns_for() { if [ "$1" = 1 ]; then echo 1; else echo "1 $WORKER_CONNECTIONS"; fi; }

for run in $(seq 1 "$REPEAT"); do
  echo "run $run of $REPEAT" >&2
  for level in "${LEVELS[@]}"; do
    jobs=$(jobs_for "$level")
    common=(--jobs "$jobs" --concurrency "$level" --payload "$PAYLOAD")
    measure "libgearman $level" "$jobs" "$C_WORKER_PID" \
      "$work/c-client" --server "$SERVER" --function echo-c "${common[@]}"
    for adapter in "${adapters[@]}"; do
      for conns in $(conns_for "$level"); do
        measure "$adapter $conns gearmand $level" "$jobs" - "$loadgen" --server "$SERVER" \
          --adapter "$adapter" --function "echo-$adapter-$conns" --connections "$conns" "${common[@]}"
        measure "$adapter $conns embedded $level" "$jobs" - "$loadgen" --adapter "$adapter" \
          --connections "$conns" "${common[@]}"
      done
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
spread() { tr ' ' '\n' | grep -v '^$' | sort -n | awk 'NR==1{min=$1} {max=$1} END {print min "-" max}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

echo
echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); gearmand $gearmand_version" \
  "($GEARMAND_THREADS_TEXT); $PAYLOAD-byte echo jobs; median of $REPEAT runs (range in brackets)"
echo
printf '| %-20s | %9s | %12s | %-24s | %13s | %-27s | %12s |\n' "client + worker" "in flight" \
  "worker conns" "jobs/s through gearmand" "vs libgearman" "jobs/s, our embedded server" "vs gearmand"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "----------------------" "-----------" "--------------" \
  "--------------------------" "---------------" "-----------------------------" "--------------"
for level in "${LEVELS[@]}"; do
  base=$(echo "${results["libgearman $level"]}" | median)
  printf '| %-20s | %9s | %12s | %-24s | %13s | %-27s | %12s |\n' "libgearman (C)" "$level" 1 \
    "$base [$(echo "${results["libgearman $level"]}" | spread)]" "1.00x" "-" "-"
  for adapter in "${adapters[@]}"; do
    for conns in $(conns_for "$level"); do
      theirs="${results["$adapter $conns gearmand $level"]}"
      ours="${results["$adapter $conns embedded $level"]}"
      through=$(echo "$theirs" | median)
      embedded=$(echo "$ours" | median)
      printf '| %-20s | %9s | %12s | %-24s | %13s | %-27s | %12s |\n' "ours ($adapter)" "$level" "$conns" \
        "$through [$(echo "$theirs" | spread)]" "$(ratio "$through" "$base")" \
        "$embedded [$(echo "$ours" | spread)]" "$(ratio "$embedded" "$through")"
    done
  done
done

echo
echo "CPU time per job in microseconds (user + system, median), a figure the machine's other load disturbs less:"
echo
printf '| %-20s | %9s | %12s | %-25s | %-19s | %-33s |\n' "client + worker" "in flight" "worker conns" \
  "client + worker, gearmand" "gearmand itself" "client + worker + embedded server"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------" "-----------" "--------------" \
  "---------------------------" "---------------------" "-----------------------------------"
for level in "${LEVELS[@]}"; do
  printf '| %-20s | %9s | %12s | %-25s | %-19s | %-33s |\n' "libgearman (C)" "$level" 1 \
    "$(echo "${cpu["libgearman $level"]}" | median)" \
    "$(echo "${gearmand_cpu["libgearman $level"]}" | median)" "-"
  for adapter in "${adapters[@]}"; do
    for conns in $(conns_for "$level"); do
      printf '| %-20s | %9s | %12s | %-25s | %-19s | %-33s |\n' "ours ($adapter)" "$level" "$conns" \
        "$(echo "${cpu["$adapter $conns gearmand $level"]}" | median)" \
        "$(echo "${gearmand_cpu["$adapter $conns gearmand $level"]}" | median)" \
        "$(echo "${cpu["$adapter $conns embedded $level"]}" | median)"
    done
  done
done

echo
echo "Latency per job in milliseconds, from submit to result as the client sees it (p50 / p99, medians):"
echo
printf '| %-20s | %9s | %12s | %-21s | %-27s |\n' "client + worker" "in flight" "worker conns" \
  "through gearmand" "through our embedded server"
printf '|%s|%s|%s|%s|%s|\n' "----------------------" "-----------" "--------------" \
  "-----------------------" "-----------------------------"
latency() { echo "$(echo "${p50["$1"]:-}" | median) / $(echo "${p99["$1"]:-}" | median)"; }
for level in "${LEVELS[@]}"; do
  printf '| %-20s | %9s | %12s | %-21s | %-27s |\n' "libgearman (C)" "$level" 1 \
    "$(latency "libgearman $level")" "-"
  for adapter in "${adapters[@]}"; do
    for conns in $(conns_for "$level"); do
      printf '| %-20s | %9s | %12s | %-21s | %-27s |\n' "ours ($adapter)" "$level" "$conns" \
        "$(latency "$adapter $conns gearmand $level")" "$(latency "$adapter $conns embedded $level")"
    done
  done
done

if [ "$MEMORY_JOBS" -gt 0 ]; then
  echo
  for adapter in "${adapters[@]}"; do
    "$loadgen" --server "$SERVER" --adapter "$adapter" --memory --concurrency "$MEMORY_JOBS" \
      --payload "$PAYLOAD" --function "hold-$adapter" 2>/dev/null || echo "memory run for $adapter failed"
  done
fi
