#!/usr/bin/env bash
# A/B of minirelay's two I/O loops: epoll (switchboard's shard loop) vs
# io_uring, under rtp_load's static target. Run it on a quiet machine.
#
#   PAIRS=6 CALLS=1200 FLOOD_CALLS=500 bench/uring-ab/ab.sh
#
# Each round runs epoll then uring (the order swapped every other round):
# a paced run (CALLS G.711 calls, 50 pps each way, 2 s warm-up, 10 s
# measured) and a flood run (FLOOD_CALLS calls sending as fast as the
# generator can). Every run gets a fresh minirelay on a fresh base port.
# URING_ARGS passes extra options to the uring relay; EPOLL_ARGS to the
# epoll one. The default uring loop is the plain one (submit_and_wait(1):
# two io_uring_enter per wake-up, see src/main.rs); the tuned one is
#
#   URING_ARGS="--wait-sends --fixed-files" bench/uring-ab/ab.sh
#
# (add "--buffers 16384" against ENOBUFS in the flood runs).
#
# Loss: the relay learns where to send by latching, so each call's first
# carrier packet is dropped (its Teams side has not spoken yet). A run
# loses CALLS packets that way (about 0.08 % of a 1,200-call run); the
# relay's "no peer" counter, printed after each row, should equal CALLS.
set -euo pipefail

PAIRS=${PAIRS:-6}
CALLS=${CALLS:-1200}
FLOOD_CALLS=${FLOOD_CALLS:-500}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
URING_ARGS=${URING_ARGS:-}
EPOLL_ARGS=${EPOLL_ARGS:-}
EXP=$(cd "$(dirname "$0")" && pwd)
MAIN=$(cd "$EXP/../.." && pwd)
RELAY=$EXP/target/release/minirelay
LOAD=$MAIN/target/release/examples/rtp_load

mkdir -p "$MAIN/bench/results"
report="$MAIN/bench/results/uring-ab-$(date -u +%Y%m%d-%H%M%S).md"
exec > >(tee "$report")

(cd "$EXP" && cargo build --release -j2 >&2)
(cd "$MAIN" && cargo build --release -p media --example rtp_load -j2 >&2)
ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d)
RELAY_PID=
cleanup() {
    if [[ -n $RELAY_PID ]]; then kill "$RELAY_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Base ports cycle below the ephemeral range (where rtp_load's own
# sockets are), a run's 4 * calls ports apart. An io_uring relay's
# sockets are closed a little after it exits (the ring is torn down
# asynchronously), hence a fresh range each run.
LOW=10000
HIGH=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
SPAN=$((4 * (CALLS > FLOOD_CALLS ? CALLS : FLOOD_CALLS) + 4))
SLOTS=$(((HIGH - LOW) / SPAN))
if ((SLOTS < 2)); then echo "too many calls for ports $LOW-$HIGH" >&2; exit 1; fi
RUN=0

# run MODE KIND ROUND: one relay, one rtp_load run; appends a result line.
run() {
    local mode=$1 kind=$2 round=$3 calls=$CALLS flood=() extra base row
    if [[ $kind == flood ]]; then calls=$FLOOD_CALLS; flood=(--flood); fi
    extra=$EPOLL_ARGS
    if [[ $mode == uring ]]; then extra=$URING_ARGS; fi
    for _ in 1 2 3; do
        base=$((LOW + (RUN % SLOTS) * SPAN))
        RUN=$((RUN + 1))
        # shellcheck disable=SC2086 # extra holds several options
        "$RELAY" --mode "$mode" --base-port "$base" --calls "$calls" $extra 2>"$WORK/relay.log" &
        RELAY_PID=$!
        sleep 0.5
        if kill -0 "$RELAY_PID" 2>/dev/null; then break; fi
        wait "$RELAY_PID" || true
        RELAY_PID=
        echo "relay did not start on $base: $(cat "$WORK/relay.log")" >&2
    done
    if [[ -z $RELAY_PID ]]; then exit 1; fi
    (cd "$MAIN" && "$LOAD" --target static --base-port "$base" --pid "$RELAY_PID" \
        --calls "$calls" --duration "$DURATION" --warmup "$WARMUP" "${flood[@]}") >"$WORK/load.out"
    kill -INT "$RELAY_PID"
    wait "$RELAY_PID" || true
    RELAY_PID=
    row=$(grep '^| [0-9]' "$WORK/load.out" | tail -1)
    printf '%-5s %-5s round %d %s\n' "$mode" "$kind" "$round" "$row"
    printf '      relay: %s\n' "$(grep '^received' "$WORK/relay.log" | tail -1)"
    # calls | sent | relayed | loss | cpu % | pps per cpu-s | ...
    awk -F'|' -v m="$mode" -v k="$kind" -v r="$round" \
        '{ gsub(/ /, ""); print m, k, r, $6, $7 }' <<<"$row" >>"$WORK/results"
    sleep 1
}

echo "# minirelay A/B, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git -C "$MAIN" rev-parse --short HEAD)"
echo "command: PAIRS=$PAIRS CALLS=$CALLS FLOOD_CALLS=$FLOOD_CALLS URING_ARGS='$URING_ARGS' bench/uring-ab/ab.sh"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "minirelay A/B: $PAIRS rounds, $CALLS paced calls, $FLOOD_CALLS flood calls," \
    "uring args '$URING_ARGS', epoll args '$EPOLL_ARGS'"
echo "columns: | calls | sent pps | relayed pps | loss % | relay CPU % |" \
    "relayed pps per relay CPU-s | latency p50/p99/max ms | jitter p99 ms | generator CPU % |"
for ((round = 1; round <= PAIRS; round++)); do
    order=(epoll uring)
    if ((round % 2 == 0)); then order=(uring epoll); fi
    for kind in paced flood; do
        for mode in "${order[@]}"; do run "$mode" "$kind" "$round"; done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
    else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "## summary ($PAIRS rounds)"
for kind in paced flood; do
    for mode in epoll uring; do
        cpu=$(awk -v m="$mode" -v k="$kind" '$1 == m && $2 == k { print $4 }' "$WORK/results" | median)
        per=$(awk -v m="$mode" -v k="$kind" '$1 == m && $2 == k { print $5 }' "$WORK/results" | median)
        echo "$kind $mode: median relay CPU $cpu %, median relayed pps per relay CPU-s $per"
    done
    ratio=$(awk -v k="$kind" '$2 == k { per[$1, $3] = $5 }
        END { for (key in per) { split(key, p, SUBSEP);
              if (p[1] == "uring" && per["epoll", p[2]] > 0)
                  print per[key] / per["epoll", p[2]] } }' "$WORK/results" | median)
    echo "$kind: median per-round ratio uring/epoll of relayed pps per relay CPU-s: $ratio"
done
