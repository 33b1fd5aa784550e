#!/usr/bin/env bash
# Benchmarks, in two parts (both by default):
#
#   scripts/bench.sh validate   `validate` (release build) against `wc -l` on
#                               the same ~1 GB BIF, warm page cache, several
#                               rounds taking turns: the throughput ratio
#                               validate/wc, the same for --checksum, and the
#                               CPU time and peak RSS of one run of each.
#   scripts/bench.sh pump       the data pump: `ingest` of 100,000 payments,
#                               and a `sweep` of them against the sandbox in
#                               its own process on loopback, next to a bare
#                               loop that POSTs the same request bodies to
#                               the same kind of server (scripts/bench-pump.sh).
#
#   BENCH_BYTES=200000000 BENCH_RUNS=5 scripts/bench.sh validate
#   BENCH_PAYMENTS=100000 BENCH_RUNS=3 scripts/bench.sh pump
#
# Inputs are generated (examples/gen_bif.rs, examples/gen_exports.rs) into
# ./bench-data/ (gitignored) and reused while their parameters still match.
set -euo pipefail
cd "$(dirname "$0")/.."

part=${1:-all}
case "$part" in
  validate|pump|all) ;;
  *) echo "usage: scripts/bench.sh [validate|pump|all]" >&2; exit 2 ;;
esac
if [ "$part" = pump ]; then
  exec bash scripts/bench-pump.sh
fi

BYTES=${BENCH_BYTES:-1000000000}
RUNS=${BENCH_RUNS:-3}
FILE=bench-data/2661_11262026.BIF
CONFIG=samples/daffron-bridge.toml

if [ ! -x /usr/bin/time ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench: installing GNU time" >&2
  $sudo apt-get install -y -qq time >/dev/null
fi

cargo build --release --quiet --bin daffron-bridge --example gen_bif
BIN=target/release/daffron-bridge
GEN=target/release/examples/gen_bif

mkdir -p bench-data
stamp=bench-data/.size
if [ ! -f "$FILE" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$BYTES" ]; then
  echo "bench: generating $FILE (~$BYTES bytes)" >&2
  "$GEN" --bytes "$BYTES" --seed 1 -o "$FILE"
  echo "$BYTES" >"$stamp"
fi
size=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null   # warm the page cache

# Wall time in seconds of one run of "$@".
wall() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# The machine is shared and its speed drifts: the three commands take turns,
# RUNS rounds, so each sees the same conditions. Best time of each, and the
# median over the rounds of wc/validate within a round.
wc_s="" val_s="" sum_s="" pairs=()
for _ in $(seq "$RUNS"); do
  w=$(wall wc -l "$FILE")
  v=$(wall "$BIN" --config "$CONFIG" validate "$FILE")
  c=$(wall "$BIN" --config "$CONFIG" validate --checksum "$FILE")
  wc_s=$(min "$wc_s" "$w")
  val_s=$(min "$val_s" "$v")
  sum_s=$(min "$sum_s" "$c")
  pairs+=("$(echo "scale=3; $w / $v" | bc -l)")
done
median=$(printf '%s\n' "${pairs[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
"$BIN" --config "$CONFIG" validate "$FILE" | tail -1
# Peak RSS and CPU (user, sys) of one run.
usage() {
  /usr/bin/time -f "%M %U %S" "$@" 2>&1 >/dev/null | tail -1
}
read -r rss_kb val_user val_sys <<<"$(usage "$BIN" --config "$CONFIG" validate "$FILE")"
read -r sum_rss_kb sum_user sum_sys <<<"$(usage "$BIN" --config "$CONFIG" validate --checksum "$FILE")"
rss_mb=$((rss_kb / 1024))
sum_rss_mb=$((sum_rss_kb / 1024))

gbps() { echo "scale=2; $size / $1 / 1000000000" | bc -l; }
echo "file:      $FILE, $size bytes, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "wc -l:                 ${wc_s}s  ($(gbps "$wc_s") GB/s)"
echo "validate:              ${val_s}s  ($(gbps "$val_s") GB/s)  cpu ${val_user}s user ${val_sys}s sys"
echo "validate --checksum:   ${sum_s}s  ($(gbps "$sum_s") GB/s)  cpu ${sum_user}s user ${sum_sys}s sys"
echo "ratio validate/wc:            $(echo "scale=3; $wc_s / $val_s" | bc -l)  (target >= 0.35; best times)"
echo "  per round (same conditions): ${pairs[*]}; median $median"
echo "ratio validate --checksum/wc: $(echo "scale=3; $wc_s / $sum_s" | bc -l)"
echo "peak RSS: validate ${rss_mb} MB, --checksum ${sum_rss_mb} MB  (target < 256 MB)"

if [ "$part" = all ]; then
  echo
  bash scripts/bench-pump.sh
fi
