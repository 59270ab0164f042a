#!/usr/bin/env bash
# End-to-end throughput benchmark (needs root): iperf3 from an on-prem namespace to a VPC
# namespace through cgw, against a second cgw and against strongSwan. Prints Mbit/s and CPU.
# Usage: sudo bash benches/e2e.sh [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p cgw --bin cgw --example e2e_bench
exec target/release/examples/e2e_bench "$PWD/target/release/cgw" "${1:-5}"
