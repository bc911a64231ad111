#!/usr/bin/env bash
# Runs N seeds (default 1,000) of every real-ledger simulation family in release mode on all
# cores, and prints one summary line per family; a failing seed is named with the command that
# replays it. Usage: scripts/sim-seeds.sh [N] [first seed] [families, comma-separated]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hansa/target}"
export HANSA_SIM_SEEDS="${1:-1000}"
export HANSA_SIM_SEED="${2:-1000}"
export HANSA_SIM_FAMILY="${3:-}"
cargo test --release --locked -p hansa-chain --test it seed_sweep -- --nocapture 2>&1 \
    | grep --line-buffered -E '^seed sweep|replay:|test result|panicked|simulation failed'
