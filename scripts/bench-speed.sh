#!/usr/bin/env bash
# Sync speed of the `baton-notion` binary against the standalone emulation, in three settings,
# for orgs of each size given (default: 10000 and 100000 members, 2000 groups of long-tail
# sizes, the emulation's seeded org):
#   1 loopback          no added latency, no rate limit (the connector's pace lifted)
#   2 100 ms            every request answered after 100 ms, no rate limit (pace lifted)
#   3 300 ms + 600/min  300 ms and the emulation's fixed-window 600 requests a minute; the
#                       connector at its defaults (600 a minute, evenly paced)
# For each it prints wall time, CPU time (user + system of the connector), peak memory (its max
# RSS), requests and the 429s it received (from its final log line), and beside them the floors
# measured from the same run: requests / rate limit, and requests x latency / in flight. It
# asserts nothing. One run per cell; setting 3 at 100,000 members takes about two minutes by
# design (its floor is 1,032 requests at ten a second).
#
#   scripts/bench-speed.sh                 # both sizes
#   scripts/bench-speed.sh 10000           # one size
#   BENCH_IN_FLIGHT=4 BENCH_GROUPS=200 scripts/bench-speed.sh 10000
#   BENCH_SETTINGS="1 2" scripts/bench-speed.sh      # some settings only
#
# Needs: cargo, /usr/bin/time (GNU), jq. Builds both binaries in release first.
set -euo pipefail

cd "$(dirname "$0")/.."
GROUPS_N=${BENCH_GROUPS:-2000}
IN_FLIGHT=${BENCH_IN_FLIGHT:-8}
SETTINGS=${BENCH_SETTINGS:-"1 2 3"}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
# Not a secret: the emulation's token for this run only.
TOKEN=bench_speed_token_not_a_secret

for tool in /usr/bin/time jq cargo; do
    command -v "$tool" >/dev/null || { echo "bench-speed: $tool is needed" >&2; exit 2; }
done

cargo build --release --quiet -p notion-scim-mock -p baton-notion
BIN=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d)
MOCK_PID=
cleanup() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the emulation; sets MOCK_PID and MOCK_URL.
start_mock() {
    local users=$1 latency=$2 limit=$3
    local extra=()
    [ "$limit" = "-" ] || extra=(--rate-limit "$limit")
    "$BIN/notion-scim-mock" serve --addr 127.0.0.1:0 --token "$TOKEN" --seed 1 \
        --users "$users" --groups "$GROUPS_N" --log-level error \
        --latency-ms "$latency" "${extra[@]}" >"$WORK/mock.out" 2>"$WORK/mock.err" &
    MOCK_PID=$!
    MOCK_URL=
    for _ in $(seq 1 600); do
        MOCK_URL=$(sed -n 's/^notion-scim-mock listening on //p' "$WORK/mock.out")
        [ -n "$MOCK_URL" ] && return 0
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-speed: the emulation did not start: $(cat "$WORK/mock.err")" >&2
    exit 1
}

stop_mock() {
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=
}

printf '%-8s %-18s %9s %8s %9s %9s %5s %11s %13s %7s\n' \
    members setting wall_s cpu_s peak_mib requests 429s rate_floor_s latency_floor_s ratio
for users in "${SIZES[@]}"; do
    for setting in $SETTINGS; do
        case $setting in
            1) name=loopback latency=0 limit=- rpm=1000000 ;;
            2) name="100ms" latency=100 limit=- rpm=1000000 ;;
            3) name="300ms+600/min" latency=300 limit=600 rpm=600 ;;
            *) echo "bench-speed: unknown setting $setting" >&2; exit 2 ;;
        esac
        start_mock "$users" "$latency" "$limit"
        rm -f "$WORK/sync.c1z"
        if ! BATON_SCIM_TOKEN=$TOKEN /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" \
            "$BIN/baton-notion" --base-url "$MOCK_URL" -f "$WORK/sync.c1z" --log-format json \
            --requests-per-minute "$rpm" --requests-in-flight "$IN_FLIGHT" \
            >"$WORK/out" 2>"$WORK/log"; then
            echo "bench-speed: the sync failed: $(tail -n 3 "$WORK/log")" >&2
            exit 1
        fi
        stop_mock
        read -r wall user sys maxrss <"$WORK/time"
        finished=$(grep '"sync finished"' "$WORK/log" | tail -n 1)
        requests=$(jq -r '.requests' <<<"$finished")
        limited=$(jq -r '.rate_limited' <<<"$finished")
        # The floors: the server's limit alone, and the latency spread over the requests in
        # flight alone; the slower of the two is what the run is compared with.
        read -r cpu peak rate_floor latency_floor ratio < <(awk \
            -v w="$wall" -v u="$user" -v s="$sys" -v m="$maxrss" -v r="$requests" \
            -v lim="$limit" -v lat="$latency" -v k="$IN_FLIGHT" 'BEGIN {
                rf = (lim == "-") ? 0 : r / (lim / 60.0)
                lf = r * lat / 1000.0 / k
                f = (rf > lf) ? rf : lf
                printf "%.2f %.1f %s %s %s\n", u + s, m / 1024.0,
                    (lim == "-") ? "-" : sprintf("%.2f", rf),
                    sprintf("%.2f", lf),
                    (f > 0) ? sprintf("%.2fx", w / f) : "-"
            }')
        printf '%-8s %-18s %9s %8s %9s %9s %5s %11s %13s %7s\n' \
            "$users" "$name" "$wall" "$cpu" "$peak" "$requests" "$limited" \
            "$rate_floor" "$latency_floor" "$ratio"
    done
done
echo "groups: $GROUPS_N; in flight: $IN_FLIGHT; ratio = wall / the larger floor (goals: setting 3 <= 1.1x with no 429, setting 2 <= 1.2x)"
