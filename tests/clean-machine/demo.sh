#!/bin/sh
# Runs inside the clean Debian root (tests/clean-machine/run): the demo's enqueue ->
# worker -> result with the installed wheel, on the backend FPQ_BACKEND/FPQ_URL name
# (unset: the embedded SQLite). Plain sh: the root has no bash-only extras to rely on.
#   demo.sh VENV PROJECT
set -eu
venv=$1
project=$2
PATH="$venv/bin:$PATH"
export PATH
say() { echo "  [${FPQ_BACKEND:-sqlite}] $*"; }

# What the engine runs on: the libraries the wheel bundled, none of the root's own.
# (The root has SQLite's and zlib's libraries for its own Python and dpkg; ours must not
# be those.) zlib is linked into both.
fpq_elf=$(python -c 'import flowerpower_job_queue.workers as w; print(w.find_fpq())')
native=$(python -c 'import flowerpower_job_queue._native as n; print(n.__file__)')
for elf in "$fpq_elf" "$native"; do
  for lib in libuv libhiredis libjansson libsqlite3 libyaml; do
    where=$(ldd "$elf" | awk -v lib="$lib" 'index($1, lib) == 1 {print $3}')
    case $where in
      */flowerpower_job_queue.libs/*) ;;
      *) echo "demo: $elf finds $lib at '${where:-nowhere}', not in the wheel" >&2; exit 1 ;;
    esac
  done
  if ldd "$elf" | grep -q 'libz\.so'; then
    echo "demo: $elf loads the root's zlib" >&2; exit 1
  fi
done
say "$(fpq version) at $fpq_elf; fpq and _native load libuv, hiredis, jansson, SQLite, libyaml from the wheel, zlib is inside them"

a=$(fpq enqueue hello --project "$project" --inputs '{"name": "Ada"}')
b=$(fpq enqueue hello --project "$project" --inputs '{"name": "Linus"}' --priority high)
sales=$(python - "$project" <<'PY'
import sys
from flowerpower import FlowerPowerProject
import flowerpower_job_queue  # noqa: F401  (adds enqueue/result to FlowerPowerProject)

print(FlowerPowerProject.load(sys.argv[1]).enqueue("sales", inputs={"days": 5}))
PY
)
say "enqueued $a, $b (fpq) and $sales (project.enqueue)"
log=$project/worker.log # shown only when something fails
fpq worker start --project "$project" --burst --count 2 --quiet 2>"$log" || {
  cat "$log" >&2; exit 1; }
say "burst worker done"
for id in "$a" "$b"; do
  echo "  $(fpq result --project "$project" "id=$id" | tr -s ' \n' ' ')"
done
python - "$project" "$sales" <<'PY'
import sys
from flowerpower import FlowerPowerProject
import flowerpower_job_queue  # noqa: F401

result = FlowerPowerProject.load(sys.argv[1]).result(id=sys.argv[2])
frame = result["daily_sales"]
assert type(frame).__name__ == "DataFrame" and len(frame) == 5, result
print(f"  sales: a DataFrame of {len(frame)} rows, total {result['total']}")
PY
for id in "$a" "$b" "$sales"; do
  fpq status --project "$project" "id=$id" --json | grep -q '"status": *"finished"' || {
    echo "demo: job $id is not finished:" >&2
    fpq status --project "$project" "id=$id" >&2
    exit 1
  }
done
say "enqueue -> worker -> result: 3 jobs finished"
