#!/usr/bin/env bash
# The data pump's benchmark (scripts/bench.sh pump). In one run, rounds
# taking turns so that each sees the same machine:
#   ingest   `daffron-bridge ingest` of BENCH_PAYMENTS payments (default
#            100,000) into a fresh state file: rows/s;
#   bare     examples/bare_post: POSTs the request bodies a sweep sends
#            (printed by `sweep --dry-run`), one after another on one
#            keep-alive connection, to a fresh sandbox process: payments/s;
#   sweep    `daffron-bridge sweep` of the same outbox to a fresh sandbox
#            process: payments/s, and its time over the bare loop's.
# Every round's sweep is checked: every payment posted, the sandbox holding
# each exactly once. Targets: ingest >= 200,000 rows/s; sweep >= 5,000
# payments/s and at most 2x the bare loop.
#
# BENCH_BASE=PATH also times another build of daffron-bridge (say, the
# previous commit's, built into another target dir) in the same rounds, its
# ingest and sweep next to this build's, for a before/after in one run.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_PAYMENTS:-100000}
RUNS=${BENCH_RUNS:-3}
D=bench-data/pump
BIN=target/release/daffron-bridge
BASE=${BENCH_BASE:-}

cargo build --release --quiet --bin daffron-bridge --example gen_bif --example gen_exports --example bare_post
mkdir -p "$D"
if [ ! -f "$D/payments.csv" ] || [ "$(cat "$D/.payments" 2>/dev/null)" != "$N" ]; then
  echo "bench: generating $N payments over the accounts of a 2,000-invoice BIF" >&2
  target/release/examples/gen_bif --invoices 2000 --seed 7 -o "$D/2661_11262026.BIF"
  target/release/examples/gen_exports --bif "$D/2661_11262026.BIF" --payments "$N" -o "$D/payments.csv"
  echo "$N" >"$D/.payments"
fi
cat "$D/payments.csv" >/dev/null

config() { # URL -> a biller configuration whose payments endpoint is URL
  cat <<TOML
[biller]
bid = 2661
name = "Lowell Light & Power"
guid = "3F358D04-4273-4551-BB14-B9F719EC0A61"
features = ["scheduled_payments", "autopay_grouping"]

[advanced_settings]
11 = "$1/tbx-daily/services/CB"
12 = "InvoiceCloud"
13 = { env = "BENCH_PUMP_PASSWORD" }
35 = "2"
64 = "0(WEB)|2(CSRWEB)|8(POS)"
65 = "0(WEB)|2(CSRWEB)|8(POS)"
131 = '{"Daffron":{"DataPumpConfigs":{"SkipDonationTypes":true,"UsePaymentGuidAsTransactionId":true}}}'

[pump]
batch_size = 100
TOML
}
export BENCH_PUMP_PASSWORD=bench

SBX_PID="" URL=""
start_sandbox() { # sets SBX_PID and URL; a fresh sandbox in its own process
  rm -f "$D/sandbox.out"
  "$BIN" sandbox --listen 127.0.0.1:0 --seed "$D/2661_11262026.BIF" >"$D/sandbox.out" 2>"$D/sandbox.err" &
  SBX_PID=$!
  URL=""
  for _ in $(seq 200); do
    URL=$(sed -n 's/^listening on //p' "$D/sandbox.out" 2>/dev/null | head -1)
    if [ -n "$URL" ]; then return; fi
    sleep 0.05
  done
  echo "bench: the sandbox did not start: $(cat "$D/sandbox.err")" >&2
  exit 1
}
stop_sandbox() {
  if [ -n "$SBX_PID" ]; then kill "$SBX_PID" 2>/dev/null || true; wait "$SBX_PID" 2>/dev/null || true; fi
  SBX_PID=""
}
trap stop_sandbox EXIT
now() { date +%s.%N; }
fresh() { rm -f "$1" "$1-wal" "$1-shm"; }

config http://127.0.0.1:9 >"$D/bench.toml"
# The bodies a sweep sends, for the bare loop (a dry run: nothing is sent).
fresh "$D/base.sqlite"
"$BIN" --config "$D/bench.toml" --state "$D/base.sqlite" ingest "$D/payments.csv" >/dev/null
"$BIN" --config "$D/bench.toml" --state "$D/base.sqlite" sweep --dry-run >"$D/bodies.xml" 2>/dev/null
posted_expected=$("$BIN" --config "$D/bench.toml" --state "$D/base.sqlite" outbox list --status pending --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')

ingest_best="" sweep_best="" bare_best="" ratios=() base_ratios=()
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
for round in $(seq "$RUNS"); do
  # ingest into a fresh state file
  fresh "$D/ingest.sqlite"
  t0=$(now); "$BIN" --config "$D/bench.toml" --state "$D/ingest.sqlite" ingest "$D/payments.csv" >/dev/null; t1=$(now)
  ti=$(echo "$t1 - $t0" | bc -l)
  # the bare loop against a fresh sandbox
  start_sandbox
  read -r calls tb <<<"$(target/release/examples/bare_post "$D/bodies.xml" "$URL/tbx-daily/services/CB")"
  stop_sandbox
  # the sweep against a fresh sandbox
  start_sandbox
  config "$URL" >"$D/run.toml"
  fresh "$D/sweep.sqlite"; cp "$D/ingest.sqlite" "$D/sweep.sqlite"
  t0=$(now); "$BIN" --config "$D/run.toml" --state "$D/sweep.sqlite" sweep --format json >"$D/sweep.json"; t1=$(now)
  ts=$(echo "$t1 - $t0" | bc -l)
  # every payment posted, each exactly once in the sandbox
  python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$URL/_sandbox/state" >"$D/sandbox-state.json"
  stop_sandbox
  python3 - "$D/sweep.json" "$D/sandbox-state.json" "$posted_expected" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1])); state = json.load(open(sys.argv[2])); want = int(sys.argv[3])
posted = summary["routes"][0]["posted"]
txns = [p["transaction_id"] for a in state["accounts"].values() for p in a["payments"]]
assert posted == want, f"posted {posted}, expected {want}"
assert len(txns) == want and len(set(txns)) == want, f"sandbox holds {len(txns)} payments, {len(set(txns))} distinct; expected {want}"
PY
  ingest_best=$(min "$ingest_best" "$ti"); sweep_best=$(min "$sweep_best" "$ts"); bare_best=$(min "$bare_best" "$tb")
  ratios+=("$(echo "scale=2; $ts / $tb" | bc -l)")
  printf 'round %d: ingest %.2fs  bare %.2fs  sweep %.2fs  sweep/bare %s\n' "$round" "$ti" "$tb" "$ts" "${ratios[-1]}" >&2
  if [ -n "$BASE" ]; then
    fresh "$D/base-ingest.sqlite"
    t0=$(now); "$BASE" --config "$D/bench.toml" --state "$D/base-ingest.sqlite" ingest "$D/payments.csv" >/dev/null; t1=$(now)
    bi=$(echo "$t1 - $t0" | bc -l)
    start_sandbox
    config "$URL" >"$D/run.toml"
    fresh "$D/base-sweep.sqlite"; cp "$D/base-ingest.sqlite" "$D/base-sweep.sqlite"
    t0=$(now); "$BASE" --config "$D/run.toml" --state "$D/base-sweep.sqlite" sweep --format json >/dev/null; t1=$(now)
    stop_sandbox
    bs=$(echo "$t1 - $t0" | bc -l)
    base_ingest_best=$(min "${base_ingest_best:-}" "$bi"); base_sweep_best=$(min "${base_sweep_best:-}" "$bs")
    base_ratios+=("$(echo "scale=2; $bs / $tb" | bc -l)")
    printf '         base: ingest %.2fs  sweep %.2fs  sweep/bare %s\n' "$bi" "$bs" "${base_ratios[-1]}" >&2
  fi
done
rate() { echo "scale=0; $1 / $2" | bc -l; }
echo "pump: $N payments ($posted_expected to post; the others are Donations, skipped by rule D11), batches of 100, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "ingest:          ${ingest_best}s  $(rate "$N" "$ingest_best") rows/s          (target >= 200000; best of $RUNS)"
echo "bare POST loop:  ${bare_best}s  $(rate "$posted_expected" "$bare_best") payments/s  ($calls calls)"
echo "sweep:           ${sweep_best}s  $(rate "$posted_expected" "$sweep_best") payments/s  (target >= 5000)"
echo "sweep/bare:      $(echo "scale=2; $sweep_best / $bare_best" | bc -l) on best times; per round (same conditions): ${ratios[*]}  (target <= 2)"
if [ -n "$BASE" ]; then
  echo "base ($BASE): ingest ${base_ingest_best}s  $(rate "$N" "$base_ingest_best") rows/s; sweep ${base_sweep_best}s; sweep/bare per round: ${base_ratios[*]}"
fi
