#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; the targets default to all of them.
# The corpus of each target is kept in tests/fuzz/corpus/<target> (seeded
# with valid encodings by the `seeds` generator), crashes go to
# tests/fuzz/artifacts/<target>/. Prints per-target executions, speed and
# corpus size, and every crash file; exits non-zero if any target crashed.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$FUZZ_DIR"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hutong-fuzz-target}"

SECONDS_PER_TARGET="${1:-60}"
shift || true
# The decoders, the attestation protocol's frames and the host logic build
# without RocksDB (this directory); the node-level targets link the node,
# and so RocksDB (node/).
MAIN_TARGETS=(transactions consensus_wire consensus_core payload_proofs genesis text_inputs audit_proof txs_gossip snapshot_chunks)
NODE_TARGETS=(node_config rpc_bodies)
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=("${MAIN_TARGETS[@]}" "${NODE_TARGETS[@]}")
fi
node_wanted=false
for t in "${TARGETS[@]}"; do
  for n in "${NODE_TARGETS[@]}"; do
    [ "$t" = "$n" ] && node_wanted=true
  done
done
# The cargo-fuzz project a target belongs to.
project_of() {
  for n in "${NODE_TARGETS[@]}"; do
    if [ "$1" = "$n" ]; then
      echo "$FUZZ_DIR/node"
      return
    fi
  done
  echo "$FUZZ_DIR"
}

echo "== seeds"
nice -n 10 cargo run --quiet --release -p hutong-fuzz-support --bin seeds -- corpus

echo "== build"
nice -n 10 cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR"

if $node_wanted; then
  # hutong-node links RocksDB. Compiling it takes ~25 minutes on two
  # cores; when the main build (CARGO_TARGET_DIR of the workspace, default
  # /var/tmp/hutong-target) already compiled the same librocksdb-sys, link
  # that library instead. Set ROCKSDB_LIB_DIR yourself to choose another.
  if [ -z "${ROCKSDB_LIB_DIR:-}" ]; then
    lib=$(ls -t "${HUTONG_TARGET_DIR:-/var/tmp/hutong-target}"/*/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true)
    if [ -n "$lib" ]; then
      export ROCKSDB_LIB_DIR="$(dirname "$lib")" ROCKSDB_STATIC=1
      echo "== node targets: linking the RocksDB library in $ROCKSDB_LIB_DIR"
    else
      echo "== node targets: no RocksDB library built yet: compiling it (about 25 minutes, once)"
    fi
  fi
  nice -n 10 cargo run --quiet --release -p hutong-fuzz-support --features node --bin seeds -- corpus
  nice -n 10 cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR/node"
fi

LOGS="$FUZZ_DIR/artifacts/logs"
mkdir -p "$LOGS"
failed=()
printf '\n%-16s %12s %8s %8s %8s %10s  %s\n' target execs secs exec/s corpus bytes crash > "$LOGS/summary.txt"
for target in "${TARGETS[@]}"; do
  echo "== run $target for ${SECONDS_PER_TARGET}s"
  mkdir -p "corpus/$target"
  log="$LOGS/$target.log"
  start=$(date +%s)
  set +e
  nice -n 10 cargo +nightly fuzz run --fuzz-dir "$(project_of "$target")" "$target" "$FUZZ_DIR/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  files=$(find "corpus/$target" -type f | wc -l)
  bytes=$(du -sb "corpus/$target" | cut -f1)
  crash=$(grep -o 'Test unit written to [^ ]*' "$log" | sed 's/Test unit written to //' | tail -1 || true)
  if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
    failed+=("$target")
    crash="${crash:-exit code $rc, see $log}"
  fi
  printf '%-16s %12s %8s %8s %8s %10s  %s\n' "$target" "${execs:-?}" "$secs" "${speed:-?}" \
    "$files" "$bytes" "${crash:--}" | tee -a "$LOGS/summary.txt"
done

cat "$LOGS/summary.txt"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashed: ${failed[*]} (logs in $LOGS; reproduce with" \
    "cargo +nightly fuzz run --fuzz-dir $FUZZ_DIR <target> <crash-file>)"
  exit 1
fi
echo "no crashes"
