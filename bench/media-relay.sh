#!/usr/bin/env bash
# Media relay benchmark: switchboard's relay (crates/media MediaDriver) and,
# when it can be installed, rtpengine in userspace mode (--table=-1), driven
# by the same generator (crates/media/examples/rtp_load.rs) on loopback.
#
# For each relay and for plain RTP and SRTP <-> RTP:
#   - flood: K calls sending as fast as the generator can; relayed packets
#     per second and per relay CPU-second (the relay's own threads, /proc);
#   - search: G.711 calls (two legs, 20 ms packets of 172 bytes, 50 pps each
#     way) stepped up until the relay uses 80 % of a core, loses 0.1 %, or
#     no longer relays as fast as the generator sends (a growing backlog).
# Both relays get one worker thread (--shards 1 / --num-threads=1) so that
# the figures are per core. The generator shares the machine's cores.
#
# Usage: bench/media-relay.sh            (about 10 minutes)
# Knobs (environment): DURATION (s per step, 10), WARMUP (s, 2),
#   FLOOD_CALLS (500: spread over many sockets, since rtpengine discards a
#   stream's packets once its socket queue passes 50), SEARCH (call counts),
#   RTPENGINE=0 to skip rtpengine, IO=uring (or auto) for the driver's
#   io_uring backend (media::MediaIo; epoll by default), NICE (niceness of the runs, 0),
#   RT_PRIO (SCHED_FIFO priority for the relays and the 50-pps search runs,
#   e.g. 5, so that other work on the machine does not queue the packets;
#   flood runs never get it), REPEAT (runs per search step, 1; the step
#   is judged by the run of median relay CPU, as runs on a shared VM vary
#   by up to 30 %).
# The generator reads its sockets in rounds 1 ms apart (--gen-coalesce-us),
# which adds up to 1 ms to every latency figure, for both relays alike: on
# loopback the sender pays for waking the receiver, and a relay's sends to
# a NIC would not.
# Writes a markdown report to stdout and bench/results/media-relay-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
FLOOD_CALLS=${FLOOD_CALLS:-500}
SEARCH=${SEARCH:-200,400,600,800,1000,1200,1400,1600,1800,2000}
RTPENGINE=${RTPENGINE:-1}
NICE=${NICE:-0}
NG_PORT=${NG_PORT:-22230}
RT_PRIO=${RT_PRIO:-}
REPEAT=${REPEAT:-1}
IO=${IO:-epoll}
rt=()
[ -n "$RT_PRIO" ] && rt=(chrt -f "$RT_PRIO")

mkdir -p bench/results
report="bench/results/media-relay-$(date -u +%Y%m%d-%H%M%S).md"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p media --example rtp_load -j2 >&2
gen=(nice -n "$NICE" target/release/examples/rtp_load --duration "$DURATION" --warmup "$WARMUP")

rtpe_pid=""
cleanup() { [ -n "$rtpe_pid" ] && kill "$rtpe_pid" 2>/dev/null || true; }
trap cleanup EXIT

start_rtpengine() {
    if ! command -v rtpengine >/dev/null; then
        echo "installing rtpengine-daemon" >&2
        (apt-get install -y --no-install-recommends rtpengine-daemon \
            || { apt-get update -qq && apt-get install -y --no-install-recommends rtpengine-daemon; }) >&2 \
            || return 1
    fi
    "${rt[@]}" nice -n "$NICE" rtpengine --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" \
        --listen-cli="127.0.0.1:$((NG_PORT + 1))" \
        --foreground --log-stderr --log-level=2 --num-threads=1 \
        --port-min=20000 --port-max=29999 --delete-delay=0 --timeout=60 \
        2>"${TMPDIR:-/tmp}/rtpengine-bench.log" &
    rtpe_pid=$!
    sleep 1
    kill -0 "$rtpe_pid" 2>/dev/null
}

run_suite() { # target args...
    "${gen[@]}" "$@" --flood --calls "$FLOOD_CALLS"
    "${gen[@]}" "$@" --flood --calls "$FLOOD_CALLS" --srtp
    "${rt[@]}" "${gen[@]}" "$@" --search "$SEARCH" --repeat "$REPEAT"
    "${rt[@]}" "${gen[@]}" "$@" --search "$SEARCH" --srtp --repeat "$REPEAT"
}

# Everything below goes to the terminal and to the report; no subshell, so
# the EXIT trap sees rtpengine's pid.
exec > >(tee "$report")

{
    echo "# Media relay benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) cores, $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo "?")$(git diff --quiet HEAD -- crates/media 2>/dev/null || echo " + uncommitted crates/media changes")"
    echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg) (cores shared with other builds)"
    echo "- generator: crates/media/examples/rtp_load.rs, ${DURATION} s per step after ${WARMUP} s warm-up, niceness ${NICE}, SCHED_FIFO ${RT_PRIO:-no}"
    echo "- command: IO=$IO NICE=$NICE RT_PRIO=$RT_PRIO DURATION=$DURATION WARMUP=$WARMUP FLOOD_CALLS=$FLOOD_CALLS SEARCH=$SEARCH REPEAT=$REPEAT bench/media-relay.sh"
    echo "- columns: relayed pps counts packets that came back through the relay in the window;"
    echo "  'per relay CPU-s' divides them by the relay threads' CPU time (utime+stime, /proc),"
    echo "  i.e. packets per second per fully used core; latency is one-way send->receive through"
    echo "  the relay; added jitter is |D| of RFC 3550 between consecutive packets of a stream."
    echo "  A search step holds with < 80 % relay CPU, < 0.1 % loss, >= 97 % of the intended"
    echo "  load sent and >= 97 % of it relayed within the window."
    echo
    echo "## switchboard (MediaDriver, 1 shard)"
    run_suite --target switchboard --shards 1 --io "$IO"
    echo
    echo "Flood without GSO (one sendmsg per packet, as with many distinct destinations):"
    "${gen[@]}" --target switchboard --shards 1 --io "$IO" --flood --calls "$FLOOD_CALLS" --no-gso
    echo
    if [ "$RTPENGINE" = 1 ]; then
        if start_rtpengine; then
            echo "## rtpengine $(rtpengine --version 2>&1 | awk '{print $2}') userspace (--table=-1, --num-threads=1)"
            run_suite --target rtpengine --ng "127.0.0.1:$NG_PORT" --pid "$rtpe_pid"
        else
            echo "## rtpengine: could not be started (see ${TMPDIR:-/tmp}/rtpengine-bench.log)"
        fi
    fi
    echo
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "report: $report" >&2
