#!/usr/bin/env bash
# Runs everything CI runs: formatting, lints (warnings are errors), and the whole test suite.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs from a target folder outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hansa/target}"
export CARGO_TERM_COLOR=never
mkdir -p "$CARGO_TARGET_DIR"

# The TLS test makes its certificate with the openssl command, the devnet test runs the
# devnet's printed commands, which use curl, and the browser test drives headless Chromium
# (Debian's package, about 16 s to install); each is installed here if a machine lacks it.
missing=""
for tool in openssl curl chromium; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
fi

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
