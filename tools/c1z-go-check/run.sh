#!/usr/bin/env bash
# Reads c1z files written by this connector with the Go libraries baton-sdk reads them with:
# klauspost/compress's zstd stream decoder and a Go SQLite driver. Two files: a first sync (the
# direct writer) and a second into it (the SQLite merge). Installs Go and the two libraries from
# Debian's packages when they are missing; if they cannot be installed, says so and skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

gopath=/usr/share/gocode
need() {
  command -v go >/dev/null 2>&1 &&
    [ -d "$gopath/src/github.com/klauspost/compress/zstd" ] &&
    [ -d "$gopath/src/github.com/mattn/go-sqlite3" ]
}
if ! need; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq golang-go golang-github-klauspost-compress-dev \
      golang-github-mattn-go-sqlite3-dev) >/dev/null 2>&1 || true
  fi
fi
if ! need; then
  echo "SKIPPED: Go and its zstd and SQLite packages could not be installed here"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
GO111MODULE=off GOPATH="$gopath" GOFLAGS= GOCACHE="$work/cache" go build -o "$work/c1z-go-check" ./tools/c1z-go-check
for run in first second; do
  cargo run --locked -q -p baton-notion --example demo -- "$work/sync.c1z" >/dev/null
  echo "-- after the $run sync:"
  "$work/c1z-go-check" "$work/sync.c1z"
done
