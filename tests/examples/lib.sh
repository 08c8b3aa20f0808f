# Shared by the example tests: run the programs as a user would, in the
# background with their output in files, wait for lines, stop them with
# Ctrl-C (SIGINT) and check they exit cleanly. Sourced with the build
# directory as $1; tests run inside tests/support/with-btvirt, so
# $UVBLE_TRANSPORT names a fresh virtual controller for every program.
set -u
BIN=${1:?usage: test.sh BUILD_DIR}
EX=$BIN/examples
UVBLE=$BIN/uvble
: "${UVBLE_TRANSPORT:?run inside tests/support/with-btvirt}"
T=$(mktemp -d "${TMPDIR:-/tmp}/uvble-examples.XXXXXX")
# Every program gets at most this long; a hung test still ends.
LIMIT=${UVBLE_EXAMPLE_LIMIT:-150}
declare -A PID=()

dump() {
  local f
  for f in "$T"/*.out "$T"/*.err; do
    [[ -s $f ]] || continue
    echo "---- ${f##*/} (last 40 lines)"
    tail -n 40 "$f"
  done
}

fail() {
  echo "FAIL: $*" >&2
  dump >&2
  exit 1
}

# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
  local status=$? p
  trap - EXIT INT TERM
  for p in "${PID[@]}"; do kill -INT "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for p in "${PID[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# start NAME COMMAND [ARGS...]: runs it in the background (stdin from
# /dev/null unless NAME_STDIN is set), stdout in $T/NAME.out, stderr in
# $T/NAME.err.
start() {
  local name=$1
  shift
  local in=/dev/null
  local var=${name}_STDIN
  [[ -n ${!var:-} ]] && in=${!var}
  # --foreground: timeout(1) passes a signal to the program only. Without
  # it, it also sends the signal and a SIGCONT to the whole process group;
  # a late SIGCONT that lands while LeakSanitizer stops the exiting
  # program's threads (ptrace, SIGSTOP) cancels the stop and leaves the
  # leak check waiting for ever, until the kill timer (status 137).
  local env=()
  if [[ -n ${UVBLE_LL_TRANSPORTS:-} && "$*" == *"$BIN/"* ]]; then
    ll_take "$name"
    env=(env "UVBLE_TRANSPORT=$LL_T")
  fi
  timeout --foreground -k 15 "$LIMIT" "${env[@]}" "$@" <"$in" >"$T/$name.out" 2>"$T/$name.err" &
  PID[$name]=$!
}

# On Zephyr's link layer (tests/support/with-zephyr-ll) a controller is a
# PTY that one program opens at a time: start() gives each of our programs
# a free one (ll_take NAME sets LL_T), stop() and finish() give it back.
declare -A LL_HOLDER=()
LL_T=
ll_take() {
  local t
  for t in $UVBLE_LL_TRANSPORTS; do
    if [[ -z ${LL_HOLDER[$t]:-} ]]; then
      LL_HOLDER[$t]=$1
      LL_T=$t
      return
    fi
  done
  fail "$1: every simulated controller is in use ($UVBLE_LL_TRANSPORTS)"
}
ll_give() {
  local t
  for t in "${!LL_HOLDER[@]}"; do
    [[ ${LL_HOLDER[$t]} == "$1" ]] && unset "LL_HOLDER[$t]"
  done
}

# wait_for FILE REGEX [SECONDS [COUNT]]: until FILE has COUNT lines (default
# 1) matching the extended REGEX.
wait_for() {
  local file=$1 re=$2 secs=${3:-30} count=${4:-1}
  local deadline=$((SECONDS + secs))
  while :; do
    local n
    n=$(grep -cE -- "$re" "$file" 2>/dev/null) || n=0
    ((n >= count)) && return 0
    ((SECONDS >= deadline)) && fail "no $count line(s) matching /$re/ in ${file##*/} after ${secs}s"
    sleep 0.1
  done
}

# signal NAME SIG: sends SIG to the program itself (timeout(1), which runs
# it, would forward the first signal only, and then arm its kill timer).
signal() {
  pkill -"$2" -P "${PID[$1]}" || fail "no process to signal for $1"
}

# stop NAME: Ctrl-C, then the program must exit 0 within 10 s (a clean exit:
# under the sanitizers a leak or an error makes it non-zero).
stop() {
  local name=$1 pid=${PID[$1]} status
  kill -INT "$pid" 2>/dev/null
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # UVBLE_DEBUG_STOP=1: wait on (up to 2 min) to tell slow from hung.
  if kill -0 "$pid" 2>/dev/null && [[ -n ${UVBLE_DEBUG_STOP:-} ]]; then
    local t0=$SECONDS
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < 120)); do sleep 0.2; done
    echo "DEBUG: $name exited $((SECONDS - t0 + 10)) s after Ctrl-C" >&2
  fi
  if kill -0 "$pid" 2>/dev/null; then
    # Evidence for a hang: where the program is (timeout(1) runs it).
    local child
    for child in $(pgrep -P "$pid"); do
      echo "---- $name (pid $child) state: $(awk '/^State/ {print $2, $3}' "/proc/$child/status" 2>/dev/null)" >&2
      command -v gdb >/dev/null &&
        timeout 90 gdb -p "$child" -batch -ex "thread apply all bt" >"$T/$name.gdb" 2>&1; grep -E "^(#|Thread)" "$T/$name.gdb" >&2 || tail -n 5 "$T/$name.gdb" >&2
    done
    fail "$name did not exit within 10 s of Ctrl-C"
  fi
  wait "$pid"
  status=$?
  unset "PID[$name]"
  ll_give "$name"
  ((status == 0)) || fail "$name exited with status $status after Ctrl-C"
}

# finish NAME: waits (bounded by LIMIT) for a program that ends by itself;
# returns its exit status.
finish() {
  local name=$1 pid=${PID[$1]} status
  wait "$pid"
  status=$?
  unset "PID[$name]"
  ll_give "$name"
  return "$status"
}

# The address a peripheral example printed ("advertising as ADDR ...").
address_of() {
  wait_for "$T/$1.out" '^advertising as ' 30
  sed -n 's/^advertising as \([0-9a-f:]*\).*/\1/p' "$T/$1.out" | head -n 1
}

# start_broker [CONFIG LINES...]: a Mosquitto broker on loopback on a free
# port (sets $port); extra mosquitto.conf lines may follow (a password
# file, another listener). Needs mosquitto and mosquitto-clients.
start_broker() {
  local tool extra
  for tool in mosquitto mosquitto_sub mosquitto_pub; do
    command -v $tool >/dev/null || fail "$tool not found (apt-get install mosquitto mosquitto-clients)"
  done
  extra=$(printf '%s\n' "$@")
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    # user: run as root, it would drop to "mosquitto", which cannot read $T.
    printf 'listener %d 127.0.0.1\nuser %s\n%s\n' "$port" "$(id -un)" \
      "${extra:-allow_anonymous true}" >"$T/mosquitto.conf"
    start broker mosquitto -c "$T/mosquitto.conf"
    for _ in $(seq 50); do
      grep -q "running\|Error" "$T/broker.err" 2>/dev/null && break
      sleep 0.1
    done
    grep -q " running" "$T/broker.err" && return 0
    kill -KILL "${PID[broker]}" 2>/dev/null # the port was taken: another one
    finish broker
  done
  fail "mosquitto did not start"
}
