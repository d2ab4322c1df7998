#!/usr/bin/env bash
# Release build: the three binaries, built with the locked dependencies in the release profile,
# copied into dist/ with their SHA-256 sums, so that no one needs a Rust toolchain to run them.
#
#   scripts/release.sh            # dist/baton-notion, dist/notion-scim-mock, dist/notion-conformance, dist/SHA256SUMS
#
# The binaries link glibc dynamically (Linux on the build machine's architecture; the symbol
# versions they use need glibc 2.34 or newer, as on Debian 12); the images built by
# scripts/build-images.sh carry the libraries they need.
set -euo pipefail
cd "$(dirname "$0")/.."

binaries=(baton-notion notion-scim-mock notion-conformance)
dist="${DIST_DIR:-dist}"

# Where cargo puts its output: CARGO_TARGET_DIR when set, else the workspace's target/.
target_dir="$(cargo metadata --format-version 1 --no-deps --locked |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
if [[ -z "$target_dir" ]]; then
  echo "release: cannot find cargo's target directory" >&2
  exit 1
fi

echo "== release: cargo build --release --locked (${binaries[*]})"
cargo build --release --locked -p baton-notion -p notion-scim-mock -p notion-conformance

mkdir -p "$dist"
for bin in "${binaries[@]}"; do
  install -m 0755 "$target_dir/release/$bin" "$dist/$bin"
done
# One checksum file for everything in dist/ (scripts/build-images.sh adds its archives).
sums="$(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort | xargs sha256sum)"
printf '%s\n' "$sums" >"$dist/SHA256SUMS"

echo "== release: $dist/"
(cd "$dist" && for bin in "${binaries[@]}"; do
  printf '%-20s %8s KiB  %s\n' "$bin" "$(($(stat -c %s "$bin") / 1024))" "$("./$bin" --version)"
done)
echo "checksums: $dist/SHA256SUMS (cd $dist && sha256sum -c SHA256SUMS)"
