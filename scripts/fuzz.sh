#!/usr/bin/env bash
# A long fuzzing campaign: every property of tests/fuzz.rs with FUZZ_CASES cases each (20,000
# by default) in release mode, where `cargo test --test fuzz` runs 64. Extra arguments go to
# `cargo test`, e.g. `scripts/fuzz.sh -- pack` for the pack reader's properties only.
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES=${FUZZ_CASES:-20000} cargo test --release --test fuzz "$@"
