#!/usr/bin/env bash
# The published edition: the whole book at `full` on one GPU machine, in one call.
#
#   here (with PyPI):  scripts/gpu_edition.sh wheels
#       cp312 wheels of what the GPU machine lacks (papermill, ipykernel, mnist1d and what
#       they pull in, minus what its image already has; never torch) into wheels/, plus
#       wheels/COMMIT (the commit of this tree, "+dirty" if overparam/ or notebooks/ differ).
#   GPU machine:       scripts/gpu_edition.sh device        ($OUT must be set)
#       installs from wheels/ only (--no-index), runs every chapter at `full` on cuda with
#       --jobs, within a time budget, publishes what finished and writes it under $OUT as
#       published.tgz.NN (parts of at most 15 MiB) with the log gpu_edition.log.
#   here, afterwards:  scripts/gpu_edition.sh unpack DIR    (DIR: where $OUT came back)
#       merges the edition into book/published/; then
#       `python -m overparam book --edition published` builds its HTML (nothing runs).
#
# Variables (device step): PROFILE (full), DEVICE (cuda), JOBS (8), BUDGET (seconds for the
# chapters, 480: a device call lasts at most 600 s, install and packing included), CHAPTERS
# (default: all), INSTALL (1; 0 = use this interpreter's packages, for a test on a CPU),
# PYTHON (.venv/bin/python here, python3 there), ROOT (the project, default: this checkout).
# A chapter still running when the budget ends is stopped and recorded as `missing` in
# book/published/edition.json; its older published files, if any, stay.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${ROOT:-$HERE}"
# This checkout's venv where there is one (here), else the machine's python3 (GPU machine).
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$HERE/.venv/bin/python" ]; then PYTHON="$HERE/.venv/bin/python"; else PYTHON=python3; fi
fi
WHEELS="${WHEELS:-$HERE/wheels}"
# What papermill needs to execute the chapters and the package needs beyond the GPU image.
NEEDED="papermill ipykernel mnist1d"
# Packages of the GPU machine's image (device README, KINDS.md, read 2026-11-17): not carried.
IMAGE="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops
equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio
h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig
interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions
nanobind narwhals networkx ninja numba numba-cuda numpy numpyro onnx onnx-ir onnxruntime
onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson
six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq
torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash
yarl zipp"

say() { echo "[gpu_edition $(date -u +%H:%M:%S)] $*"; }

norm() {  # distribution name of a wheel file, normalised (PEP 503: lower case, runs of -_. -> -)
  basename "$1" | cut -d- -f1 | tr 'A-Z_.' 'a-z--'
}

wheels() {
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  "$PYTHON" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any \
    -c "$HERE/constraints.txt" -d "$WHEELS" $NEEDED
  local kept=0 dropped=0
  for w in "$WHEELS"/*.whl; do
    case " $(echo $IMAGE) " in
      *" $(norm "$w") "*) rm "$w"; dropped=$((dropped + 1)) ;;
      *) kept=$((kept + 1)) ;;
    esac
  done
  local sha dirty=""
  sha="$(git -C "$HERE" rev-parse HEAD)"
  [ -n "$(git -C "$HERE" status --porcelain -- overparam notebooks)" ] && dirty="+dirty"
  echo "$sha$dirty" >"$WHEELS/COMMIT"
  say "wheels: kept $kept, dropped $dropped that the GPU image has; $(du -sh "$WHEELS" | cut -f1) in $WHEELS"
  say "commit $sha$dirty (wheels/COMMIT); commit first if that says dirty"
}

install() {
  # Only from the carried wheels: the GPU machine reaches no index. The resolver keeps the
  # image's packages and installs the rest; if it cannot, every wheel goes in as it is.
  if ! "$PYTHON" -m pip install -q --no-index --no-cache-dir --find-links "$WHEELS" $NEEDED; then
    say "resolver install failed; installing every carried wheel without resolving"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-cache-dir --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e "$ROOT" \
    || say "editable install failed; the package is imported from $ROOT (PYTHONPATH)"
  "$PYTHON" -m ipykernel install --sys-prefix --name python3 >/dev/null
}

device() {
  : "${OUT:?set OUT to the folder whose files come back}"
  local profile="${PROFILE:-full}" device="${DEVICE:-cuda}" jobs="${JOBS:-8}" budget="${BUDGET:-480}"
  local cores; cores="$(nproc)"
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/gpu_edition.log") 2>&1
  local t0; t0="$(date +%s)"
  say "profile=$profile device=$device jobs=$jobs budget=${budget}s cores=$cores root=$ROOT"
  command -v nvidia-smi >/dev/null && nvidia-smi -L || true
  if [ "${INSTALL:-1}" = 1 ]; then install; say "installed in $(( $(date +%s) - t0 )) s"; fi
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  [ -f "$WHEELS/COMMIT" ] && export OVERPARAM_COMMIT="$(cat "$WHEELS/COMMIT")"
  # A fresh result store: the edition is computed from scratch, never from stored grid points.
  export OVERPARAM_RESULTS="${OVERPARAM_RESULTS:-$(mktemp -d)/results}"
  # Chapters share the cores: each kernel gets its part (cores / jobs, at least one).
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / jobs > 0 ? cores / jobs : 1 ))}"
  export PYTHONUNBUFFERED=1
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')"
  local rc=0 t1; t1="$(date +%s)"
  # `timeout` signals its whole process group: the runner, its workers and their kernels.
  # shellcheck disable=SC2086
  timeout -k 15 "$budget" "$PYTHON" -m overparam --root "$ROOT" run ${CHAPTERS:-} \
    --profile "$profile" --device "$device" --jobs "$jobs" --force || rc=$?
  [ "$rc" = 124 ] && say "the budget of ${budget}s ended the run; unfinished chapters are recorded as missing"
  say "chapters: exit $rc after $(( $(date +%s) - t1 )) s"
  local stage; stage="$(mktemp -d)"
  # shellcheck disable=SC2086
  "$PYTHON" -m overparam --root "$ROOT" publish ${CHAPTERS:-} --dest "$stage/published"
  tar -czf - -C "$stage" published | split -b 15m -d - "$OUT/published.tgz."
  say "wrote $(ls "$OUT" | grep -c '^published.tgz') part(s), $(du -ch "$OUT"/published.tgz.* | tail -1 | cut -f1), in $(( $(date +%s) - t0 )) s"
  "$PYTHON" - "$stage/published/edition.json" <<'EOF'
import json, sys
ed = json.load(open(sys.argv[1]))
print(f"{'chapter':<24} {'status':<8} {'profile':<8} {'seconds':>8}")
for name, e in ed["chapters"].items():
    d = e.get("duration_s")
    print(f"{name:<24} {e['status']:<8} {e.get('profile', ''):<8} {'' if d is None else f'{d:8.1f}'}")
EOF
}

unpack() {
  local from="${1:?usage: scripts/gpu_edition.sh unpack DIR (the folder \$OUT came back to)}"
  local tmp; tmp="$(mktemp -d)"
  cat "$from"/published.tgz.* | tar -xzf - -C "$tmp"
  "$PYTHON" -m overparam --root "$ROOT" publish --from "$tmp/published"
  rm -rf "$tmp"
  say "merged into $ROOT/book/published; build it with: python -m overparam book --edition published"
}

case "${1:-}" in
  wheels) wheels ;;
  device) device ;;
  unpack) shift; unpack "$@" ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
