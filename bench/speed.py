"""What sparsity buys at inference: SmolLM2-135M magnitude-pruned at 50/70/90%, dense vs CSR vs BSR (vs 2:4 on a GPU),
per distinct layer shape and end to end (prefill and per-token greedy decode with the KV cache), with the bytes stored.

    python bench/speed.py                     # the full bench (~10-15 min at 1 thread); writes bench/results/speed.{json,md}
    python bench/speed.py --sparsity 0.9 --layer-repeats 1 --model-repeats 1 --out /tmp/speed   # a smoke run

Every timing is a ratio measured side by side: each round times every format once, in a rotated order, and a speedup
is the median over rounds of (dense time / format time) of the same round (`elsa_wb.speed.interleaved`). The mask
comes from magnitude pruning, but the speed of a sparse matmul depends on the density (and, for BSR and 2:4, on the
block structure), not on which method chose the mask: Wanda, SparseGPT or ELSA masks of the same density cost the same.
Every number in the output is measured in this run; none is typed in here.
"""
from __future__ import annotations
import argparse, gc, json, os, shlex, sys, time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from elsa_wb.models import load_model, prunable, EMBEDDED
from elsa_wb.sparsity import SparsitySpec
from elsa_wb.baselines import magnitude_prune
from elsa_wb.speed import (layer_speed, model_speed, format_model_speed, FORMATS, TOKENS, BLOCKSIZE, PROMPT_TOKENS,
                           NEW_TOKENS, CLOCKS)
from elsa_wb.files import atomic_write, write_json
from elsa_wb.provenance import environment

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m"
SPARSITIES = (0.5, 0.7, 0.9)
LAYER_ROUNDS, MODEL_ROUNDS, MIN_RUN_TIME = 5, 7, 0.05   # sized for ~10 min at one thread (BSR is the slow part)
MODES = ("memory", "cache")   # per shape: round robin over all its matrices (as in a forward pass), or one matrix again and again
NOTE = ("The masks come from magnitude pruning; the speed of a sparse matmul depends on the density (and, for BSR and 2:4, "
        "on the block structure), not on which method chose the mask: Wanda, SparseGPT or ELSA masks of the same density cost the same in CSR.")


def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/speed.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=MODEL, help=f"model (default {MODEL})")
    p.add_argument("--sparsity", nargs="+", type=float, default=list(SPARSITIES), help="magnitude-pruning ratios (default 0.5 0.7 0.9)")
    p.add_argument("--formats", nargs="+", default=list(FORMATS), help=f"any of {', '.join(FORMATS)} (default all; unavailable ones say why)")
    p.add_argument("--tokens", nargs="+", type=int, default=list(TOKENS), help="tokens per layer matmul (default 128 1)")
    p.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS); p.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    p.add_argument("--layer-repeats", type=int, default=LAYER_ROUNDS, help=f"interleaved rounds per layer shape and clock (default {LAYER_ROUNDS})")
    p.add_argument("--model-repeats", type=int, default=MODEL_ROUNDS, help=f"interleaved rounds end to end (default {MODEL_ROUNDS})")
    p.add_argument("--min-run-time", type=float, default=MIN_RUN_TIME, help=f"seconds per layer measurement (default {MIN_RUN_TIME})")
    p.add_argument("--blocksize", type=int, default=BLOCKSIZE, help=f"BSR block (default {BLOCKSIZE})")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder of speed.json and speed.md (default bench/results)")
    return p.parse_args(argv)


def shapes(model) -> dict[tuple, list[str]]:
    "{(out, in): [prunable weight names of that shape]}"
    d = {}
    for n, w in prunable(model).items(): d.setdefault(tuple(w.shape), []).append(n)
    return d


def fmt_x(v, f="{:.2f}"): return "n/a" if v is None else f.format(v)


def summary(models: list) -> list[str]:
    "One line per sparse format: its end-to-end speedups and bytes at every sparsity."
    fmts = dict.fromkeys(f for m in models for f, v in m["formats"].items() if f != "dense" and v["available"])
    return [f"- **{f}** (speedup over dense, bytes x dense): " + "; ".join(
        f"{m['target_sparsity']:.0%}: prefill {v['prefill_speedup']:.2f}x (cpu clock {v['prefill_cpu_speedup']:.2f}x), "
        f"decode {v['decode_token_speedup']:.2f}x ({v['decode_token_cpu_speedup']:.2f}x), bytes {v['bytes_vs_dense']:.2f}"
        for m in models for g, v in m["formats"].items() if g == f and v["available"]) for f in fmts]


def report(rec: dict) -> str:
    p, layers, models = rec["protocol"], rec["layers"], rec["models"]
    fmts = [f for f in p["formats"] if f != "dense" and any(L["formats"][f]["available"] for L in layers)]   # the others: in the notes
    lines = [f"# Speed bench: {p['model']}, dense vs sparse storage", "",
             f"`{rec['command']}` at {rec['git_commit']}, {rec['time']}, {rec['device']}, {rec['threads']} thread(s); "
             f"{rec['seconds']:,.0f} s; load average {rec['load_start']} at the start, {rec['load_end']} at the end "
             f"(the machine was shared: read the ratios, which are measured side by side, not the absolute times). Raw numbers in speed.json.", "",
             NOTE, "", "End to end:", "", *summary(models), "",
             "Speedup = dense time / format time (median over interleaved rounds; above 1: faster than dense), on the wall clock and on the "
             "process's CPU clock (at one thread on a shared machine: the latency without the time slices other processes took). "
             "Bytes = stored bytes / dense bytes (values + int32 indices + row pointers).", "",
             "## Per layer shape", "",
             "`weights from`: *memory*: each call multiplies by the next of the model's matrices of that shape (round robin), as a forward "
             "pass does, so the weights come from RAM; *cache*: one matrix again and again (it stays in the CPU cache). "
             "`bytes`: over all the matrices of that shape.", "",
             "| sparsity | shape (out x in) | matrices | weights from | tokens | " + " | ".join(f"{f} speedup wall / cpu" for f in fmts)
             + " | dense us wall / cpu | " + " | ".join(f"{f} bytes" for f in fmts) + " |",
             "|" + "---|" * (6 + 2 * len(fmts))]
    for L in layers:
        for t in sorted({r["tokens"] for r in L["timings"]}, reverse=True):
            by = {(r["format"], r["clock"]): r for r in L["timings"] if r["tokens"] == t}
            sp = [" / ".join(fmt_x(by[f, c]["speedup"]) if (f, c) in by else "n/a" for c in CLOCKS) for f in fmts]
            by_b = [(fmt_x(L["formats"][f].get("bytes_vs_dense")) + (f" (fill {L['formats'][f]['block_fill']:.0%})" if "block_fill" in L["formats"][f] else ""))
                    if L["weights_from"] == "memory" else "" for f in fmts]   # the same bytes as the memory row: shown once
            lines.append(f"| {L['target_sparsity']:.0%} | {L['shape'][0]} x {L['shape'][1]} | {L['count']} | {L['weights_from']} | {t} | " + " | ".join(sp)
                         + f" | {by['dense', 'wall']['median_s'] * 1e6:,.0f} / {by['dense', 'cpu']['median_s'] * 1e6:,.0f} | " + " | ".join(by_b) + " |")
    lines += ["", f"## End to end ({p['prompt_tokens']}-token prefill, {p['new_tokens']} greedy decode steps with the KV cache, "
              f"{p['model_repeats']} interleaved rounds)", "",
              "| sparsity | format | MiB | bytes | prefill ms wall / cpu | prefill speedup wall / cpu | decode ms/token wall / cpu | "
              "decode speedup wall / cpu | max abs logit diff | same greedy tokens |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for m in models:
        for f, v in m["formats"].items():
            if not v["available"]: continue
            lines.append(f"| {m['target_sparsity']:.0%} | {f} | {v['param_bytes'] / 2**20:,.1f} | {v['bytes_vs_dense']:.2f} | "
                         f"{v['prefill_s'] * 1e3:,.0f} / {v['prefill_cpu_s'] * 1e3:,.0f} | {v['prefill_speedup']:.2f} / {v['prefill_cpu_speedup']:.2f} | "
                         f"{v['decode_token_s'] * 1e3:,.1f} / {v['decode_token_cpu_s'] * 1e3:,.1f} | {v['decode_token_speedup']:.2f} / {v['decode_token_cpu_speedup']:.2f} | "
                         f"{v['max_abs_logit_diff']:.1e} | {v['same_tokens']} |")
    share = models[0]["prunable_share"] if models else None
    un = {f: v["reason"] for m in models for f, v in m["formats"].items() if not v["available"]}
    lines += ["", "Notes:", "",
              f"- the prunable matrices (the linear layers in the blocks) are {fmt_x(share, '{:.0%}')} of the dense model's bytes; "
              "the embeddings / LM head, norms and attention stay dense and bound the end-to-end gain",
              "- CSR and BSR use torch's sparse x dense kernels (W @ x^T; torch.mv for one token) with int32 indices; "
              f"BSR blocks are {p['blocksize']}x{p['blocksize']}: an unstructured mask leaves (almost) every block non-empty ('fill'), so BSR stores the zeros too",
              "- `max abs logit diff` / `same greedy tokens`: the sparse model against the dense pruned model on the same prompt (random token ids)",
              *[f"- {f}: {why}" for f, why in un.items()],
              f"- versions: {json.dumps(rec['versions'])}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    a = parse(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "bench/speed.py", *argv])
    torch.set_num_threads(a.threads)
    t0, load_start = time.time(), [round(x, 2) for x in os.getloadavg()]
    layers, models = [], []
    for s in a.sparsity:
        model, _ = load_model(a.model)
        magnitude_prune(model, SparsitySpec(s))
        weights = prunable(model)
        for shape, names in shapes(model).items():
            for mode in MODES:
                log(f"{s:.0%}: layer {shape} ({len(names)} matrices), weights from {mode}")
                ws = [weights[n] for n in names] if mode == "memory" else weights[names[0]]
                r = layer_speed(ws, x_tokens=a.tokens, formats=a.formats, repeats=a.layer_repeats, blocksize=a.blocksize,
                                min_run_time=a.min_run_time, clocks=CLOCKS)
                layers.append(dict(target_sparsity=s, weights_from=mode, module=names[0], count=len(names), **r))
        log(f"{s:.0%}: end to end")
        r = model_speed(model, a.prompt_tokens, a.new_tokens, formats=a.formats, repeats=a.model_repeats, blocksize=a.blocksize)
        models.append(dict(target_sparsity=s, **r))
        print(format_model_speed(r), flush=True)
        del model, r; gc.collect()
    env = environment()   # after the runs: its thread count is the one the timings used
    rec = dict(command=command, **env, seconds=round(time.time() - t0, 1), load_start=load_start, load_end=[round(x, 2) for x in os.getloadavg()],
               note=NOTE, protocol=dict(model=a.model, weights=EMBEDDED.get(a.model, {}).get("source", a.model), pruning="magnitude",
                                        sparsities=a.sparsity, formats=list(dict.fromkeys(["dense", *a.formats])), tokens=a.tokens,
                                        prompt_tokens=a.prompt_tokens, new_tokens=a.new_tokens, layer_repeats=a.layer_repeats,
                                        model_repeats=a.model_repeats, min_run_time=a.min_run_time, blocksize=a.blocksize, dtype="float32"),
               layers=layers, models=models)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    write_json(out / "speed.json", rec)
    atomic_write(out / "speed.md", report(rec))
    print(f"\nwrote {out / 'speed.json'} and {out / 'speed.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
