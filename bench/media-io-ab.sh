#!/usr/bin/env bash
# Interleaved A/B of the relay's two I/O backends (media::MediaIo): epoll
# and io_uring, the same driver and generator, runs taken in turn (the
# order swapped every other pair) since this VM's speed drifts.
#
# Usage: bench/media-io-ab.sh   (PAIRS=8 CALLS=1200 DURATION=10: ~4 min)
# Prints each run's row (rtp_load's columns) and the medians: relay CPU,
# relay + generator CPU (on loopback the sender's side pays for waking
# the receiver, which io_uring makes dearer), p50/p99 latency. Writes
# bench/results/media-io-ab-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-8}
CALLS=${CALLS:-1200}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
mkdir -p bench/results
report="bench/results/media-io-ab-$(date -u +%Y%m%d-%H%M%S).md"
exec > >(tee "$report")
cargo build --release -p media --example rtp_load -j2 >&2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

echo "# Relay I/O A/B, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git rev-parse --short HEAD)"
echo "command: PAIRS=$PAIRS CALLS=$CALLS DURATION=$DURATION bench/media-io-ab.sh;" \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| io | pair | calls | sent pps | relayed pps | loss % | relay CPU % | relayed pps per relay CPU-s | latency p50 / p99 / max ms | added jitter p99 ms | generator CPU % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
for ((pair = 1; pair <= PAIRS; pair++)); do
    order=(epoll uring)
    if ((pair % 2 == 0)); then order=(uring epoll); fi
    for io in "${order[@]}"; do
        row=$(target/release/examples/rtp_load --target switchboard --shards 1 --io "$io" \
            --calls "$CALLS" --duration "$DURATION" --warmup "$WARMUP" | grep '^| [0-9]' | tail -1)
        echo "| $io | $pair $row"
        echo "$io $row" >>"$rows"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
    else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
for io in epoll uring; do
    # fields after the io name: | calls | sent | relayed | loss | cpu | per | lat | jitter | gen |
    pick() { awk -v io="$io" -F'|' '$1 ~ "^"io" " { print '"$1"' }' "$rows" | median; }
    cpu=$(pick '$6')
    total=$(pick '$6 + $10')
    p50=$(pick '$8 + 0')
    p99=$(awk -v io="$io" -F'|' '$1 ~ "^"io" " { split($8, l, "/"); print l[2] + 0 }' "$rows" | median)
    loss=$(pick '$5')
    echo "- $io: median relay CPU $cpu %, relay + generator $total %, latency p50 $p50 ms, p99 $p99 ms, loss $loss %"
done
