#!/usr/bin/env bash
# Provision a real Docker engine, the buildx plugin and a local registry on a
# Debian 12 (bookworm) machine, as root, using only Debian's archive.
#
# - bookworm packages: runc, tini (tini-static is docker-init), iptables, docker-registry, gpg,
#   busybox-static, debootstrap, curl, chromium and chromium-driver (the browser tests).
# - engine: Debian 13 (trixie) docker.io 26 + containerd 1.7 + docker-buildx,
#   downloaded with a private apt setup and unpacked with `dpkg -x` into
#   $ENGINE_ROOT (never installed: bookworm's libc stays untouched). Bookworm's
#   docker.io 20.10 is too old: its BuildKit rejects bake's `target:` contexts.
# - cosign 2 from trixie, unpacked the same way into $TOOLS_ROOT, linked into /usr/local/bin.
# - dockerd runs with the containerd image store (needed for registry cache).
# - a registry on 127.0.0.1:5000 and a fixture image zone-fixture/busybox:latest.
#
# Idempotent: every step checks first, so a second run takes a few seconds and
# never restarts a running engine. Exits non-zero when the engine can't start.
#
# Usage: bash .ci/provision-docker.sh
set -euo pipefail

ENGINE_ROOT=${ZONE_ENGINE_ROOT:-/opt/zone-engine}
CONF_DIR=/etc/zone-engine
LOG_DIR=/var/log/zone-engine
CACHE_DIR=/var/cache/zone-engine
REGISTRY_DIR=/var/lib/zone-registry
REGISTRY_ADDR=127.0.0.1:5000
SOCKET=/var/run/docker.sock
FIXTURE_IMAGE=zone-fixture/busybox:latest
DEBIAN_IMAGE=zone-fixture/debian:bookworm
# chromium + chromium-driver: the image tests' browser tests (tests/general/test_browser.py).
APT_PACKAGES=(runc tini iptables docker-registry busybox-static debootstrap curl gpg
  chromium chromium-driver)
TRIXIE_PACKAGES=(docker.io containerd docker-buildx)
ENGINE_BINS=(usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd
  usr/bin/containerd-shim-runc-v2 usr/libexec/docker/cli-plugins/docker-buildx)
# Tools beside the engine, unpacked the same way into a root of their own.
TOOLS_ROOT=${ZONE_TOOLS_ROOT:-/opt/zone-tools}
TRIXIE_TOOLS=(cosign)
TOOLS_BINS=(usr/bin/cosign)
BUILDX_DEST="${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins/docker-buildx"
ENGINE_TIMEOUT=${ZONE_ENGINE_TIMEOUT:-60}

# Always talk to the engine this script manages, whatever the caller's env says.
export DOCKER_HOST="unix://$SOCKET"
unset DOCKER_CONTEXT
export DEBIAN_FRONTEND=noninteractive

T0=$EPOCHREALTIME
TMP_DIRS=()
trap 'rm -rf "${TMP_DIRS[@]}"' EXIT

# ---------------------------------------------------------------- helpers
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
log() { printf '[provision-docker +%ss] %s\n' "$(elapsed "$T0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run one named step and report how long it took.
step() {
  local name=$1 t
  shift
  t=$EPOCHREALTIME
  "$@"
  log "$name: done in $(elapsed "$t")s"
}

make_tmp() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/zone-provision.XXXXXX"); TMP_DIRS+=("$d"); echo "$d"; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
registry_answers() { curl -fsS -o /dev/null --max-time 3 "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

# ---------------------------------------------------------------- steps
check_root() {
  [[ $EUID -eq 0 ]] || die "must run as root (it installs packages and starts dockerd)"
  command -v docker >/dev/null || die "docker CLI not found on PATH (expected /usr/local/bin/docker)"
}

# Serialise concurrent runs (CI and a developer); the fd is closed for daemons.
take_lock() {
  mkdir -p /run/lock
  exec 9>/run/lock/zone-provision-docker.lock
  flock -w 600 9 || die "another provision-docker.sh run holds the lock for 10 minutes"
}

# Print the APT_PACKAGES that dpkg does not list as installed.
missing_apt_packages() {
  local p status
  for p in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || echo "$p"
  done
}

install_apt_packages() {
  local missing
  mapfile -t missing < <(missing_apt_packages)
  if ((${#missing[@]} == 0)); then
    log "bookworm packages already installed"
    return
  fi
  log "installing from bookworm: ${missing[*]}"
  # Third-party sources in sources.list.d may be unreachable: apt only warns.
  apt-get update -qq >"$LOG_DIR/apt-update.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/apt-update.log" >&2; die "apt-get update failed"; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/apt-install.log" >&2; die "apt-get install failed"; }
}

# The Debian mirror this machine already uses (same host, other suite).
debian_mirror() {
  local uri
  if [[ -n ${ZONE_DEBIAN_MIRROR:-} ]]; then echo "$ZONE_DEBIAN_MIRROR"; return; fi
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[[:space:]]*#/ {next}
         /^URIs:/ {for (i = 2; i <= NF; i++) print $i}
         /^deb[[:space:]]/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) {print $i; break}}' |
    grep -E '/debian/?$' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Every one of a root's binaries is there: unpacked(ROOT BIN...).
unpacked() {
  local root=$1 b
  shift
  for b in "$@"; do [[ -x $root/$b ]] || return 1; done
}

# Download trixie packages with a private apt state, unpack them into a staging dir,
# then move it into place (a half-done run leaves nothing behind).
# unpack_trixie ROOT "PACKAGE ..." "BIN ..." (BINs relative to ROOT prove it is done).
unpack_trixie() {
  local root=$1 packages bins
  read -r -a packages <<<"$2"
  read -r -a bins <<<"$3"
  if unpacked "$root" "${bins[@]}"; then
    log "trixie ${packages[*]} already unpacked in $root"
    return
  fi
  local mirror apt_dir debs stage deb
  mirror=$(debian_mirror)
  log "downloading ${packages[*]} from $mirror trixie"
  apt_dir=$CACHE_DIR/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    >"$apt_dir/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::Cache::Archives=$apt_dir/cache/archives" -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts=/dev/null -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq >"$LOG_DIR/apt-trixie.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/apt-trixie.log" >&2; die "apt-get update (trixie) failed"; }
  debs=$(make_tmp)
  (cd "$debs" && apt-get "${apt_opts[@]}" download "${packages[@]}") >>"$LOG_DIR/apt-trixie.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/apt-trixie.log" >&2; die "apt-get download (trixie) failed"; }
  stage=$root.new  # we hold the lock: a fixed name lets a later run clean up
  rm -rf "$stage"
  for deb in "$debs"/*.deb; do
    log "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$stage"
  done
  rm -rf "$root"
  mv "$stage" "$root"
  unpacked "$root" "${bins[@]}" || die "unpacked trixie packages lack one of: ${bins[*]}"
}

fetch_trixie_engine() {
  unpack_trixie "$ENGINE_ROOT" "${TRIXIE_PACKAGES[*]}" "${ENGINE_BINS[*]}"
}

# cosign (image signatures and SBOM attestations), on PATH for the runner and its tests.
install_cosign() {
  unpack_trixie "$TOOLS_ROOT" "${TRIXIE_TOOLS[*]}" "${TOOLS_BINS[*]}"
  ln -sfn "$TOOLS_ROOT/usr/bin/cosign" /usr/local/bin/cosign
  cosign version >/dev/null 2>&1 || die "'cosign version' fails ($TOOLS_ROOT/usr/bin/cosign)"
}

# docker.io ships usr/bin/docker-init -> tini-static, a relative link that dangles
# in the private root: point it at bookworm's /usr/bin/tini-static (from tini).
link_docker_init() {
  [[ -x /usr/bin/tini-static ]] || die "/usr/bin/tini-static missing (package tini)"
  ln -sfn /usr/bin/tini-static "$ENGINE_ROOT/usr/bin/docker-init"
}

# Per-user plugin dir on purpose: tests hide buildx by pointing DOCKER_CONFIG elsewhere.
install_buildx() {
  local src=$ENGINE_ROOT/usr/libexec/docker/cli-plugins/docker-buildx
  if ! cmp -s "$src" "$BUILDX_DEST"; then
    install -D -m 0755 "$src" "$BUILDX_DEST"
    log "installed buildx plugin to $BUILDX_DEST"
  fi
  docker buildx version >/dev/null 2>&1 || die "'docker buildx version' fails with $BUILDX_DEST"
}

# Rewrite the file only when its content changes (keeps mtimes stable).
write_if_changed() {
  local file=$1 content=$2
  if [[ ! -f $file || $(<"$file") != "$content" ]]; then
    printf '%s\n' "$content" >"$file"
  fi
}

write_configs() {
  write_if_changed "$CONF_DIR/daemon.json" '{
  "features": { "containerd-snapshotter": true }
}'
  write_if_changed "$CONF_DIR/registry.yml" "version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR"
}

# Alive and not a zombie (a killed dockerd may linger unreaped for a moment).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] ]]
}

# A dockerd from an earlier run that is alive but not answering yet.
dockerd_pid() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] && alive "$pid" && echo "$pid"
}

engine_failed() {
  log "ERROR: $1"
  log "last 30 lines of $LOG_DIR/dockerd.log:"
  tail -n 30 "$LOG_DIR/dockerd.log" >&2 || true
  exit 1
}

# Poll `docker info`; 1 if dockerd PID died first, 2 on timeout.
wait_for_engine() {
  local pid=$1 deadline=$((SECONDS + ENGINE_TIMEOUT))
  until engine_answers; do
    alive "$pid" || return 1
    ((SECONDS < deadline)) || return 2
    sleep 0.5
  done
}

launch_dockerd() {
  [[ -f $LOG_DIR/dockerd.log ]] && mv -f "$LOG_DIR/dockerd.log" "$LOG_DIR/dockerd.log.1"
  log "starting dockerd (log: $LOG_DIR/dockerd.log)"
  # Private binaries first: dockerd looks up containerd, the shim, docker-proxy,
  # runc (bookworm's) and docker-init (-> tini-static) on PATH.
  PATH="$ENGINE_ROOT/usr/sbin:$ENGINE_ROOT/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH" \
    setsid dockerd --config-file "$CONF_DIR/daemon.json" --host "unix://$SOCKET" \
    </dev/null >"$LOG_DIR/dockerd.log" 2>&1 9>&- &
  DOCKERD_PID=$!
}

start_engine() {
  local pid rc=0
  if engine_answers; then
    log "engine already answers on $SOCKET"
    check_image_store
    return
  fi
  pid=$(dockerd_pid || true)
  if [[ -n $pid ]]; then
    log "dockerd (pid $pid) is running but not answering yet; waiting"
    wait_for_engine "$pid" || rc=$?
    ((rc != 2)) || engine_failed "dockerd (pid $pid) did not answer 'docker info' within ${ENGINE_TIMEOUT}s"
  fi
  if [[ -z $pid || $rc -eq 1 ]]; then
    launch_dockerd
    rc=0
    wait_for_engine "$DOCKERD_PID" || rc=$?
    ((rc != 1)) || engine_failed "dockerd exited before answering 'docker info'"
    ((rc != 2)) || engine_failed "dockerd did not answer 'docker info' within ${ENGINE_TIMEOUT}s"
  fi
  log "engine answers: $(docker version --format 'server {{.Server.Version}}')"
  check_image_store
}

# An engine started elsewhere may lack the containerd image store: say so.
check_image_store() {
  if ! docker info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; then
    log "WARNING: the running engine does not use the containerd image store;" \
      "registry build cache will not work (restart it with $CONF_DIR/daemon.json)"
  fi
}

start_registry() {
  if registry_answers; then
    log "registry already answers at http://$REGISTRY_ADDR/v2/"
    return
  fi
  mkdir -p "$REGISTRY_DIR"
  log "starting docker-registry on $REGISTRY_ADDR (log: $LOG_DIR/registry.log)"
  setsid docker-registry serve "$CONF_DIR/registry.yml" \
    </dev/null >"$LOG_DIR/registry.log" 2>&1 9>&- &
  local pid=$! deadline=$((SECONDS + 20))
  until registry_answers; do
    if ! alive "$pid" || ((SECONDS >= deadline)); then
      tail -n 30 "$LOG_DIR/registry.log" >&2 || true
      die "docker-registry did not answer at http://$REGISTRY_ADDR/v2/"
    fi
    sleep 0.3
  done
}

# A tiny offline image: static busybox plus one relative symlink per applet.
build_fixture_image() {
  if docker image inspect "$FIXTURE_IMAGE" >/dev/null 2>&1; then
    log "$FIXTURE_IMAGE already exists"
    return
  fi
  local root applet
  root=$(make_tmp)/rootfs
  mkdir -p "$root"/{bin,etc,root,tmp,var/tmp,proc,sys,dev,usr}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp /bin/busybox "$root/bin/busybox"
  # Not `busybox --install -s`: its links would point at this temp dir's path.
  for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  ln -s bin "$root/sbin"
  ln -s ../bin "$root/usr/bin"
  ln -s ../bin "$root/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/sh"]' - "$FIXTURE_IMAGE" >/dev/null
  log "imported $FIXTURE_IMAGE"
}

# --init also proves dockerd finds docker-init.
# A Debian 12 root image for tests that need bash, python3 and a real init/user set-up
# (image scripts, the JupyterLab stand-in): debootstrap from Debian's archive, imported.
build_debian_image() {
  if docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    log "$DEBIAN_IMAGE already exists"
    return
  fi
  local root
  root=$(make_tmp)/rootfs
  debootstrap --variant=minbase --include=python3,python3-venv,procps,ca-certificates \
    bookworm "$root" "$(debian_mirror)" >"$LOG_DIR/debootstrap.log" 2>&1 ||
    die "debootstrap failed (log: $LOG_DIR/debootstrap.log)"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" --numeric-owner -cf - . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" >/dev/null
  log "imported $DEBIAN_IMAGE"
}

smoke_test() {
  local out
  out=$(docker run --rm --init "$FIXTURE_IMAGE" sh -c 'echo ok' 2>&1) ||
    engine_failed "'docker run $FIXTURE_IMAGE' failed: $out"
  [[ $out == ok ]] || engine_failed "'docker run $FIXTURE_IMAGE' printed '$out', expected 'ok'"
}

main() {
  check_root
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$CACHE_DIR"
  take_lock
  step "bookworm packages" install_apt_packages
  step "trixie engine" fetch_trixie_engine
  link_docker_init
  step "cosign" install_cosign
  step "buildx plugin" install_buildx
  write_configs
  step "engine" start_engine
  step "registry" start_registry
  step "fixture image" build_fixture_image
  step "debian image" build_debian_image
  step "smoke test" smoke_test
  log "ready: engine $SOCKET, buildx $BUILDX_DEST, registry http://$REGISTRY_ADDR"
}

main "$@"
