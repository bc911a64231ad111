#!/usr/bin/env bash
# Runs everything CI runs: formatting, lints (warnings are errors), and the whole test suite.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs from a target folder outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hansa/target}"
export CARGO_TERM_COLOR=never
mkdir -p "$CARGO_TARGET_DIR"

# The TLS test makes its certificate with the openssl command, and the devnet test runs the
# devnet's printed commands, which use curl; both are installed here if a machine lacks them.
missing=""
for tool in openssl curl; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq $missing
fi

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
