#!/usr/bin/env bash
# The demo: a scripted tour of examples/server.cpp, a loopback line server built on halt.
# It starts the server, drives two clients, sends SIGTERM, and shows the ordered shutdown and
# the server's report. Everything stays on 127.0.0.1 and stops by itself.
#
# Usage: bash scripts/demo.sh            (bash scripts/demo.sh --showcase runs the token showcase)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
halt_install_deps cmake make g++ libasio-dev || { echo "demo: missing packages (see above)" >&2; exit 1; }

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
mkdir -p build
echo "demo: configuring the build (CMake, Release) in build/demo"
cmake -S . -B build/demo \
  -DCMAKE_BUILD_TYPE=Release \
  -DHALT_BUILD_TESTS=OFF \
  -DHALT_BUILD_EXAMPLES=ON \
  -DHALT_BUILD_BENCHMARKS=OFF \
  "${launcher[@]}" >build/demo-configure.log 2>&1 \
  || { cat build/demo-configure.log >&2; echo "demo: CMake failed (above)" >&2; exit 1; }

if [ "${1:-}" = "--showcase" ]; then
  cmake --build build/demo --target showcase -j2
  exec build/demo/examples/showcase
fi
echo "demo: compiling examples/server.cpp (about 30 s on 2 cores the first time, seconds after)"
cmake --build build/demo --target server -j2

work="$(mktemp -d)"
server_pid=""
tail_pid=""
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
more() { printf '   %s\n' "$*"; }
client() { printf '    client %s | %s\n' "$1" "$2"; }

say "Starting the server (grace period 1.5 s). It journals every line before acknowledging it."
more "It also runs a 'telemetry' task (aborted at shutdown: it needs no cleanup) and a 'stubborn worker' that ignores the cancel."
build/demo/examples/server --port 0 --journal "$work/journal.txt" --grace-ms 1500 --stubborn \
  >"$work/server.log" 2>&1 &
server_pid=$!
tail -n +1 -f "$work/server.log" | sed -u 's/^/    server   | /' &
tail_pid=$!

port=""
for _ in $(seq 100); do
  port="$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/server.log" | cut -d: -f2 || true)"
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "demo: the server did not start" >&2; exit 1; }
sleep 0.2

say "Client A connects and sends three lines; each 'ok n' means line n is in the journal."
exec 3<>"/dev/tcp/127.0.0.1/$port"
for line in "order 1: two coffees" "order 2: one croissant" "order 3: the bill"; do
  printf '%s\n' "$line" >&3
  read -r -t 5 ack <&3
  client A "sent \"$line\", server answered \"$ack\""
done

say "Client B connects, sends one line, and then stays connected without sending anything."
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'hello from B\n' >&4
read -r -t 5 ack <&4
client B "sent \"hello from B\", server answered \"$ack\""
sleep 0.6

say "Sending SIGTERM to the server. Phase 1: the root token is cancelled; every connection"
more "handler's select sees it, flushes, says goodbye (async, shielded) and ends."
kill -TERM "$server_pid"
read -r -t 5 bye <&3 || bye="(nothing)"
client A "received \"$bye\""
read -r -t 5 bye <&4 || bye="(nothing)"
client B "received \"$bye\""
exec 3<&- 4<&-

say "Phase 2 comes when the grace period runs out: the stubborn worker is aborted."
status=0
wait "$server_pid" || status=$?
server_pid=""
sleep 0.2
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
tail_pid=""

say "The server exited with status $status. Its journal holds every acknowledged line:"
sed 's/^/    journal  | /' "$work/journal.txt"
exit "$status"
