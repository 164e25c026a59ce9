#!/bin/sh
# fpq: the `fpq` command on PATH. The binary lives in the installed package
# (flowerpower_job_queue/bin/fpq, beside the libraries the wheel bundles); pip puts this
# script in the environment's bin directory. It finds the package next to itself (a
# virtual environment, --user, a system or --prefix install) and otherwise asks the
# Python beside it, then runs the binary in its place: nothing stays in between.
# Only shell builtins on the usual path: this runs before every fpq command.
self=$0
[ -L "$self" ] && self=$(readlink -f "$self")
case $self in */*) bin=${self%/*} ;; *) bin=. ;; esac
# The executors run on this environment's Python unless FPQ_PYTHON says otherwise.
if [ -z "${FPQ_PYTHON:-}" ] && [ -x "$bin/python3" ]; then
  FPQ_PYTHON=$bin/python3
  export FPQ_PYTHON
fi
for fpq in "$bin"/../lib/python3*/site-packages/flowerpower_job_queue/bin/fpq \
           "$bin"/../lib/python3*/dist-packages/flowerpower_job_queue/bin/fpq \
           "$bin"/../lib64/python3*/site-packages/flowerpower_job_queue/bin/fpq; do
  [ -x "$fpq" ] && exec "$fpq" "$@"
done
for python in "$bin/python3" "$bin/python" python3; do
  fpq=$("$python" -c 'import importlib.util, os
spec = importlib.util.find_spec("flowerpower_job_queue")
print(os.path.join(os.path.dirname(spec.origin), "bin", "fpq"))' 2>/dev/null) &&
    [ -x "$fpq" ] && exec "$fpq" "$@"
done
echo "fpq: flowerpower_job_queue/bin/fpq not found beside $bin: reinstall flowerpower-job-queue" >&2
exit 127
