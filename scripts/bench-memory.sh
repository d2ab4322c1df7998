#!/usr/bin/env bash
# Peak memory of a whole `baton-notion` sync as the org grows: 100,000 members (2,000 groups)
# and 1,000,000 members (10,000 groups), each served by the standalone emulation on loopback.
#
# Run from the repository root: scripts/bench-memory.sh
# Builds both release binaries first (CARGO_TARGET_DIR is honoured). Prints, for each org, the
# connector's peak resident memory (VmHWM, from its own final log line), beside the emulation's
# peak RSS for the same org (a peer: it holds the whole org in memory, which the connector never
# does), the wall time, and the goal. Nothing is asserted: the figures are for reading.
#
# Environment: MEMORY_ORGS (default "100000:2000 1000000:10000", members:groups pairs),
# BASELINE_BIN (a `baton-notion` binary of another build, e.g. the previous one, synced against
# the same org and printed beside this one).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet -p notion-scim-mock -p baton-notion
mock_bin="$target/release/notion-scim-mock"
conn_bin="$target/release/baton-notion"
token="bench_memory_token_not_a_secret"
work="$(mktemp -d)"
mock_pid=""
cleanup() {
    if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Peak RSS of a live process, in MiB.
peak_of() { awk '/^VmHWM:/ { printf "%d", ($2 + 1023) / 1024 }' "/proc/$1/status"; }

# One sync by binary $1 into a fresh file; prints "peak_mib wall_s memberships" from its last line.
sync_with() {
    local bin="$1" url="$2" out="$work/sync.c1z" log="$work/sync.log"
    rm -f "$out"
    local t0 t1
    t0=$(date +%s.%N)
    if ! "$bin" --scim-token "$token" --base-url "$url" --requests-per-minute 1000000 \
        --log-format json -f "$out" 2>"$log" >/dev/null; then
        echo "sync failed:" >&2
        tail -n 3 "$log" >&2
        return 1
    fi
    t1=$(date +%s.%N)
    local line
    line=$(grep '"sync finished"' "$log" | tail -n 1)
    printf '%s %.1f %s\n' \
        "$(jq -r '.peak_memory_mib' <<<"$line")" \
        "$(echo "$t1 - $t0" | bc)" \
        "$(jq -r '.memberships' <<<"$line")"
}

printf '%-10s %-7s %-12s %-14s %-10s %-16s %s\n' members groups memberships "peak memory" wall "emulation peak" goal
for org in ${MEMORY_ORGS:-100000:2000 1000000:10000}; do
    members="${org%%:*}"
    groups="${org##*:}"
    fifo="$work/mock.out"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$mock_bin" serve --addr 127.0.0.1:0 --token "$token" --seed 1 \
        --users "$members" --groups "$groups" --log-level error >"$fifo" 2>"$work/mock.err" &
    mock_pid=$!
    exec 3<"$fifo"
    url=""
    while read -r line <&3; do
        case "$line" in
            "notion-scim-mock listening on "*) url="${line#notion-scim-mock listening on }"; break ;;
        esac
    done
    # Keep draining the emulation's output so it never blocks on a full pipe.
    cat <&3 >/dev/null &
    exec 3<&-
    [ -n "$url" ] || { echo "the emulation did not start" >&2; exit 1; }
    if [ "$members" -le 100000 ]; then goal="< 150 MB"; else goal="< 250 MB"; fi
    read -r peak wall memberships < <(sync_with "$conn_bin" "$url")
    mock_peak=$(peak_of "$mock_pid")
    printf '%-10s %-7s %-12s %-14s %-10s %-16s %s\n' "$members" "$groups" "$memberships" \
        "$peak MiB" "$wall s" "$mock_peak MiB" "$goal"
    if [ -n "${BASELINE_BIN:-}" ]; then
        read -r bpeak bwall _ < <(sync_with "$BASELINE_BIN" "$url")
        printf '%-10s %-7s %-12s %-14s %-10s %-16s %s\n' "" "" "baseline" "$bpeak MiB" "$bwall s" "" "(BASELINE_BIN)"
    fi
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=""
done
