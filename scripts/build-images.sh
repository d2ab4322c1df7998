#!/usr/bin/env bash
# Builds the OCI images of baton-notion and notion-scim-mock from the release binaries in dist/
# (scripts/release.sh), offline: FROM scratch, no registry is contacted.
#
#   scripts/build-images.sh      # -> localhost/NAME:VERSION (and :latest) in podman's store,
#                                #    dist/NAME-VERSION.oci.tar and dist/NAME-VERSION.docker.tar
#
# Each image's root filesystem is assembled here: the binary, the exact shared libraries and the
# loader `ldd` names for it (copied from this machine, with their packages' copyright files),
# the CA bundle, /etc/passwd and /etc/group with the distroless "nonroot" user 65532,
# /etc/nsswitch.conf (hosts from /etc/hosts, then DNS; glibc 2.34+ has both built in, so no
# NSS module is needed) and a world-writable /tmp. scripts/check-images.sh checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."

dist="${DIST_DIR:-dist}"
# image name = binary name, and the crate directory its version is read from
declare -A crate_dir=([baton-notion]=connector [notion-scim-mock]=scim-mock)
images=(baton-notion notion-scim-mock)

if ! command -v podman >/dev/null; then
  echo "build-images: podman is missing (Debian: apt-get install -y podman)" >&2
  exit 1
fi
ca_bundle=/etc/ssl/certs/ca-certificates.crt
if [[ ! -s "$ca_bundle" ]]; then
  echo "build-images: no CA bundle at $ca_bundle (Debian: apt-get install -y ca-certificates)" >&2
  exit 1
fi

revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# The commit's time as the images' creation time and their files' times: the same commit and
# binaries give the same image id.
epoch="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies a file of this machine to the same path under the rootfs, and its Debian package's
# copyright notice (the libraries are redistributed in the image).
copy_in() {
  local src="$1" rootfs="$2" mode="$3" pkg
  mkdir -p "$rootfs$(dirname "$src")"
  cp -L "$src" "$rootfs$src"
  chmod "$mode" "$rootfs$src"
  if command -v dpkg >/dev/null && pkg="$(dpkg -S "$src" 2>/dev/null | head -1 | cut -d: -f1)" &&
    [[ -n "$pkg" && -f "/usr/share/doc/$pkg/copyright" ]]; then
    mkdir -p "$rootfs/usr/share/doc/$pkg"
    cp "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
  fi
}

make_rootfs() {
  local bin="$1" rootfs="$2" line lib
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
  install -m 0755 "$dist/$bin" "$rootfs/$bin"
  # `ldd` lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
  # "linux-vdso.so.1 (0x...)" (in the kernel, not a file); "not found" fails the build.
  if ldd "$dist/$bin" | grep -q 'not found'; then
    echo "build-images: $bin needs a library this machine lacks:" >&2
    ldd "$dist/$bin" >&2
    exit 1
  fi
  while read -r line; do
    lib="$(grep -o '/[^ ]*' <<<"$line" | head -1 || true)"
    [[ -n "$lib" ]] && copy_in "$lib" "$rootfs" 0755
  done < <(ldd "$dist/$bin" | grep -v 'statically linked')
  local interp
  interp="$(readelf -l "$dist/$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')"
  if [[ -n "$interp" && ! -f "$rootfs$interp" ]]; then
    echo "build-images: the loader $interp of $bin is not in the image" >&2
    exit 1
  fi
  copy_in "$ca_bundle" "$rootfs" 0644
  if [[ -f /usr/share/doc/ca-certificates/copyright ]]; then
    mkdir -p "$rootfs/usr/share/doc/ca-certificates"
    cp /usr/share/doc/ca-certificates/copyright "$rootfs/usr/share/doc/ca-certificates/"
  fi
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
  chmod 1777 "$rootfs/tmp"
}

mkdir -p "$dist"
for name in "${images[@]}"; do
  if [[ ! -x "$dist/$name" ]]; then
    echo "build-images: $dist/$name is missing: run scripts/release.sh first" >&2
    exit 1
  fi
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${crate_dir[$name]}/Cargo.toml" | head -1)"
  ref="localhost/$name:$version"
  echo "== image $ref (deploy/$name.Containerfile, FROM scratch)"
  context="$work/$name"
  make_rootfs "$name" "$context/rootfs"
  echo "rootfs: $(cd "$context/rootfs" && find . -type f | sort | tr '\n' ' ')"
  podman build --quiet --timestamp "$epoch" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    -f "deploy/$name.Containerfile" -t "$ref" -t "localhost/$name:latest" "$context" >/dev/null
  echo "built $ref: id $(podman image inspect --format '{{.Id}}' "$ref" | cut -c1-12), $(podman image inspect --format '{{.Size}}' "$ref") bytes"
  rm -f "$dist/$name-$version.oci.tar" "$dist/$name-$version.docker.tar"
  podman save --quiet --format oci-archive -o "$dist/$name-$version.oci.tar" "$ref"
  podman save --quiet --format docker-archive -o "$dist/$name-$version.docker.tar" "$ref"
  echo "saved $dist/$name-$version.oci.tar and $dist/$name-$version.docker.tar"
done

# One checksum file for everything in dist/: the binaries and the archives.
sums="$(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort | xargs sha256sum)"
printf '%s\n' "$sums" >"$dist/SHA256SUMS"
echo "checksums: $dist/SHA256SUMS (cd $dist && sha256sum -c SHA256SUMS)"
