"""Cost of ELSA over plain Adam on the embedded SmolLM2-135M (fp32, CPU): step time, z/u update time, projection time,
auxiliary-state bytes per prunable parameter, and peak memory.

    python bench/elsa_step.py                      # everything; writes bench/results/elsa_step.{json,md}
    python bench/elsa_step.py --batch-size 2 --seqlen 128 --reps 7

The default run (`--part all`) starts three fresh subprocesses, one after the other, so that neither the timing
nor a memory measurement is disturbed by the others:
  timing          plain Adam steps and ELSA steps (penalty hook) interleaved A/B then B/A on the same model, optimizer
                  and batches; then `ADMM.update` (magnitude, then hessian reading exp_avg_sq) and `magnitude_prune`;
                  then the magnitude `ADMM.update` and the penalty hook (on stand-in zero gradients) again with each
                  z/u codec pair of UPDATE_CODECS, on the same weights;
  memory fp32     peak/current RSS after the model, after Adam steps, after building the ADMM (z fp32, u fp32),
                  after an ELSA step and a z/u update; the bytes the ADMM really stores;
  memory elsa_l   the same with ELSA-L's codecs (z fp8_e4m3_sparse: the nonzeros in FP8 + a bit mask; u bf16).
The bytes of a sparse z depend on its sparsity: `--sparsity` (default 0.7) is the one every part uses, and the JSON
states it next to the bytes (aux_bytes_per_param.sparsity, and the z sparsity the ADMM really had).
Every number in the output is measured in this run or computed from elsa_wb; none is typed in here.

`--device cuda` (default cpu) runs every part on the GPU: the model and the ADMM state on CUDA, fp32 master weights with
bf16 autocast (ElsaConfig device="cuda", as a real run), torch.cuda.synchronize() around every timed region (the penalty
hook inside the ELSA step is timed with CUDA events, so that it adds no synchronisation to the step), and
torch.cuda.max_memory_allocated next to the RSS (keys added only on CUDA: cuda_mb, peak_cuda_mb, ...).
"""
from __future__ import annotations
import argparse, json, os, resource, shlex, statistics, subprocess, sys, tempfile, time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"fp32": dict(z="fp32", u="fp32", masks="bool"), "elsa_l": dict(z="fp8_e4m3_sparse", u="bf16", masks="bits")}   # ELSA (paper) and ELSA-L z/u codecs and mask storage
# z/u updates also timed with these codecs (besides the timed preset's): ELSA-L, and ELSA-L with a dense FP8 z (its
# earlier definition), so that the cost of the sparse codec's gather/scatter is measured side by side
UPDATE_CODECS = {"elsa_l": PRESETS["elsa_l"], "elsa_l_dense_z": dict(z="fp8_e4m3", u="bf16", masks="bits")}
TARGET_AUX_RATIO = 0.35   # the target: ELSA-L's z/u state at most 0.35x ELSA's
INTERVALS = (32, 10)      # z/u update intervals at which the amortised overhead is reported


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)

def cpu_pressure():
    "Linux PSI: % of the last 10 s / 60 s in which some runnable task waited for a CPU (None where unavailable)."
    try:
        f = dict(kv.split("=") for kv in Path("/proc/pressure/cpu").read_text().splitlines()[0].split()[1:])
        return dict(avg10=float(f["avg10"]), avg60=float(f["avg60"]))
    except (OSError, KeyError, ValueError, IndexError): return None

def median(xs): return statistics.median(xs)

def rss_mb() -> dict:
    "Peak RSS of this process so far (ru_maxrss) and the current RSS (VmRSS), in MiB."
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    cur = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"): cur = int(line.split()[1]) / 1024
    except OSError: pass
    return dict(peak=round(peak, 1), current=None if cur is None else round(cur, 1))


def sync(args):
    "Wait for the GPU's queued work (CUDA); nothing on the CPU."
    if args.device == "cuda":
        import torch
        torch.cuda.synchronize()

def cuda_mb() -> dict:
    "Peak (since the last reset) and current memory allocated by PyTorch on the GPU, in MiB."
    import torch
    return dict(peak=round(torch.cuda.max_memory_allocated() / 2**20, 1), current=round(torch.cuda.memory_allocated() / 2**20, 1))

def setup(args, preset: str):
    "Model (fp32, CPU or CUDA, train mode), tokenizer, prunable weights, optimizer, batch stream and config."
    import torch
    from elsa_wb.models import load_model, prunable
    from elsa_wb.data import corpus, train_stream
    from elsa_wb.config import ElsaConfig
    from elsa_wb.elsa import make_optimizer
    if args.threads: torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available(): raise SystemExit("--device cuda: torch sees no CUDA device.")
    torch.manual_seed(0)
    model, tok = load_model(args.model, dtype=torch.float32, device=args.device)
    model.train()
    p = PRESETS[preset]
    cfg = ElsaConfig(sparsity=args.sparsity, batch_size=args.batch_size, grad_accum=args.grad_accum, seqlen=args.seqlen,
                     projection="magnitude", z_dtype=p["z"], u_dtype=p["u"], mask_storage=p["masks"], device=args.device, interval=INTERVALS[0])
    cfg = cfg.effective()   # lr (None by default) from the budget rule, as in a real run
    opt = make_optimizer(model, cfg)
    stream = train_stream(tok, corpus(args.corpus, "train"), batch_size=args.batch_size, seqlen=args.seqlen, seed=0)
    return model, prunable(model), opt, stream, cfg


def build_admm(model, weights, cfg, z=None, u=None, masks=None):
    "The ADMM as `Elsa` builds it, `ADMM(prunable(model), cfg, in_dims=input_dims(model))`, with the config's z/u codecs and mask storage or the ones given."
    from elsa_wb.admm import ADMM
    from elsa_wb.models import input_dims
    return ADMM(weights, cfg, in_dims=input_dims(model), z_dtype=z or cfg.z_dtype, u_dtype=u or cfg.u_dtype, mask_storage=masks or cfg.mask_storage)


def optimizer_info(opt) -> dict:
    return dict(type=type(opt).__name__, fused=opt.defaults.get("fused"), foreach=opt.defaults.get("foreach"),
                param_groups=len(opt.param_groups))


def next_batches(stream, n): return [next(stream) for _ in range(n)]


# ---------------------------------------------------------------------------------------------------------- timing
def commit_now():
    from elsa_wb.provenance import git_commit
    return git_commit(ROOT)

def part_timing(args) -> dict:
    commit = commit_now()   # before elsa_wb's modules are imported: the code this part runs
    import torch
    from elsa_wb.elsa import train_step
    from elsa_wb.sparsity import SparsitySpec; from elsa_wb.baselines import magnitude_prune
    load_start, psi_start = os.getloadavg(), cpu_pressure()
    model, weights, opt, stream, cfg = setup(args, args.preset)
    cuda = args.device == "cuda"
    if cuda: torch.cuda.reset_peak_memory_stats()
    admm = build_admm(model, weights, cfg)   # built before any timed step: A and B run with the same memory state
    log(f"timing: {len(weights)} prunable matrices, {sum(w.numel() for w in weights.values()):,} params; preset {args.preset}")

    cpu = {k: [] for k in ("adam_step", "elsa_step", "penalty", "update_magnitude", "update_hessian", "projection", "bandwidth_proxy",
                           *(f"{k}_{n}" for n in UPDATE_CODECS for k in ("update", "penalty")))}
    def timed(key, fn, *a, **kw):
        "Run fn; return its wall time (and keep its process CPU time, all threads, under cpu[key])."
        sync(args)   # CUDA: start with an idle GPU and wait for all of fn's work (nothing on the CPU)
        c, t = time.process_time(), time.perf_counter()
        out = fn(*a, **kw)
        sync(args)
        dt = time.perf_counter() - t
        if key: cpu[key].append(time.process_time() - c)
        return dt, out

    pen, pen_events = [], []
    def hook():
        if not cuda: pen.append(timed("penalty", admm.penalty_)[0]); return
        # CUDA: events around the hook, read after the step (timed() synchronises then): no synchronisation inside the step
        s, e, c = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True), time.process_time()
        s.record(); admm.penalty_(); e.record()
        cpu["penalty"].append(time.process_time() - c); pen_events.append((s, e))
    def adam(b, key="adam_step"): return timed(key, train_step, model, opt, b, clip=cfg.clip)
    def elsa(b, key="elsa_step"):
        r = timed(key, train_step, model, opt, b, clip=cfg.clip, after_clip=hook)
        pen.extend(s.elapsed_time(e) / 1000 for s, e in pen_events); pen_events.clear()
        return r

    warm = dict(adam=[], elsa=[])
    for i in range(args.warmup):
        b = next_batches(stream, args.grad_accum)
        warm["adam"].append(adam(b, None)[0]); warm["elsa"].append(elsa(b, None)[0])
    pen.clear(); cpu["penalty"].clear()
    log(f"warm-up done: adam {warm['adam']}, elsa {warm['elsa']}")

    A, B, order, losses, loads = [], [], [], [], []
    for i in range(args.reps):
        b = next_batches(stream, args.grad_accum)     # the same batch for the pair
        first_adam = i % 2 == 0                       # A/B, then B/A, ...: order effects cancel
        for which in (("adam", "elsa") if first_adam else ("elsa", "adam")):
            dt, out = (adam if which == "adam" else elsa)(b)
            (A if which == "adam" else B).append(dt); losses.append(out["loss"])
        order.append("AB" if first_adam else "BA"); loads.append(os.getloadavg()[0])
        log(f"rep {i}: adam {A[-1]:.3f}s elsa {B[-1]:.3f}s (penalty {pen[-1]:.3f}s) load {os.getloadavg()[0]:.2f}")

    # z/u updates over all matrices: magnitude, then the objective-aware score reading Adam's exp_avg_sq. Each magnitude
    # update is paired with the memory-bandwidth proxy: one read and one write of every prunable weight (a copy into
    # buffers allocated beforehand), the least any update must move
    dst = {n: torch.empty_like(w) for n, w in weights.items()}
    def proxy():
        with torch.no_grad():
            for n, w in weights.items(): dst[n].copy_(w)
    upd_mag, prox = [], []
    admm.update(0, opt)   # untimed: numba compiles the CPU kernel on its first call (or loads it from its cache)
    for k in range(args.update_reps):
        prox.append(timed("bandwidth_proxy", proxy)[0]); upd_mag.append(timed("update_magnitude", admm.update, k * cfg.interval, opt)[0])
    del dst
    log(f"update (magnitude): {upd_mag}; bandwidth proxy {prox}")
    missing = [n for n, w in weights.items() if "exp_avg_sq" not in opt.state.get(w, {})]
    if missing: raise RuntimeError(f"Adam keeps no exp_avg_sq for {len(missing)} prunable weights; cannot time the hessian update.")
    # same ADMM object: after its first update (n_updates >= 1) a 'hessian' ADMM scores h * v^2 with h = exp_avg_sq,
    # exactly what ADMM(projection="hessian") does from its second update on
    admm.projection = "hessian"
    admm.update(args.update_reps * cfg.interval, opt)   # untimed: the kernel's variant with h is compiled on its first call
    upd_hes = [timed("update_hessian", admm.update, (args.update_reps + 1 + k) * cfg.interval, opt)[0] for k in range(args.hessian_reps)]
    log(f"update (hessian): {upd_hes}")
    steps_cuda_mb = cuda_mb() if cuda else None   # the peak over the Adam and ELSA steps and the z/u updates

    # one-shot magnitude projection of the 210 matrices (on fresh copies of the trained weights each time)
    spec = SparsitySpec(args.sparsity)
    proj = []
    with torch.no_grad():
        for _ in range(args.projection_reps):
            copies = {n: w.detach().clone() for n, w in weights.items()}
            proj.append(timed("projection", magnitude_prune, copies, spec)[0])
            del copies
    log(f"magnitude_prune {spec}: {proj}")

    # the magnitude z/u update and the penalty hook with other codecs, on the same (trained) weights; one ADMM at a
    # time. train_step leaves no gradients behind, so the hook adds to stand-in zero gradients (the same arithmetic).
    del admm
    upd_codecs, pen_codecs = {}, {}
    for w in weights.values(): w.grad = torch.zeros_like(w)
    for name, c in UPDATE_CODECS.items():
        other = build_admm(model, weights, cfg, z=c["z"], u=c["u"], masks=c["masks"])
        upd_codecs[name] = [timed(f"update_{name}", other.update, k * cfg.interval, opt)[0] for k in range(args.update_reps)]
        pen_codecs[name] = [timed(f"penalty_{name}", other.penalty_)[0] for _ in range(args.reps)]
        log(f"z {c['z']}, u {c['u']}: update (magnitude) {upd_codecs[name]}, penalty {pen_codecs[name]}")
        del other
    for w in weights.values(): w.grad = None
    return dict(adam_step=A, elsa_step=B, penalty=pen, order=order, warmup=warm, update_magnitude=upd_mag, bandwidth_proxy=prox,
                update_codecs=upd_codecs, penalty_codecs=pen_codecs,
                update_hessian=upd_hes, projection=proj, cpu_seconds=cpu, losses=losses, loadavg_per_rep=loads, loadavg_start=load_start, loadavg_end=os.getloadavg(),
                cpu_pressure_start=psi_start, cpu_pressure_end=cpu_pressure(),
                n_matrices=len(weights), prunable_params=sum(w.numel() for w in weights.values()),
                total_params=sum(p.numel() for p in model.parameters()), threads=torch.get_num_threads(),
                config=cfg.to_dict(), optimizer=optimizer_info(opt), git_commit=commit,
                **(dict(cuda_mb_steps=steps_cuda_mb, cuda_mb_end=cuda_mb(), gpu=torch.cuda.get_device_name(0)) if cuda else {}))


# ---------------------------------------------------------------------------------------------------------- memory
def part_memory(args) -> dict:
    commit = commit_now()
    from elsa_wb.elsa import train_step
    cuda = args.device == "cuda"
    rss, gpu = dict(start=rss_mb()), {}
    def mark(stage):   # RSS (and, on CUDA, the GPU memory PyTorch allocated: peak since the start, current)
        sync(args); rss[stage] = rss_mb()
        if cuda: gpu[stage] = cuda_mb()
    model, weights, opt, stream, cfg = setup(args, args.preset)
    if cuda:
        import torch
        torch.cuda.reset_peak_memory_stats()
    mark("model")
    for _ in range(args.memory_steps): train_step(model, opt, next_batches(stream, args.grad_accum), clip=cfg.clip)
    mark("adam")
    admm = build_admm(model, weights, cfg)
    mark("admm_built")
    train_step(model, opt, next_batches(stream, args.grad_accum), clip=cfg.clip, after_clip=admm.penalty_)
    mark("elsa_step")
    last = admm.update(0, opt)
    mark("update")
    n = sum(w.numel() for w in weights.values())
    z_b = sum(admm.z_codec.nbytes(admm.z[k]) for k in weights)
    u_b = sum(admm.u_codec.nbytes(admm.u[k]) for k in weights)
    mask_b = sum(admm.mask[k].numel() * admm.mask[k].element_size() + admm.mask0[k].numel() * admm.mask0[k].element_size() for k in weights)
    adam_b = sum(t.numel() * t.element_size() for w in weights.values() for t in opt.state[w].values() if hasattr(t, "numel") and t.dim() > 0)
    log(f"memory {args.preset}: {rss}" + (f"; cuda {gpu}" if cuda else ""))
    return dict(preset=args.preset, z_codec=admm.z_codec.name, u_codec=admm.u_codec.name, prunable_params=n,
                z_sparsity=last["z_sparsity"],   # the fraction of zeros in z when its bytes were counted
                z_bytes=z_b, u_bytes=u_b, mask_bytes=mask_b, adam_state_bytes_prunable=adam_b, rss_mb=rss,
                memory_steps=args.memory_steps, git_commit=commit, **(dict(cuda_mb=gpu) if cuda else {}))


# ---------------------------------------------------------------------------------------------------------- driver
def run_part(args, part: str, preset: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "part.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--preset", preset, "--part-out", str(out),
               *args.passthrough]
        log("running", shlex.join(cmd))
        subprocess.run(cmd, check=True, cwd=ROOT)
        return json.loads(out.read_text())


def overhead(elsa: float, update: float, adam: float, interval: int) -> float:
    per = elsa + update / interval
    return (per - adam) / per


BUDGETS = (32, 120, 960)   # ADMM steps at which the overhead at the budget rule's interval is reported


def at_rule_interval(a: float, p: float, um: float, tokens_per_step: int) -> dict:
    "For each budget of BUDGETS: the budget rule's interval at this step size and the ADMM overhead it gives (penalty + amortised update over the step)."
    from elsa_wb.config import budget_rule
    out = {}
    for steps in BUDGETS:
        i = budget_rule(steps, tokens_per_step=tokens_per_step)["interval"]
        out[str(steps)] = dict(interval=i, overhead_fraction=(p + um / i) / (a + p + um / i))
    return out


def summarise(args, timing: dict, mem: dict, wall: float, load_start, commit_start) -> dict:
    from elsa_wb.memory import bytes_per_param
    from elsa_wb.provenance import git_commit, environment
    a, e, p = median(timing["adam_step"]), median(timing["elsa_step"]), median(timing["penalty"])
    um, uh = median(timing["update_magnitude"]), median(timing["update_hessian"])
    bw, tokens = median(timing["bandwidth_proxy"]), args.batch_size * args.seqlen * args.grad_accum
    paired = [y - x for x, y in zip(timing["adam_step"], timing["elsa_step"])]
    aux = {k: (m["z_bytes"] + m["u_bytes"]) / m["prunable_params"] for k, m in mem.items()}
    ratio = aux["elsa_l"] / aux["fp32"]
    masks = {k: m["mask_bytes"] / m["prunable_params"] for k, m in mem.items()}
    res = dict(
        command=shlex.join([sys.executable, *sys.argv]),
        git_commit=timing["git_commit"],   # the code the timing part imported
        # the checkout is shared: if someone commits during the run, the parts may have run different code
        git_commits=dict(start=commit_start, timing=timing["git_commit"], **{f"memory_{k}": m["git_commit"] for k, m in mem.items()},
                         end=git_commit(ROOT)),
        git_commit_consistent=len({commit_start, timing["git_commit"], git_commit(ROOT), *(m["git_commit"] for m in mem.values())}) == 1,
        environment=environment(), versions=environment()["versions"],
        loadavg_at_start=list(load_start), loadavg_timing_start=timing["loadavg_start"], loadavg_timing_end=timing["loadavg_end"],
        cpu_pressure_timing=dict(start=timing.get("cpu_pressure_start"), end=timing.get("cpu_pressure_end")),
        wall_seconds=round(wall, 1),
        model=args.model, dtype="float32", device=args.device, threads=timing["threads"], corpus=f"{args.corpus} (train split)",
        n_matrices=timing["n_matrices"], prunable_params=timing["prunable_params"], total_params=timing["total_params"],
        batch=dict(batch_size=args.batch_size, seqlen=args.seqlen, grad_accum=args.grad_accum,
                   tokens_per_step=args.batch_size * args.seqlen * args.grad_accum),
        repetitions=dict(warmup=args.warmup, steps_each=args.reps, update_magnitude=args.update_reps,
                         update_hessian=args.hessian_reps, projection=args.projection_reps, memory_steps=args.memory_steps),
        timed_preset=args.preset, sparsity=args.sparsity, elsa_config=timing["config"], optimizer=timing["optimizer"],
        adam_step_seconds=a, elsa_step_seconds=e, penalty_seconds=p,
        update_seconds=um, update_seconds_hessian=uh,
        # the same weights copied once (read + write), timed alternately with the updates: the update's distance from the memory limit
        bandwidth_proxy_seconds=bw, update_over_bandwidth_proxy=um / bw,
        # an update costs as much as a training step on this many tokens (what the budget rule's UPDATE_TOKENS stands for)
        update_cost_tokens=um / (a + p) * tokens,
        overhead_at_rule_interval=at_rule_interval(a, p, um, tokens),
        # the magnitude update and the penalty hook with other z/u codecs (same run, same weights): medians
        update_seconds_by_codecs={k: dict(z=UPDATE_CODECS[k]["z"], u=UPDATE_CODECS[k]["u"], masks=UPDATE_CODECS[k]["masks"], seconds=median(v),
                                          penalty_seconds=median(timing["penalty_codecs"][k]))
                                  for k, v in timing["update_codecs"].items()},
        step_ratio=(e + um / 32) / a,
        **{f"overhead_fraction_at_interval_{i}": overhead(e, um, a, i) for i in INTERVALS},
        # lower-noise estimate: the penalty hook timed inside each ELSA step, plus the amortised update, over a + that
        **{f"overhead_fraction_at_interval_{i}_from_penalty": (p + um / i) / (a + p + um / i) for i in INTERVALS},
        # process CPU time (all threads): less sensitive than wall time to waiting for a core on a shared machine
        cpu_seconds_median={k: median(v) for k, v in timing["cpu_seconds"].items()},
        step_ratio_cpu=(median(timing["cpu_seconds"]["elsa_step"]) + median(timing["cpu_seconds"]["update_magnitude"]) / 32)
                       / median(timing["cpu_seconds"]["adam_step"]),
        paired_step_difference_seconds=dict(median=median(paired), values=paired),
        projection_seconds_70=median(timing["projection"]) if abs(args.sparsity - 0.7) < 1e-9 else None,
        projection_seconds=median(timing["projection"]),
        aux_bytes_per_param=dict(fp32=aux["fp32"], elsa_l=aux["elsa_l"], ratio=ratio, target_ratio=TARGET_AUX_RATIO,
                                 target_met=ratio <= TARGET_AUX_RATIO, codecs=PRESETS,
                                 # a sparse z's bytes depend on its sparsity: the target, and what z really had
                                 sparsity=args.sparsity, z_sparsity_measured={k: m["z_sparsity"] for k, m in mem.items()}),
        # elsa_wb.memory's model of the same bytes (measured on a sample matrix's ADMM), at the target sparsity
        aux_bytes_per_param_model=dict(sparsity=args.sparsity,
                                       **{k: sum(bytes_per_param("elsa", z_dtype=p["z"], u_dtype=p["u"], sparsity=args.sparsity)[c]
                                                 for c in ("z", "u")) for k, p in PRESETS.items()}),
        mask_bytes_per_param=masks,
        admm_state_bytes_per_param_incl_masks={k: aux[k] + masks[k] for k in mem},
        admm_state_ratio_incl_masks=(aux["elsa_l"] + masks["elsa_l"]) / (aux["fp32"] + masks["fp32"]),
        adam_state_bytes_per_param_measured={k: m["adam_state_bytes_prunable"] / m["prunable_params"] for k, m in mem.items()},
        # elsa_wb.memory.bytes_per_param of ELSA and ELSA-L (8-bit Adam) per prunable parameter, the paper's count (no masks)
        bytes_per_param_model={k: bytes_per_param(m, mask="none", sparsity=args.sparsity) for k, m in (("fp32", "elsa"), ("elsa_l", "elsa-l"))},
        peak_rss_mb=dict(adam=mem["fp32"]["rss_mb"]["adam"]["peak"],
                         **{f"elsa_{k}": m["rss_mb"]["update"]["peak"] for k, m in mem.items()}),
        rss_mb={k: m["rss_mb"] for k, m in mem.items()},
        raw=dict(adam_step_seconds=timing["adam_step"], elsa_step_seconds=timing["elsa_step"],
                 penalty_seconds=timing["penalty"], order=timing["order"], warmup_seconds=timing["warmup"],
                 update_seconds_magnitude=timing["update_magnitude"], update_seconds_hessian=timing["update_hessian"],
                 bandwidth_proxy_seconds=timing["bandwidth_proxy"],
                 update_seconds_by_codecs=timing["update_codecs"], penalty_seconds_by_codecs=timing["penalty_codecs"],
                 projection_seconds=timing["projection"], losses=timing["losses"],
                 loadavg_1min_per_rep=timing["loadavg_per_rep"], cpu_seconds=timing["cpu_seconds"]),
        memory_parts=mem,
    )
    if args.device == "cuda":   # keys added only on CUDA (the CPU output keeps its keys)
        res.update(autocast="bfloat16", gpu=timing.get("gpu"),
                   # torch.cuda.max_memory_allocated (MiB) at the end of each memory part, and over the timing part's steps
                   peak_cuda_mb=dict(adam=mem["fp32"]["cuda_mb"]["adam"]["peak"],
                                     **{f"elsa_{k}": m["cuda_mb"]["update"]["peak"] for k, m in mem.items()},
                                     timing_steps=(timing.get("cuda_mb_steps") or {}).get("peak")),
                   cuda_mb={k: m["cuda_mb"] for k, m in mem.items()})
    return res


def fmt(x, d=3): return f"{x:.{d}f}" if isinstance(x, float) else str(x)

def markdown(r: dict) -> str:
    b, aux = r["batch"], r["aux_bytes_per_param"]
    rows = [("batch (seqs x tokens x accum)", f"{b['batch_size']} x {b['seqlen']} x {b['grad_accum']}"),
            ("Adam step, median (s)", fmt(r["adam_step_seconds"])),
            ("ELSA step (penalty), median (s)", fmt(r["elsa_step_seconds"])),
            ("penalty hook alone, median (s)", fmt(r["penalty_seconds"])),
            (f"ADMM update, {r['n_matrices']} matrices, magnitude (s)", fmt(r["update_seconds"])),
            ("ADMM update, hessian (exp_avg_sq) (s)", fmt(r["update_seconds_hessian"])),
            ("bandwidth proxy: one read + write of the same weights (s)", fmt(r["bandwidth_proxy_seconds"])),
            ("update / bandwidth proxy", fmt(r["update_over_bandwidth_proxy"], 2)),
            ("an update costs a training step of (tokens)", fmt(r["update_cost_tokens"], 0)),
            *((f"budget rule at {k} ADMM steps: interval / ADMM overhead", f"{v['interval']} / {fmt(v['overhead_fraction'])}")
              for k, v in r["overhead_at_rule_interval"].items()),
            *((f"ADMM update, magnitude / penalty hook, z {v['z']}, u {v['u']} (s)", f"{fmt(v['seconds'])} / {fmt(v['penalty_seconds'])}")
              for v in r["update_seconds_by_codecs"].values()),
            ("step_ratio (ELSA + update/32) / Adam", fmt(r["step_ratio"])),
            ("step_ratio from process CPU time", fmt(r["step_ratio_cpu"])),
            ("overhead fraction, interval 32", fmt(r["overhead_fraction_at_interval_32"])),
            ("overhead fraction, interval 10", fmt(r["overhead_fraction_at_interval_10"])),
            ("overhead fraction from penalty, interval 32 / 10",
             f"{fmt(r['overhead_fraction_at_interval_32_from_penalty'])} / {fmt(r['overhead_fraction_at_interval_10_from_penalty'])}"),
            (f"magnitude_prune at {r['sparsity']:.0%} (s)", fmt(r["projection_seconds"])),
            (f"z+u bytes/param fp32 / ELSA-L (z {aux['codecs']['elsa_l']['z']}, u {aux['codecs']['elsa_l']['u']}) at {aux['sparsity']:.0%} sparsity (ratio)",
             f"{fmt(aux['fp32'])} / {fmt(aux['elsa_l'])} ({fmt(aux['ratio'])}; target <= {aux['target_ratio']}: {'met' if aux['target_met'] else 'not met'})"),
            ("mask bytes/param (mask, mask0)", fmt(r["mask_bytes_per_param"]["fp32"])),
            ("z+u+masks ratio ELSA-L / fp32", fmt(r["admm_state_ratio_incl_masks"])),
            (f"bytes_per_param total ELSA / ELSA-L (elsa_wb.memory, no masks, {r['aux_bytes_per_param_model']['sparsity']:.0%} sparsity)",
             f"{fmt(r['bytes_per_param_model']['fp32']['total'])} / {fmt(r['bytes_per_param_model']['elsa_l']['total'])}"),
            ("peak RSS MiB: Adam / ELSA fp32 / ELSA-L", " / ".join(fmt(r["peak_rss_mb"][k], 0) for k in ("adam", "elsa_fp32", "elsa_elsa_l"))),
            *((("peak CUDA memory allocated MiB: Adam / ELSA fp32 / ELSA-L", " / ".join(fmt(r["peak_cuda_mb"][k], 0) for k in ("adam", "elsa_fp32", "elsa_elsa_l"))),)
              if r.get("peak_cuda_mb") else ()),
            ("load average at start (1/5/15 min)", " / ".join(f"{x:.2f}" for x in r["loadavg_at_start"])),
            ("1-min load average during the timed steps", " / ".join(f"{x:.1f}" for x in r["raw"]["loadavg_1min_per_rep"])),
            ("CPU pressure (PSI some avg60 %) at start / end of timing",
             " / ".join(str((r["cpu_pressure_timing"][k] or {}).get("avg60")) for k in ("start", "end"))),
            ("wall time (s)", fmt(r["wall_seconds"], 1))]
    where = (f"fp32 master weights + bf16 autocast, CUDA ({r.get('gpu')})" if r.get("device") == "cuda"
             else f"fp32 CPU ({r['threads']} threads)")
    head = (f"# ELSA step cost, {r['model']} {where}\n\n"
            f"`{r['command']}` at {r['git_commit']}{'' if r['git_commit_consistent'] else ' (the commit changed during the run, see git_commits)'}, {r['environment']['time']}. "
            f"{r['repetitions']['steps_each']} interleaved steps each after {r['repetitions']['warmup']} warm-up; raw lists in elsa_step.json.\n\n")
    return head + "| quantity | value |\n|---|---:|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--corpus", default="pydocs", help="training text (its train split)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--reps", type=int, default=5, help="timed steps of each kind (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps of each kind")
    ap.add_argument("--update-reps", type=int, default=3, help="timed magnitude z/u updates")
    ap.add_argument("--hessian-reps", type=int, default=3, help="timed hessian z/u updates")
    ap.add_argument("--projection-reps", type=int, default=3, help="timed magnitude_prune calls")
    ap.add_argument("--memory-steps", type=int, default=2,
                    help="Adam steps before the ADMM is built in the memory parts (>= 2: the first step creates Adam's state "
                         "only after its activations are freed, so only from the second step on are both held at once)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cpu (fp32), or cuda (fp32 master weights, bf16 autocast, synchronised timing, GPU memory)")
    ap.add_argument("--preset", choices=tuple(PRESETS), default="fp32", help="z/u codecs of the timed ELSA step (and of --part memory)")
    ap.add_argument("--part", choices=("all", "timing", "memory"), default="all")
    ap.add_argument("--part-out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for elsa_step.json and elsa_step.md")
    args = ap.parse_args(argv)
    if min(args.reps, args.update_reps, args.hessian_reps, args.projection_reps, args.batch_size, args.seqlen, args.grad_accum) < 1:
        ap.error("--reps, --update-reps, --hessian-reps, --projection-reps, --batch-size, --seqlen and --grad-accum must be at least 1.")

    if args.part != "all":
        if not args.part_out: ap.error("--part timing/memory is run by --part all (it needs --part-out).")
        res = part_timing(args) if args.part == "timing" else part_memory(args)
        Path(args.part_out).write_text(json.dumps(res))
        return

    t0, load_start, commit_start = time.perf_counter(), os.getloadavg(), commit_now()
    log(f"load average at start: {load_start}; cpu pressure {cpu_pressure()}; commit {commit_start}")
    keep = {"--model", "--corpus", "--batch-size", "--seqlen", "--grad-accum", "--sparsity", "--reps", "--warmup", "--update-reps",
            "--hessian-reps", "--projection-reps", "--memory-steps", "--threads", "--device"}
    args.passthrough = [x for k, v in vars(args).items() if "--" + k.replace("_", "-") in keep for x in ("--" + k.replace("_", "-"), str(v))]
    timing = run_part(args, "timing", args.preset)
    mem = {k: run_part(args, "memory", k) for k in PRESETS}
    res = summarise(args, timing, mem, time.perf_counter() - t0, load_start, commit_start)
    if not res["git_commit_consistent"]: log(f"WARNING: the git commit changed during the run: {res['git_commits']}")
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    (out / "elsa_step.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "elsa_step.md").write_text(markdown(res))
    log(f"wrote {out / 'elsa_step.json'} and {out / 'elsa_step.md'} in {res['wall_seconds']} s")
    print(markdown(res))


if __name__ == "__main__":
    main()
