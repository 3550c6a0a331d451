# Sourced by the benchmark scripts that drive a given hangar binary against docker-registry
# processes of their own (delta.sh, inventory.sh). After `cd` to the checkout's root, call
# `bench_setup NAME TOOL...`; it sets:
#   root     the checkout
#   hangar   HANGAR_BIN (default target/release/hangar), made absolute and checked
#   build    "debug" or "release" (HANGAR_BENCH_BUILD, else guessed from hangar's path)
#   work     a fresh directory on tmpfs (disk flushes would measure the VM, not the tools),
#            removed on exit unless HANGAR_BENCH_KEEP=1; the script then runs in it
#   measures $work/measures.env, filled by `record NAME VALUE`
# and stops every registry `start_registry` started, by PID, on exit.

bench_setup() {
  local name=$1 tool
  shift
  root=$PWD
  hangar=${HANGAR_BIN:-target/release/hangar}
  case "$hangar" in /*) ;; *) hangar="$root/$hangar" ;; esac
  [ -x "$hangar" ] || { echo "no hangar binary at $hangar (set HANGAR_BIN)" >&2; exit 1; }
  build=${HANGAR_BENCH_BUILD:-}
  if [ -z "$build" ]; then
    case "$hangar" in */debug/*) build=debug ;; *) build=release ;; esac
  fi
  for tool in docker-registry python3 "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
  done
  work=$(mktemp -d "/dev/shm/hangar-$name.XXXXXX")
  registry_pids=()
  trap bench_cleanup EXIT
  cd "$work"
  measures="$work/measures.env"
  : > "$measures"
}

bench_cleanup() {
  local pid
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${registry_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${HANGAR_BENCH_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}

record() { echo "$1=$2" >> "$measures"; }

# start_registry NAME VAR [CONFIG...]: a docker-registry on a free 127.0.0.1 port, storage in
# $work/NAME, its log (warnings, and the access log) in $work/NAME.log, extra top-level CONFIG
# lines appended; sets VAR to its host:port and VAR_pid to its PID once it answers.
start_registry() {
  local name=$1 var=$2 port line
  shift 2
  port=$(python3 "$root/bench/delta_images.py" free-port)
  mkdir -p "$work/$name"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage: {filesystem: {rootdirectory: $work/$name}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$port, secret: x}"
    for line in "$@"; do echo "$line"; done
  } > "$work/$name.yml"
  docker-registry serve "$work/$name.yml" > "$work/$name.log" 2>&1 &
  registry_pids+=($!)
  printf -v "${var}_pid" '%s' "$!"
  python3 "$root/bench/delta_images.py" wait-registry "127.0.0.1:$port"
  printf -v "$var" '%s' "127.0.0.1:$port"
}
