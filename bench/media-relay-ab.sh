#!/usr/bin/env bash
# A/B of the media relay between two commits, interleaved: on a shared VM
# whose speed drifts by up to 30 % within minutes (and by half between
# hours), only runs taken in turn, old then new, compare. Each pair runs
# the load generator (crates/media/examples/rtp_load.rs) built at each
# commit with the same paced G.711 calls against one relay shard; the
# report gives every run, each pair's ratio of relayed packets per relay
# CPU-second (new / old), and the medians.
#
# Usage: bench/media-relay-ab.sh OLD [NEW]   (NEW: the working tree)
# Knobs (environment): CALLS (800: under saturation on the 2-core VM, so
#   that CPU is not capped), PAIRS (6), DURATION (8 s), WARMUP (2 s),
#   FLOOD=1 (CALLS calls sending as fast as they can, instead of paced),
#   EXTRA (more rtp_load arguments, e.g. "--srtp").
# Builds each commit in a git worktree under ${TMPDIR:-/tmp} with this
# repository's target directory; writes bench/results/media-relay-ab-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."

old=${1:?usage: bench/media-relay-ab.sh OLD [NEW]}
new=${2:-}
CALLS=${CALLS:-800}
PAIRS=${PAIRS:-6}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
EXTRA=${EXTRA:-}
mode=(--search "$CALLS")
[ "${FLOOD:-0}" = 1 ] && mode=(--flood --calls "$CALLS")
target=$(pwd)/target
bins="${TMPDIR:-/tmp}/media-relay-ab.$$"
mkdir -p "$bins" bench/results
trap 'rm -rf "$bins"; git worktree prune' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build() { # label rev-or-empty
    local dir=.
    if [ -n "$2" ]; then
        dir="$bins/tree-$1"
        git worktree add --detach --force "$dir" "$2" >&2
    fi
    (cd "$dir" && CARGO_TARGET_DIR=$target cargo build --release -j2 -p media --example rtp_load >&2)
    cp "$target/release/examples/rtp_load" "$bins/rtp_load-$1"
    if [ -n "$2" ]; then git worktree remove --force "$dir" >&2; fi
}
build old "$old"
build new "$new"

report="bench/results/media-relay-ab-$(date -u +%Y%m%d-%H%M%S).md"
exec > >(tee "$report")
echo "# Media relay A/B, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- old: $(git rev-parse --short "$old"); new: ${new:-working tree at $(git rev-parse --short HEAD)}"
echo "- command: FLOOD=${FLOOD:-0} CALLS=$CALLS PAIRS=$PAIRS DURATION=$DURATION WARMUP=$WARMUP EXTRA='$EXTRA' bench/media-relay-ab.sh $*"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| pair | build | relay CPU % | relayed pps per relay CPU-s | latency p50 / p99 / max ms |"
echo "|---:|---|---:|---:|---|"
ratios=()
for pair in $(seq 1 "$PAIRS"); do
    declare -A per=()
    for build in old new; do
        # shellcheck disable=SC2086
        row=$("$bins/rtp_load-$build" --target switchboard --shards 1 "${mode[@]}" \
            --duration "$DURATION" --warmup "$WARMUP" $EXTRA | grep -E '^\| [0-9]' | tail -1)
        cpu=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$6); print $6}')
        pps=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$7); print $7}')
        latency=$(echo "$row" | awk -F'|' '{print $8}')
        per[$build]=$pps
        echo "| $pair | $build | $cpu | $pps |$latency|"
    done
    ratios+=("$(awk -v n="${per[new]}" -v o="${per[old]}" 'BEGIN { printf "%.3f", n / o }')")
done
echo
echo "new / old per pair: ${ratios[*]}"
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
    m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
    wins = 0; for (i = 1; i <= NR; i++) if (r[i] > 1) wins++
    printf "median ratio %.3f; new ahead in %d of %d pairs\n", m, wins, NR }'
echo
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "report: $report" >&2
