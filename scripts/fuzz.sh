#!/usr/bin/env bash
# A long fuzzing campaign: every property of tests/it/fuzz.rs with FUZZ_CASES cases each (20,000
# by default) in release mode, where `cargo test --test it fuzz::` runs 64. An argument narrows
# it to the properties whose names start with it, e.g. `scripts/fuzz.sh pack` for the pack
# reader's.
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES=${FUZZ_CASES:-20000} cargo test --release --test it -- "fuzz::${1:-}"
