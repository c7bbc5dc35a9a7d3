#!/usr/bin/env bash
# SBC signalling load: calls per second and memory per call of
# `switchboard serve` as a B2BUA, with Kamailio (stateful proxy, tm + rr)
# run through the same steps for comparison.
#
#   SIPp UAC --udp--> switchboard 127.0.0.1:5060 --udp--> SIPp UAS 127.0.0.1:5090
#   SIPp UAC --udp--> kamailio    127.0.0.1:5062 --udp--> SIPp UAS 127.0.0.1:5090
#
# 1. CPS steps: bench/uac.xml, SIPp's built-in `uac` call (INVITE, 100,
#    180, 200, ACK, BYE, 200; no media, `-d 0`) with late provisional
#    responses tolerated, at increasing rates. Per step: offered and achieved
#    rate, failed calls, retransmissions, setup time (SIPp's response time
#    1: INVITE first sent -> 200 received) p50/p99/max, CPU of each side,
#    the machine's other load and kernel UDP receive-buffer drops. Then
#    the best passing rate again for 45 s on a fresh server: longer than
#    the 32 s finished transactions are kept, so state reaches steady size.
# 2. Memory per active call: 10,000 calls held open through switchboard
#    (the UAC stops at the first refused call); VmRSS before, when the last
#    call is answered, and after the INVITE transactions' 32 s RFC 6026
#    wait (Timer L/M) has passed.
# 3. A markdown report on stdout and in bench/results/sbc-load-<date>.md.
#
# The load generators share the machine's cores with the system under
# test, as in the Kamailio figures of /work/shared/BENCHMARKS.md.
#
# Usage: bench/sbc-load.sh [--quick] [--with-kamailio|--no-kamailio]
#                          [--rates "250 500 ..."] [--step-secs N]
#                          [--sustain-secs N] [--no-memory] [--no-build]
#                          [--keep-raw]
#   --quick          5 s steps, no sustained run, memory at 1,000 calls/s
#                    without the settle wait (about 2.5 minutes; a full run
#                    takes about 8)
#   --with-kamailio  apt-get install kamailio if it is missing (Debian)
#   --no-kamailio    skip Kamailio even if installed
#   --rates          offered rates in calls/s (default below)
#   --step-secs      seconds of load per step (default 15)
#   --sustain-secs   seconds of the confirmation run at the best rate
#                    (default 45, 0 skips it; --quick skips it)
#   --no-memory      skip the memory-per-call phase
#   --no-build       use the existing target/release/switchboard
#   --keep-raw       keep SIPp's CSV/log files (their path is printed)
# Environment: RUST_LOG for switchboard (default "warn": no per-call log);
# SBC_THREADS: `switchboard serve --threads` (default: one per core).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

RATES="250 500 1000 1500 1750 2000 2500 3000 4000 5000 6000"
STEP_SECS=15
SUSTAIN_SECS=45        # > 32 s: see confirm_best
QUICK=0
KAMAILIO=auto          # auto | install | no
MEMORY=1
BUILD=1
KEEP_RAW=0

SBC_PORT=5060          # fixed by examples/loopback.toml
UAS_PORT=5090          # fixed by examples/loopback.toml
KAM_PORT=5062          # fixed by bench/kamailio.cfg
UAC_BASE_PORT=5100     # one UAC port per step: no stray retransmission
                       # from a previous step lands in the next one

MEM_CALLS=10000
MEM_RATE=500
MEM_SETTLE=35          # > 64*T1 = 32 s: INVITE transactions gone
COLLAPSE_PCT=20        # stop a series after a step failing this many %
PASS_PCT=0.1           # "passes": failed < 0.1 % ...
PASS_ACHIEVED=0.95     # ... and >= 95 % of the offered rate achieved
RECV_TIMEOUT_MS=4000   # a call without its response for 4 s has failed

die() { echo "sbc-load: $*" >&2; exit 1; }
log() { echo "sbc-load: $*" >&2; }

COMMAND_LINE="bench/sbc-load.sh$(printf ' %q' "$@")"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --with-kamailio) KAMAILIO=install ;;
        --no-kamailio) KAMAILIO=no ;;
        --rates) shift; RATES=${1:?--rates needs a list} ;;
        --step-secs) shift; STEP_SECS=${1:?--step-secs needs a number} ;;
        --sustain-secs) shift; SUSTAIN_SECS=${1:?--sustain-secs needs a number} ;;
        --no-memory) MEMORY=0 ;;
        --no-build) BUILD=0 ;;
        --keep-raw) KEEP_RAW=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    # An explicit --step-secs wins over --quick's default.
    case " $COMMAND_LINE " in *" --step-secs "*) ;; *) STEP_SECS=5 ;; esac
    MEM_RATE=1000
    MEM_SETTLE=0
    case " $COMMAND_LINE " in *" --sustain-secs "*) ;; *) SUSTAIN_SECS=0 ;; esac
fi
[[ "$STEP_SECS" =~ ^[0-9]+$ ]] && [ "$STEP_SECS" -ge 3 ] || die "--step-secs must be >= 3"
[[ "$SUSTAIN_SECS" =~ ^[0-9]+$ ]] || die "--sustain-secs must be a number of seconds (0: skip)"
for rate in $RATES; do [[ "$rate" =~ ^[0-9]+$ ]] || die "bad rate '$rate'"; done

# ---------------------------------------------------------------- checks

command -v sipp >/dev/null || die "sipp not found: apt-get install sip-tester"
[ -f "$BENCH_DIR/uac.xml" ] || die "$BENCH_DIR/uac.xml missing"
command -v ss >/dev/null || die "ss not found: apt-get install iproute2"
command -v cargo >/dev/null || [ "$BUILD" = 0 ] || die "cargo not found"
if [ "$KAMAILIO" = install ] && ! command -v kamailio >/dev/null; then
    log "installing kamailio (apt-get)"
    apt-get install -y --no-install-recommends kamailio >&2 \
        || die "apt-get install kamailio failed"
fi
if [ "$KAMAILIO" != no ] && command -v kamailio >/dev/null; then
    RUN_KAMAILIO=1
else
    RUN_KAMAILIO=0
fi

port_free() { ! ss -Hlun "sport = :$1" | grep -q .; }
for port in "$SBC_PORT" "$UAS_PORT" "$KAM_PORT"; do
    port_free "$port" || die "UDP port $port is in use: $(ss -Hlunp "sport = :$port")"
done

# Every call anchors its media on the relay: two RTP/RTCP socket pairs per
# call (SIPp offers no rtcp-mux), so 10,000 calls hold 40,000 sockets.
# Root may raise the hard limit; others get what the hard limit allows.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

CLK_TCK=$(getconf CLK_TCK)
STAMP=$(date +%Y-%m-%d-%H%M)
RESULTS_DIR="$BENCH_DIR/results"
REPORT="$RESULTS_DIR/sbc-load-$STAMP.md"
RAW=$(mktemp -d "${TMPDIR:-/tmp}/sbc-load.XXXXXX")
mkdir -p "$RESULTS_DIR"

# ---------------------------------------------------------------- cleanup

PIDS=()
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ "$KEEP_RAW" = 1 ] || [ "$status" != 0 ]; then
        log "raw SIPp and server files kept in $RAW"
    else
        rm -rf "$RAW"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build

if [ "$BUILD" = 1 ]; then
    log "cargo build --release -p switchboard -j2"
    (cd "$ROOT" && cargo build --release -p switchboard -j2) >&2
fi
BIN_BUILT="${CARGO_TARGET_DIR:-$ROOT/target}/release/switchboard"
[ -x "$BIN_BUILT" ] || die "$BIN_BUILT missing (build failed?)"
# A private copy: other engineers may rebuild the workspace mid-run.
mkdir -p "$RAW/bin"
BIN="$RAW/bin/switchboard"
cp "$BIN_BUILT" "$BIN"

CONFIG="$RAW/loopback-bench.toml"
# examples/loopback.toml with the node and trunk limits far above the load.
sed -e 's/^max_concurrent_calls = .*/max_concurrent_calls = 1000000/' \
    -e 's/^max_calls_per_second = .*/max_calls_per_second = 1000000/' \
    "$ROOT/examples/loopback.toml" >"$CONFIG"
# Media: room for the memory phase's 10,000 calls (4 ports each), and no
# media timeout (SIPp's calls send no RTP; held calls must stay up).
cat >>"$CONFIG" <<'TOML'

[media]
first_port = 10000
last_port = 60999
timeout_secs = 3600
TOML
[ "$(grep -c '^max_concurrent_calls = 1000000$' "$CONFIG")" = 2 ] \
    && grep -q '^max_calls_per_second = 1000000$' "$CONFIG" \
    || die "examples/loopback.toml changed shape: cannot raise its limits"

# ---------------------------------------------------------------- helpers

# Waits until PID has bound UDP PORT; fails if PID exits first.
wait_bound() {
    local port=$1 pid=$2 what=$3 logfile=$4
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null \
            || die "$what exited at start; its log ($logfile):$(echo; tail -20 "$logfile")"
        port_free "$port" || return 0
        sleep 0.05
    done
    die "$what did not bind UDP $port within 10 s"
}

# CPU ticks (user + system) of PID and its direct children (Kamailio's
# workers are processes; switchboard's are threads, counted in the PID).
cpu_ticks() {
    local total=0 pid ticks
    for pid in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
        ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + ticks))
    done
    echo "$total"
}

# "busy total" jiffies of the whole machine.
machine_ticks() { awk '/^cpu /{ idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t - idle, t; exit }' /proc/stat; }

udp_rcvbuf_errors() {
    awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else { print $c["RcvbufErrors"]; exit } }' /proc/net/snmp
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# The last row's value of column NAME in a SIPp stat CSV.
stat_last() {
    [ -s "$2" ] || { echo 0; return; }
    awk -F';' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) k = i; next }
        k { v = $k } END { print (v == "" ? 0 : v) }' "$2"
}

# Successful calls per second while the load was offered: between the
# first and the last periodic row inside [0.5 s, secs + 0.5 s].
achieved_rate() {
    awk -F';' -v D="$1" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") k = i; next }
        {
            split($1, a, "\t"); split($3, b, "\t"); t = b[3] - a[3]
            if (t >= 0.5 && t <= D + 0.5) { if (!f) { t0 = t; s0 = $k; f = 1 } t1 = t; s1 = $k }
        }
        END { if (f && t1 > t0) printf "%.0f\n", (s1 - s0) / (t1 - t0); else print "n/a" }' "$2"
}

# p50 p99 max of the setup times (ms) in a SIPp rtt CSV.
setup_percentiles() {
    awk -F';' 'NR > 1 && $3 == "1" { print $2 }' "$@" 2>/dev/null | sort -n | awk '
        { v[NR] = $1 }
        function at(p,   i) { i = int(NR * p); if (i < NR * p) i++; if (i < 1) i = 1; return v[i] }
        END { if (NR == 0) print "n/a n/a n/a"; else print at(0.50), at(0.99), v[NR] }'
}

# "N x 503, M x 480": the responses that failed calls, from SIPp's error
# log (not those that reached calls already aborted, such as the 487 for
# the CANCEL SIPp sends when it gives up on an INVITE).
failure_codes() {
    { cat "$@" 2>/dev/null || true; } \
        | { grep -oE "Aborting call on unexpected message for Call-Id '[^']*': while [^,]*, received 'SIP/2\.0 [0-9]{3}" || true; } \
        | awk '{ print $NF }' | sort | uniq -c | sort -rn \
        | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, $2 }'
}

start_uas() {
    local dir=$1
    mkdir -p "$dir"
    (cd "$dir" && exec sipp -sn uas -i 127.0.0.1 -p "$UAS_PORT" -nostdin \
        -buff_size 4194304 -trace_stat -stf uas.csv -fd 1) >"$dir/uas.out" 2>&1 &
    UAS_PID=$!
    UAS_STAT="$dir/uas.csv"
    PIDS+=("$UAS_PID")
    wait_bound "$UAS_PORT" "$UAS_PID" "SIPp UAS" "$dir/uas.out"
}

start_switchboard() {
    local dir=$1
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # --threads N is two words
    RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --config "$CONFIG" \
        ${SBC_THREADS:+--threads $SBC_THREADS} >"$dir/switchboard.log" 2>&1 &
    SUT_PID=$!
    PIDS+=("$SUT_PID")
    wait_bound "$SBC_PORT" "$SUT_PID" "switchboard" "$dir/switchboard.log"
}

start_kamailio() {
    local dir=$1
    mkdir -p "$dir"
    # 1 GiB of shared memory: with 256 MiB its transaction table runs out
    # near 2,000 calls/s (tm: "out of mem", 500 replies).
    kamailio -f "$BENCH_DIR/kamailio.cfg" -DD -E -m 1024 -M 16 >"$dir/kamailio.log" 2>&1 &
    SUT_PID=$!
    PIDS+=("$SUT_PID")
    wait_bound "$KAM_PORT" "$SUT_PID" "kamailio" "$dir/kamailio.log"
    sleep 0.5   # workers finish forking after the socket is bound
}

# ---------------------------------------------------------------- CPS

# One step: RATE calls/s for SECS (default STEP_SECS) against PORT. Sets STEP_COLLAPSED
# to 1 when the series should stop. Appends a TSV row to the series file:
# rate achieved calls failed fail% codes timeouts retrans p50 p99 max
# sut_cpu% sipp_cpu% other_cpu% udp_drops watchdog
run_step() {
    local name=$1 port=$2 rate=$3 uac_port=$4 series=$5 secs=${6:-$STEP_SECS}
    local dir="$RAW/$name/$rate" calls=$((rate * secs)) limit=$((rate * 5))
    [ "$limit" -ge 1000 ] || limit=1000
    mkdir -p "$dir"
    port_free "$uac_port" || die "UDP port $uac_port (UAC) is in use"

    local sut0 uas0 m0 drops0 uas_retrans0
    sut0=$(cpu_ticks "$SUT_PID"); uas0=$(cpu_ticks "$UAS_PID")
    read -r m0 _ < <(machine_ticks)
    drops0=$(udp_rcvbuf_errors)
    uas_retrans0=$(stat_last 'Retransmissions(C)' "$UAS_STAT")

    (cd "$dir" && exec sipp "127.0.0.1:$port" -sf "$BENCH_DIR/uac.xml" -i 127.0.0.1 -p "$uac_port" \
        -r "$rate" -m "$calls" -l "$limit" -d 0 -nostdin \
        -recv_timeout "$RECV_TIMEOUT_MS" -timeout "$((secs + 20))s" \
        -buff_size 4194304 -trace_stat -stf stat.csv -fd 1 \
        -trace_rtt -rtt_freq 1 -trace_err -max_log_size 50000000) \
        >"$dir/uac.out" 2>&1 &
    local uac=$! uac_ticks=0 rc=0
    PIDS+=("$uac")
    # SIPp's CPU, sampled just before it exits.
    while kill -0 "$uac" 2>/dev/null; do
        uac_ticks=$(cpu_ticks "$uac")
        sleep 0.2
    done
    wait "$uac" || rc=$?
    sleep 0.5   # the UAS's stat row catches up

    local sut1 uas1 m1 drops1 uas_retrans1
    sut1=$(cpu_ticks "$SUT_PID"); uas1=$(cpu_ticks "$UAS_PID")
    read -r m1 _ < <(machine_ticks)
    drops1=$(udp_rcvbuf_errors)
    uas_retrans1=$(stat_last 'Retransmissions(C)' "$UAS_STAT")

    [ -s "$dir/stat.csv" ] || die "SIPp UAC wrote no statistics (exit $rc): $(tail -5 "$dir/uac.out")"
    local stat="$dir/stat.csv" created ok failed timeouts retrans watchdog achieved pct codes
    created=$(stat_last 'OutgoingCall(C)' "$stat")
    ok=$(stat_last 'SuccessfulCall(C)' "$stat")
    failed=$(stat_last 'FailedCall(C)' "$stat")
    # Calls SIPp never placed or never finished (it stops at -timeout)
    # count as failed.
    if [ $((calls - ok)) -gt "$failed" ]; then failed=$((calls - ok)); fi
    timeouts=$(( $(stat_last 'FailedTimeoutOnRecv(C)' "$stat") + $(stat_last 'FailedMaxUDPRetrans(C)' "$stat") ))
    retrans=$(( $(stat_last 'Retransmissions(C)' "$stat") + uas_retrans1 - uas_retrans0 ))
    watchdog=$(( $(stat_last 'WatchdogMajor(C)' "$stat") + $(stat_last 'WatchdogMinor(C)' "$stat") ))
    achieved=$(achieved_rate "$secs" "$stat")
    pct=$(awk -v f="$failed" -v n="$calls" 'BEGIN { printf "%.3f", 100 * f / n }')
    codes=$(failure_codes "$dir"/uac_*_errors.log)
    local p50 p99 max
    read -r p50 p99 max < <(setup_percentiles "$dir"/uac_*_rtt.csv)

    # CPU as % of one core over the machine-wide busy interval.
    local wall sut_cpu sipp_cpu other_cpu
    wall=$(awk -v a="$m0" -v b="$m1" 'BEGIN { print b - a }')
    read -r sut_cpu sipp_cpu other_cpu < <(awk -v s0="$sut0" -v s1="$sut1" -v u0="$uas0" -v u1="$uas1" \
        -v c="$uac_ticks" -v busy="$wall" -v secs="$(awk -F';' 'NR > 1 { split($1, a, "\t"); split($3, b, "\t"); t = b[3] - a[3] } END { print t + 0.5 }' "$stat")" \
        -v hz="$CLK_TCK" 'BEGIN {
            sut = (s1 - s0) / hz; gen = (u1 - u0 + c) / hz; all = busy / hz
            other = all - sut - gen; if (other < 0) other = 0
            printf "%.0f %.0f %.0f\n", 100 * sut / secs, 100 * gen / secs, 100 * other / secs }')

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$rate" "$achieved" "$calls" "$failed" "$pct" "${codes:--}" "$timeouts" "$retrans" \
        "$p50" "$p99" "$max" "$sut_cpu" "$sipp_cpu" "$other_cpu" "$((drops1 - drops0))" "$watchdog" \
        >>"$series"
    log "$name $rate/s: achieved $achieved/s, failed $failed/$calls ($pct %), retrans $retrans, p50/p99 $p50/$p99 ms, cpu $sut_cpu % (SIPp $sipp_cpu %, other $other_cpu %) [created $created, sipp exit $rc]"
    STEP_COLLAPSED=$(awk -v p="$pct" -v c="$COLLAPSE_PCT" 'BEGIN { print (p >= c) ? 1 : 0 }')
}

# A whole series against one server; the server and a fresh UAS must run.
run_series() {
    local name=$1 port=$2 series="$RAW/$1.tsv" i=0 collapsed=0
    : >"$series"
    for rate in $RATES; do
        if [ "$collapsed" = 1 ]; then
            printf '%s\tnot run\n' "$rate" >>"$series"
            continue
        fi
        run_step "$name" "$port" "$rate" $((UAC_BASE_PORT + i)) "$series"
        if [ "$STEP_COLLAPSED" = 1 ]; then
            log "$name collapsed at $rate/s: later steps skipped"
            collapsed=1
        fi
        i=$((i + 1))
        sleep 1
    done
    SERIES_HWM=$(hwm_kib "$SUT_PID")
}

# Rates of a series file that passed, highest first.
passing_rates() {
    awk -F'\t' -v maxpct="$PASS_PCT" -v share="$PASS_ACHIEVED" \
        '$2 != "not run" && $2 != "n/a" && $5 < maxpct && $2 >= share * $1 { print $1 }' "$1" | sort -rn
}

# The best passing rate again, for SUSTAIN_SECS on a fresh server and UAS.
# 15 s steps under-load a server that keeps finished transactions for
# 64*T1 = 32 s (RFC 3261 Timer J, RFC 6026 Timers L and M): its state only
# reaches its steady size after 32 s. If the best rate fails, the next
# lower passing rate is tried once.
confirm_best() {
    local name=$1 port=$2 start=$3 out="$RAW/$1-sustained.tsv" tried=0
    : >"$out"
    [ "$SUSTAIN_SECS" -gt 0 ] || return 0
    for rate in $(passing_rates "$RAW/$name.tsv" | head -2); do
        stop_pid "$SUT_PID"; stop_pid "$UAS_PID"
        "$start" "$RAW/$name-sustained/server-$rate"
        start_uas "$RAW/$name-sustained/uas-$rate"
        log "$name: ${SUSTAIN_SECS}s at $rate/s on a fresh server"
        run_step "$name-sustained" "$port" "$rate" $((UAC_BASE_PORT + 50 + tried)) "$out" "$SUSTAIN_SECS"
        tried=$((tried + 1))
        [ -z "$(passing_rates "$out")" ] || break
    done
}

# ---------------------------------------------------------------- memory

run_memory() {
    local dir="$RAW/memory" uac_port=$((UAC_BASE_PORT + 90))
    mkdir -p "$dir"
    start_switchboard "$dir"
    start_uas "$dir/uas"
    # A few calls first: one-time allocations (runtime, tables) are not per call.
    (cd "$dir" && exec sipp "127.0.0.1:$SBC_PORT" -sf "$BENCH_DIR/uac.xml" -i 127.0.0.1 -p "$((uac_port + 1))" \
        -r 50 -m 50 -d 0 -nostdin -timeout 20s) >"$dir/warmup.out" 2>&1 || true
    sleep 1
    MEM_RSS0=$(rss_kib "$SUT_PID")

    port_free "$uac_port" || die "UDP port $uac_port (UAC) is in use"
    (cd "$dir" && exec sipp "127.0.0.1:$SBC_PORT" -sf "$BENCH_DIR/uac.xml" -i 127.0.0.1 -p "$uac_port" \
        -r "$MEM_RATE" -m "$MEM_CALLS" -l "$MEM_CALLS" -d 600000 -nostdin \
        -recv_timeout 10000 -buff_size 4194304 -trace_stat -stf stat.csv -fd 1 \
        -trace_rtt -rtt_freq 1 -trace_err) >"$dir/uac.out" 2>&1 &
    local uac=$! answered=0 failed=0 deadline=$((SECONDS + MEM_CALLS / MEM_RATE + 30))
    PIDS+=("$uac")
    MEM_STOPPED=""
    # Until every call is answered. At the first failed call (e.g. refused
    # with 503 at a capacity limit) the UAC is stopped: the calls already
    # up stay up (nothing ends them), and the state of a growing number of
    # refused calls does not blur the per-call figure.
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$uac" 2>/dev/null; do
        answered=$({ cat "$dir"/uac_*_rtt.csv 2>/dev/null || true; } | awk -F';' 'NR > 1 && $3 == "1"' | wc -l)
        [ "$answered" -ge "$MEM_CALLS" ] && break
        failed=$(stat_last 'FailedCall(C)' "$dir/stat.csv")
        if [ "$failed" -gt 0 ]; then
            MEM_STOPPED="the UAC was stopped at its first failed calls, $answered calls up"
            log "memory: $MEM_STOPPED"
            sleep 0.5   # the failures' error log
            stop_pid "$uac"
            break
        fi
        sleep 0.25
    done
    sleep 1     # the last ACKs
    MEM_ANSWERED=$({ cat "$dir"/uac_*_rtt.csv 2>/dev/null || true; } | awk -F';' 'NR > 1 && $3 == "1"' | wc -l)
    MEM_RSS1=$(rss_kib "$SUT_PID")
    MEM_FAILED=$(stat_last 'FailedCall(C)' "$dir/stat.csv" 2>/dev/null || echo "?")
    MEM_RSS2=""
    if [ "$MEM_SETTLE" -gt 0 ]; then
        log "memory: $answered calls up, RSS $MEM_RSS1 KiB; waiting ${MEM_SETTLE}s for INVITE transactions to end"
        sleep "$MEM_SETTLE"
        MEM_RSS2=$(rss_kib "$SUT_PID")
        [ -n "$MEM_STOPPED" ] || MEM_FAILED=$(stat_last 'FailedCall(C)' "$dir/stat.csv")
    fi
    MEM_CODES=$(failure_codes "$dir"/uac_*_errors.log)
    stop_pid "$uac"
    stop_pid "$SUT_PID"
    stop_pid "$UAS_PID"
}

# ---------------------------------------------------------------- run

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the machine is before we start: other people's jobs skew
# every figure below.
read -r b0 t0 < <(machine_ticks); sleep 2; read -r b1 t1 < <(machine_ticks)
BUSY_BEFORE=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v n="$(nproc)" 'BEGIN { printf "%.0f", t ? 100 * n * b / t : 0 }')
[ "$BUSY_BEFORE" -lt 30 ] || log "warning: the machine is already ${BUSY_BEFORE} % busy (of $(nproc)00 %): figures will be low"
START_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS

log "switchboard CPS series: $RATES calls/s, ${STEP_SECS}s each"
mkdir -p "$RAW/switchboard"
start_switchboard "$RAW/switchboard"
start_uas "$RAW/switchboard/uas"
run_series switchboard "$SBC_PORT"
SB_HWM=$SERIES_HWM
SB_LOG_LINES=$(wc -l <"$RAW/switchboard/switchboard.log")
confirm_best switchboard "$SBC_PORT" start_switchboard
stop_pid "$SUT_PID"; stop_pid "$UAS_PID"

if [ "$RUN_KAMAILIO" = 1 ]; then
    log "kamailio CPS series"
    mkdir -p "$RAW/kamailio"
    start_kamailio "$RAW/kamailio"
    start_uas "$RAW/kamailio/uas"
    run_series kamailio "$KAM_PORT"
    confirm_best kamailio "$KAM_PORT" start_kamailio
    stop_pid "$SUT_PID"; stop_pid "$UAS_PID"
fi

if [ "$MEMORY" = 1 ]; then
    log "memory: $MEM_CALLS calls held open at $MEM_RATE/s"
    run_memory
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T0))

# ---------------------------------------------------------------- report

# The highest rate that passed and its p99: "RATE P99" or "none".
best_rate() {
    local rate
    rate=$(passing_rates "$1" | head -1)
    if [ -z "$rate" ]; then echo none; return; fi
    awk -F'\t' -v r="$rate" '$1 == r { print $1, $10; exit }' "$1"
}

series_table() {
    echo "| offered /s | achieved /s | calls | failed | failed % | error responses | timeouts | retrans | setup p50 ms | setup p99 ms | setup max ms | $2 CPU % | SIPp CPU % | other CPU % | UDP rcvbuf drops | SIPp watchdog |"
    echo "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '$2 == "not run" { printf "| %s | not run (an earlier step collapsed) |||||||||||||||\n", $1; next }
        { line = "|"; for (i = 1; i <= 16; i++) line = line " " $i " |"; print line }' "$1"
}

# verdict SERIES SUSTAINED: the result line of one server.
verdict() {
    local best sustained file=$2
    best=$(best_rate "$1")
    if [ "$best" = none ]; then
        echo "no step passed"
        return
    fi
    set -- $best
    echo -n "**$1 calls/s** with < $PASS_PCT % failed, setup p99 **$2 ms** (${STEP_SECS} s step)"
    [ -s "$file" ] || { echo; return; }
    sustained=$(best_rate "$file")
    if [ "$sustained" = none ]; then
        echo "; not sustained for ${SUSTAIN_SECS} s: $(awk -F'\t' '{ printf "%s%s/s %s %% failed (%s)", (NR > 1 ? ", " : ""), $1, $5, $6 }' "$file")"
    else
        set -- $sustained
        echo "; sustained for ${SUSTAIN_SECS} s: **$1 calls/s**, p99 **$2 ms**$(awk -F'\t' -v r="$1" '$1 != r { printf " (%s/s failed: %s %%, %s)", $1, $5, $6 }' "$file")"
    fi
}

{
    echo "# SBC signalling load, $START_TIME"
    echo
    echo "Command: \`$COMMAND_LINE\` (${ELAPSED} s). Raw files: $([ "$KEEP_RAW" = 1 ] && echo "$RAW" || echo "deleted (--keep-raw keeps them)")."
    echo
    echo "- Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -r); load average $LOAD_START at start, $LOAD_END at end; ${BUSY_BEFORE} % CPU (of $(nproc)00 %) busy in the 2 s before the run. The SIPp UAC and UAS share these cores with the server under test, and other engineers' jobs may run too (the \"other CPU\" column: machine busy time not used by the server or SIPp)."
    echo "- switchboard $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ] && echo ' (working tree with uncommitted changes)'), release build, \`RUST_LOG=${RUST_LOG:-warn}\`, \`serve --threads ${SBC_THREADS:-(one per core)}\`, examples/loopback.toml with node and trunk limits raised to 1,000,000 and `[media]` ports 10000-60999, media timeout 3600 s (every call anchored on the RTP relay: 4 sockets per call)."
    if [ "$RUN_KAMAILIO" = 1 ]; then echo "- $(kamailio -v 2>/dev/null | head -1 | sed "s/^version: //; s/ *$//"), bench/kamailio.cfg: tm + rr + sl + maxfwd, record-route, 4 UDP workers, 1 GiB shared memory, t_relay to the UAS."; fi
    echo "- $(sipp -v 2>/dev/null | grep -m1 -oE 'SIPp v[0-9.]+'): bench/uac.xml (SIPp's built-in \`uac\` call: INVITE, 100, 180, 200, ACK, BYE, 200; a 1xx arriving after the 200 is ignored, not a failure) against the built-in \`uas\`, \`-d 0\`, ${STEP_SECS} s per step, \`-recv_timeout $RECV_TIMEOUT_MS\` (a call waiting 4 s for a response has failed), UDP buffers 4 MiB in SIPp."
    echo "- Failed calls are SIPp's: no final response within 4 s (\"timeouts\", SIPp then CANCELs) or a final response other than 200 (\"error responses\", by status code)."
    echo "- Setup time = SIPp response time 1: INVITE first sent -> 200 received, over answered calls, 1 ms resolution (0 = under 1 ms). Achieved = answered calls per second while load was offered. Retrans = UAC + UAS retransmissions. CPU in % of one core (the machine has $(nproc)00 %)."
    echo "- A step passes with < $PASS_PCT % failed calls and >= $(awk -v s="$PASS_ACHIEVED" 'BEGIN { print s * 100 }') % of the offered rate achieved; a series stops after a step with >= $COLLAPSE_PCT % failed. Steps follow each other after 1 s, so state left by one step (finished transactions are kept 32 s) weighs on the next. The best passing rate is then re-run for ${SUSTAIN_SECS} s on a fresh server (0 = skipped), longer than those 32 s."
    echo
    echo "## Result"
    echo
    echo "- switchboard (B2BUA): $(verdict "$RAW/switchboard.tsv" "$RAW/switchboard-sustained.tsv")."
    if [ "$RUN_KAMAILIO" = 1 ]; then echo "- Kamailio (stateful proxy): $(verdict "$RAW/kamailio.tsv" "$RAW/kamailio-sustained.tsv")."; fi
    if [ "$MEMORY" = 1 ]; then
        echo "- Memory per active call (switchboard): $(awk -v a="$MEM_RSS0" -v b="$MEM_RSS1" -v n="$MEM_ANSWERED" 'BEGIN { if (n > 0) printf "**%.1f KiB**", (b - a) / n; else print "n/a" }') when the ${MEM_ANSWERED}th call is answered${MEM_STOPPED:+ (no more calls could be set up: ${MEM_CODES:-failures})}$( [ -n "$MEM_RSS2" ] && awk -v a="$MEM_RSS0" -v b="$MEM_RSS2" -v n="$MEM_ANSWERED" -v s="$MEM_SETTLE" 'BEGIN { printf ", **%.1f KiB** %d s later (INVITE transactions ended)", (b - a) / n, s }')."
    fi
    echo
    echo "## CPS steps: switchboard"
    echo
    series_table "$RAW/switchboard.tsv" switchboard
    echo
    echo "switchboard peak RSS (VmHWM) over the series: $SB_HWM KiB; its log had $SB_LOG_LINES lines."
    if [ -s "$RAW/switchboard-sustained.tsv" ]; then
        echo
        echo "Sustained, ${SUSTAIN_SECS} s on a fresh server:"
        echo
        series_table "$RAW/switchboard-sustained.tsv" switchboard
    fi
    if [ "$RUN_KAMAILIO" = 1 ]; then
        echo
        echo "## CPS steps: Kamailio"
        echo
        series_table "$RAW/kamailio.tsv" kamailio
        if [ -s "$RAW/kamailio-sustained.tsv" ]; then
            echo
            echo "Sustained, ${SUSTAIN_SECS} s on a fresh server:"
            echo
            series_table "$RAW/kamailio-sustained.tsv" kamailio
        fi
        echo
        echo "## Side by side"
        echo
        echo "| offered /s | switchboard achieved /s | failed % | p50 / p99 ms | CPU % | Kamailio achieved /s | failed % | p50 / p99 ms | CPU % |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        LC_ALL=C join -t $'\t' -a1 -a2 -e '-' -o '0,1.2,1.5,1.9,1.10,1.12,2.2,2.5,2.9,2.10,2.12' \
            <(LC_ALL=C sort -t $'\t' -k1,1 "$RAW/switchboard.tsv") <(LC_ALL=C sort -t $'\t' -k1,1 "$RAW/kamailio.tsv") \
            | sort -t $'\t' -k1,1n \
            | awk -F'\t' '{ printf "| %s | %s | %s | %s / %s | %s | %s | %s | %s / %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }'
    fi
    if [ "$MEMORY" = 1 ]; then
        echo
        echo "## Memory per active call: switchboard"
        echo
        echo "$MEM_CALLS calls offered at $MEM_RATE/s with \`-d 600000\` (held open, no media), after 50 warm-up calls."
        echo
        echo "| moment | calls up | VmRSS KiB | delta KiB | KiB per call |"
        echo "|---|---:|---:|---:|---:|"
        echo "| before | 0 | $MEM_RSS0 | | |"
        awk -v a="$MEM_RSS0" -v b="$MEM_RSS1" -v n="$MEM_ANSWERED" 'BEGIN { printf "| last call answered | %d | %d | %d | %.1f |\n", n, b, b - a, n ? (b - a) / n : 0 }'
        if [ -n "$MEM_RSS2" ]; then awk -v a="$MEM_RSS0" -v b="$MEM_RSS2" -v n="$MEM_ANSWERED" -v s="$MEM_SETTLE" \
            'BEGIN { printf "| %d s later (RFC 6026 Timer L/M done) | %d | %d | %d | %.1f |\n", s, n, b, b - a, n ? (b - a) / n : 0 }'; fi
        echo
        echo "SIPp: $MEM_ANSWERED calls answered, $MEM_FAILED failed${MEM_CODES:+ (responses: $MEM_CODES)}${MEM_STOPPED:+; $MEM_STOPPED}. Per-call figures divide by the calls actually up."
    fi
} >"$REPORT"

cat "$REPORT"
log "report written to ${REPORT#"$ROOT"/}"
