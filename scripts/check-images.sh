#!/usr/bin/env bash
# Checks the images scripts/build-images.sh saved, without a container runtime (this machine and
# CI can build images but not run containers): each archive is loaded into podman, its config
# checked (entrypoint, command, user, working directory, labels), its filesystem exported, and
# the binaries run FROM THE EXPORTED FILESYSTEMS as the image would run them: chrooted into it
# (unshare --root), as user 65532, in the image's working directory, with only the environment
# the image and the caller give, /proc and /dev mounted as a runtime would.
#
#   scripts/check-images.sh                                  # dist/*-VERSION.oci.tar
#   scripts/check-images.sh CONNECTOR.oci.tar MOCK.oci.tar   # other archives
#
# Then: the emulation is started from its image; the connector from its image runs a one-shot
# sync against it by host name (localhost, resolved through the image's nsswitch.conf and the
# /etc/hosts a runtime provides) and writes a c1z in its working directory; finally
# notion-conformance's sync suite judges the image's connector against the image's emulation
# (every c1z decoded by the conformance oracle and compared with the emulation's truth; writes
# allowed, so that the throwaway emulation is reseeded for generated orgs and paging edges).
# Needs root (chroot and mounts in a private mount namespace), podman, and dist/notion-conformance.
set -euo pipefail
cd "$(dirname "$0")/.."

dist="${DIST_DIR:-dist}"
conn_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' connector/Cargo.toml | head -1)"
mock_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' scim-mock/Cargo.toml | head -1)"
conn_archive="${1:-$dist/baton-notion-$conn_version.oci.tar}"
mock_archive="${2:-$dist/notion-scim-mock-$mock_version.oci.tar}"
nonroot=65532
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() {
  echo "check-images: FAIL: $*" >&2
  exit 1
}
[[ "$(id -u)" == 0 ]] || fail "needs root (chroot into the exported filesystems)"
command -v podman >/dev/null || fail "podman is missing (Debian: apt-get install -y podman)"
[[ -x "$dist/notion-conformance" ]] || fail "$dist/notion-conformance is missing: run scripts/release.sh"
for archive in "$conn_archive" "$mock_archive"; do
  [[ -f "$archive" ]] || fail "$archive is missing: run scripts/build-images.sh"
done

work="$(mktemp -d)"
mock_pid=
daemon_pid=
fake_pid=
cleanup() {
  for pid in $daemon_pid $fake_pid $mock_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Loads an archive, checks its config, exports its filesystem to $work/NAME.
# Args: NAME ARCHIVE VERSION EXPECTED_ENTRYPOINT_JSON EXPECTED_CMD_JSON
load_and_export() {
  local name="$1" archive="$2" version="$3" want_entry="$4" want_cmd="$5" ref got cid
  echo "== image $name: load $archive"
  ref="$(podman load --quiet -i "$archive" | sed -n 's/^Loaded image[s]*: //p' | tail -1)"
  [[ -n "$ref" ]] || fail "$archive: podman load named no image"
  echo "loaded $ref"
  got="$(podman image inspect --format '{{json .Config.Entrypoint}}' "$ref")"
  [[ "$got" == "$want_entry" ]] || fail "$name: entrypoint $got, expected $want_entry"
  got="$(podman image inspect --format '{{json .Config.Cmd}}' "$ref")"
  [[ "$got" == "$want_cmd" ]] || fail "$name: command $got, expected $want_cmd"
  got="$(podman image inspect --format '{{.Config.User}}' "$ref")"
  [[ "$got" == "$nonroot:$nonroot" ]] || fail "$name: user '$got', expected $nonroot:$nonroot (non-root)"
  got="$(podman image inspect --format '{{.Config.WorkingDir}}' "$ref")"
  [[ "$got" == /tmp ]] || fail "$name: working directory '$got', expected /tmp"
  local key value
  for key in title version revision licenses; do
    value="$(podman image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$key\"}}" "$ref")"
    case "$key" in
      title) [[ "$value" == "$name" ]] ;;
      version) [[ "$value" == "$version" ]] ;;
      revision) [[ "$value" =~ ^[0-9a-f]{40}$ ]] ;;
      licenses) [[ "$value" == Apache-2.0 ]] ;;
    esac || fail "$name: label org.opencontainers.image.$key is '$value'"
  done
  echo "config: entrypoint $want_entry, command $want_cmd, user $nonroot:$nonroot, workdir /tmp, labels title/version/revision/licenses"

  local rootfs="$work/$name"
  mkdir -p "$rootfs"
  cid="$(podman create "$ref")"
  podman export "$cid" | tar -x -C "$rootfs"
  podman rm "$cid" >/dev/null
  local entry="/$name"
  [[ -f "$rootfs$entry" && -x "$rootfs$entry" ]] || fail "$name: no executable $entry in the image"
  grep -q "^nonroot:x:$nonroot:$nonroot:" "$rootfs/etc/passwd" || fail "$name: /etc/passwd lacks user $nonroot"
  [[ "$(stat -c %a "$rootfs/tmp")" == 1777 ]] || fail "$name: /tmp is not world-writable with the sticky bit"
  [[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ]] || fail "$name: no CA bundle"
  for shell in bin/sh bin/bash usr/bin/sh; do
    [[ ! -e "$rootfs/$shell" ]] || fail "$name: the image holds a shell ($shell)"
  done
  # What a runtime adds to every container: /proc, /dev and /etc/hosts.
  mkdir -p "$rootfs/proc" "$rootfs/dev"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$rootfs/etc/hosts"
  echo "filesystem: $(find "$rootfs" -type f | wc -l) files, $(du -sh "$rootfs" | cut -f1); $entry runs as $nonroot"
}

# Runs a command from an exported filesystem as its image would: chrooted, user 65532, cwd /tmp,
# an environment of PATH plus the NAME=VALUE pairs given before the command.
# Args: ROOTFS [NAME=VALUE...] -- COMMAND...
in_image() {
  local rootfs="$1"
  shift
  local env=(PATH="$image_path")
  while [[ "$1" != -- ]]; do
    env+=("$1")
    shift
  done
  shift
  env -i "${env[@]}" unshare --mount --propagation private -- /bin/sh -c '
    rootfs="$1"; shift
    mount -t proc proc "$rootfs/proc" && mount --rbind /dev "$rootfs/dev" || exit 125
    if [ -n "${CHECK_IMAGES_SHARE:-}" ]; then
      mkdir -p "$rootfs$CHECK_IMAGES_SHARE" && mount --bind "$CHECK_IMAGES_SHARE" "$rootfs$CHECK_IMAGES_SHARE" || exit 125
    fi
    unset CHECK_IMAGES_SHARE
    exec unshare --root="$rootfs" --wd=/tmp --setgid '"$nonroot"' --setuid '"$nonroot"' -- "$@"
  ' sh "$rootfs" "$@"
}

load_and_export baton-notion "$conn_archive" "$conn_version" '["/baton-notion"]' 'null'
load_and_export notion-scim-mock "$mock_archive" "$mock_version" '["/notion-scim-mock"]' '["serve","--addr","0.0.0.0:8765"]'
conn_root="$work/baton-notion"
mock_root="$work/notion-scim-mock"

echo "== the binaries from the images: --version"
conn_said="$(in_image "$conn_root" -- /baton-notion --version)" || fail "baton-notion --version failed in its image"
mock_said="$(in_image "$mock_root" -- /notion-scim-mock --version)" || fail "notion-scim-mock --version failed in its image"
echo "$conn_said / $mock_said"
[[ "$conn_said" == *"$conn_version"* ]] || fail "baton-notion --version says '$conn_said', the label $conn_version"
[[ "$mock_said" == *"$mock_version"* ]] || fail "notion-scim-mock --version says '$mock_said', the label $mock_version"

echo "== the emulation from its image (a random port on 127.0.0.1)"
token="check-images-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
in_image "$mock_root" NOTION_SCIM_MOCK_TOKEN="$token" -- /notion-scim-mock serve --addr 127.0.0.1:0 \
  --seed 11 --users 150 --groups 12 >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
port=
for _ in $(seq 1 100); do
  port="$(sed -n 's|^notion-scim-mock listening on http://127.0.0.1:\([0-9]*\)/scim/v2$|\1|p' "$work/mock.out")"
  [[ -n "$port" ]] && break
  kill -0 "$mock_pid" 2>/dev/null || fail "the emulation exited: $(cat "$work/mock.err")"
  sleep 0.1
done
[[ -n "$port" ]] || fail "the emulation did not say where it listens"
base_url="http://localhost:$port/scim/v2"
echo "listening: $base_url"

echo "== a one-shot sync by the connector from its image"
in_image "$conn_root" BATON_SCIM_TOKEN="$token" -- /baton-notion --base-url "$base_url" \
  >"$work/sync.out" 2>"$work/sync.err" || fail "the sync failed: $(tail -5 "$work/sync.err")"
if grep -qF "$token" "$work/sync.out" "$work/sync.err"; then
  fail "the connector printed its token"
fi
c1z="$conn_root/tmp/sync.c1z"
[[ -s "$c1z" ]] || fail "no sync.c1z in the working directory /tmp"
magic="$(head -c 4 "$c1z")"
[[ "$magic" == C1ZF || "$magic" == C1Z3 ]] || fail "sync.c1z does not start with a c1z magic"
[[ "$(stat -c %u "$c1z")" == "$nonroot" ]] || fail "sync.c1z is not owned by $nonroot"
echo "wrote /tmp/sync.c1z: $(stat -c %s "$c1z") bytes, magic $magic, owner $nonroot; last log line:"
tail -1 "$work/sync.err"

echo "== notion-conformance's sync suite: the image's connector against the image's emulation"
# The runner hands the connector files under its own temporary directory; that directory is
# shared with the chroot at the same path, and handed to user 65532 as a pod's volume would be.
share="$work/share"
mkdir -p "$share"
cat >"$work/connector-in-image" <<WRAPPER
#!/usr/bin/env bash
# baton-notion as its image runs it (written by scripts/check-images.sh).
set -euo pipefail
prev=
for arg in "\$@"; do
  if [[ "\$prev" == -f ]]; then chown $nonroot:$nonroot "\$(dirname "\$arg")"; fi
  prev="\$arg"
done
$(declare -f in_image)
image_path='$image_path'
nonroot=$nonroot
in_image '$conn_root' \${BATON_SCIM_TOKEN:+"BATON_SCIM_TOKEN=\$BATON_SCIM_TOKEN"} CHECK_IMAGES_SHARE='$share' -- /baton-notion "\$@"
WRAPPER
chmod 0700 "$work/connector-in-image"
TMPDIR="$share" NOTION_CONFORMANCE_TOKEN="$token" "$dist/notion-conformance" run \
  --connector "$work/connector-in-image" --target "$base_url" --allow-writes --test-domain check-images.example.com \
  --suite sync | tee "$work/conformance.out" ||
  fail "the conformance sync suite failed against the images"
summary="$(tail -1 "$work/conformance.out")"
if ! [[ "$summary" =~ ^conformance:\ ([0-9]+)\ passed,\ 0\ failed ]] || ((BASH_REMATCH[1] == 0)); then
  fail "the conformance run passed no case: $summary"
fi

echo "== service mode from the image: the daemon against a fake ConductorOne, probed as the Deployment probes it"
# The fake runs outside the image (it stands for ConductorOne); its CA goes to the shared folder,
# which the image's process sees at the same path. The probes are the manifests' exec probes.
"$dist/notion-conformance" fake-c1 --ca-out "$share/c1-ca.pem" >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
for _ in $(seq 1 100); do
  grep -q '^export SSL_CERT_FILE=' "$work/fake.out" 2>/dev/null && break
  kill -0 "$fake_pid" 2>/dev/null || fail "the fake ConductorOne exited: $(cat "$work/fake.err")"
  sleep 0.1
done
said() { sed -n "s|^export $1=||p" "$work/fake.out" | head -1; }
admin="$(sed -n 's|^fake-c1: admin API on \(http://[0-9.:]*\)$|\1|p' "$work/fake.out" | head -1)"
[[ -n "$admin" && -n "$(said BATON_CLIENT_ID)" ]] || fail "the fake ConductorOne did not print its credentials"
chmod 0755 "$share" && chmod 0644 "$share/c1-ca.pem"
in_image "$conn_root" BATON_CLIENT_ID="$(said BATON_CLIENT_ID)" BATON_CLIENT_SECRET="$(said BATON_CLIENT_SECRET)" \
  BATON_C1_API_HOST="$(said BATON_C1_API_HOST)" SSL_CERT_FILE="$share/c1-ca.pem" BATON_SCIM_TOKEN="$token" \
  BATON_HEALTH_CHECK=true BATON_HOST_ID=check-images CHECK_IMAGES_SHARE="$share" -- /baton-notion --base-url "$base_url" \
  >"$work/daemon.out" 2>"$work/daemon.err" &
daemon_pid=$!
ready=
for _ in $(seq 1 150); do
  if in_image "$conn_root" -- /baton-notion health-check --endpoint=ready >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited: $(tail -5 "$work/daemon.err")"
  sleep 0.2
done
[[ -n "$ready" ]] || fail "the daemon never answered the readiness probe"
for endpoint in live health; do
  in_image "$conn_root" -- /baton-notion health-check --endpoint="$endpoint" >/dev/null ||
    fail "the $endpoint probe failed against the running daemon"
done
"$dist/notion-conformance" fake-c1 task --admin "$admin" sync >/dev/null || fail "could not queue a sync task"
finished=
for _ in $(seq 1 300); do
  finished="$("$dist/notion-conformance" fake-c1 tasks --admin "$admin" | python3 -c '
import json, sys
tasks = json.load(sys.stdin)
tasks = tasks if isinstance(tasks, list) else list(tasks.values())
done = [t for t in tasks if t.get("finish")]
print("yes" if done and done[0]["finish"]["success"] else ("failed: " + done[0]["finish"]["message"] if done else ""))
')" || true
  [[ -n "$finished" ]] && break
  sleep 0.2
done
[[ "$finished" == yes ]] || fail "the sync task did not finish successfully: ${finished:-not finished}"
# $daemon_pid is the background shell running in_image; the daemon is its child, and the
# shell's status is the daemon's.
pkill -TERM -P "$daemon_pid" || fail "no daemon process under $daemon_pid"
wait "$daemon_pid" || fail "the daemon did not exit 0 on SIGTERM: $(tail -3 "$work/daemon.err")"
daemon_pid=
if grep -qF -e "$token" -e "$(said BATON_CLIENT_SECRET)" "$work/daemon.out" "$work/daemon.err"; then
  fail "the daemon printed a secret"
fi
echo "service mode: ready, live and health probes answered; a sync task finished; SIGTERM exit 0"

echo "check-images: OK ($conn_archive, $mock_archive)"
