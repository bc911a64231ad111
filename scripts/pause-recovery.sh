#!/usr/bin/env bash
# How soon finality comes back after a partition heals, on a real 4-validator devnet: two
# validators are paused (SIGSTOP) for PAUSE_S seconds, which stops finality (no quorum), then
# resumed (SIGCONT); the script prints the time from the resume to the first block finalized
# above the height reached before the pause. A measurement, not a test: run it on a quiet machine.
#
#   scripts/pause-recovery.sh [HANSA_BINARY] [ROUNDS]     (PAUSE_S=40 by default)
#
# The binary defaults to the debug build (`cargo build -p hansa-node`). Compare two binaries in
# the same minutes by running the script with each.
set -euo pipefail
hansa=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/hansa/target}/debug/hansa}
rounds=${2:-3}
pause_s=${PAUSE_S:-40}
dir=$(mktemp -d /tmp/hansa-pause-XXXX)
base=$((11000 + RANDOM % 200 * 10))
cleanup() {
  for pid in $(cat "$dir"/validator-*/pid 2>/dev/null); do kill -CONT "$pid" 2>/dev/null || true; done
  [ -n "${devnet:-}" ] && kill -TERM "$devnet" 2>/dev/null && wait "$devnet" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$hansa" devnet --dir "$dir" --validators 4 --api-port-base "$base" --p2p-port-base $((base + 5)) \
  > "$dir.out" 2>&1 &
devnet=$!
for _ in $(seq 1 240); do grep -q "^Try next" "$dir.out" 2>/dev/null && break; sleep 1; done
grep -q "^Try next" "$dir.out" || { cat "$dir.out"; echo "the devnet did not come up"; exit 1; }
height() { curl -sf "http://127.0.0.1:$base/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])'; }
for round in $(seq 1 "$rounds"); do
  sleep 5
  kill -STOP "$(cat "$dir/validator-2/pid")" "$(cat "$dir/validator-3/pid")"
  sleep 2
  stalled=$(height)
  sleep $((pause_s - 2))
  if [ "$(height)" != "$stalled" ]; then echo "round $round: finality did not stall"; fi
  kill -CONT "$(cat "$dir/validator-2/pid")" "$(cat "$dir/validator-3/pid")"
  resumed=$(date +%s%N)
  while [ "$(height)" -le "$stalled" ]; do sleep 0.05; done
  echo "round $round: paused ${pause_s} s at height $stalled; finality back $(( ($(date +%s%N) - resumed) / 1000000 )) ms after the resume"
done
rm -f "$dir.out"
