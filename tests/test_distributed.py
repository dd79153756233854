"""ELSA under FSDP2 with real torch.distributed: two gloo processes started by `torchrun`, on CPU. The distributed
threshold equals torch.kthvalue on the gathered tensor; a 2-process ELSA run ends with the masks and (to float tolerance)
the weights of a 1-process run with the same seed and global batch; a killed process fails the run, and `--resume` then
finishes it exactly where the uninterrupted 2-process run ends; a checkpoint resumes on another process count (DCP)."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file

HERE = Path(__file__).parent
TORCHRUN = Path(sys.executable).parent / "torchrun"
# float64 so that the only difference between 1 and 2 processes (the order of the gradient sums) stays far below the
# gaps between scores: the masks must then be identical, not merely close
ARGS = ["prune", "--method", "elsa", "--model", "tiny-llama", "--sparsity", "0.8", "--steps", 30, "--interval", 4, "--batch-size", 2,
        "--seqlen", 64, "--lr", 0.01, "--checkpoint-every", 5, "--eval-every", 10, "--eval-windows", 2, "--ppl-windows", 2,
        "--ppl-seqlen", 64, "--dtype", "float64", "--save-model", "--no-progress"]


def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def torchrun(*args, nproc=2) -> list[str]:
    return [str(TORCHRUN), f"--nproc_per_node={nproc}", f"--master_port={free_port()}", *map(str, args)]

def run(cmd, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

def weights(run_dir: Path) -> dict: return load_file(run_dir / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def small_text(tmp_path_factory) -> Path:
    from elsa_wb.data import corpus
    p = tmp_path_factory.mktemp("text") / "pydocs_head.txt"
    p.write_text(corpus("pydocs")[:60_000])
    return p

@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_text, elsa_wb_exe) -> dict:
    "The same ELSA run on one process and, sharded with FSDP2, on two."
    d = tmp_path_factory.mktemp("runs")
    one = run([str(elsa_wb_exe), *map(str, ARGS), "--train-text", small_text, "--out", d / "one"])
    assert one.returncode == 0, one.stderr
    two = run(torchrun("-m", "elsa_wb.cli", *ARGS, "--train-text", small_text, "--distributed", "--out", d / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    return dict(one=d / "one", two=d / "two", text=small_text)


def test_distributed_threshold_equals_kthvalue_on_the_gathered_tensor():
    r = run(torchrun(HERE / "dist_check.py"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert r.stdout.count("OK") == 2


def test_only_process_0_reads_the_model_and_the_others_build_a_skeleton():
    r = run(torchrun(HERE / "dist_meta.py"), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("OK") == 2, r.stdout

def test_two_processes_give_the_single_process_result(runs):
    a, b = weights(runs["one"]), weights(runs["two"])
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k] != 0, b[k] != 0), f"{k}: the masks differ"
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-3)
    sa, sb = (json.loads((runs[k] / "summary.json").read_text()) for k in ("one", "two"))
    assert sb["sparsity_report"] == sa["sparsity_report"] and abs(sb["ppl"] / sa["ppl"] - 1) < 1e-3
    assert sb.keys() == sa.keys() and sb["train"].keys() == sa["train"].keys()
    ca, cb = (json.loads((runs[k] / "config.json").read_text()) for k in ("one", "two"))
    assert ca == cb   # the same run directory: the process count is how it ran, not what it is
    ev = lambda d: [json.loads(l)["event"] for l in (d / "metrics.jsonl").read_text().splitlines()]
    assert ev(runs["two"]) == ev(runs["one"])
    assert not (runs["two"] / "checkpoint").exists()


def rank_pid(parent: int, rank: int) -> int | None:
    "The pid of the torchrun worker with RANK=rank among the children of `parent`."
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent \
               and f"\0RANK={rank}\0".encode() in b"\0" + (p / "environ").read_bytes(): return int(p.name)
        except (OSError, ValueError, IndexError): continue
    return None


def interrupted(cmd: list, out: Path, logs_dir: Path, rank: int = 1, at_step: int = 10) -> tuple[int, str]:
    "Start the torchrun command `cmd`, SIGKILL its worker of `rank` once a checkpoint of step >= at_step is complete:\n    (torchrun's exit code, its stderr)."
    logs = (logs_dir / "stdout.log").open("w+"), (logs_dir / "stderr.log").open("w+")
    proc = subprocess.Popen(cmd, stdout=logs[0], stderr=logs[1], env=dict(os.environ, OMP_NUM_THREADS="1"))
    latest, t0 = out / "checkpoint" / "latest.json", time.time()
    while not (latest.exists() and json.loads(latest.read_text())["step"] >= at_step):
        assert proc.poll() is None, f"the run ended before it could be killed:\n{Path(logs[1].name).read_text()[-2000:]}"
        assert time.time() - t0 < 300, "no checkpoint after 300 s"
        time.sleep(0.05)
    pid = rank_pid(proc.pid, rank)
    assert pid is not None, f"no worker with RANK={rank}"
    os.kill(pid, signal.SIGKILL)
    return proc.wait(300), Path(logs[1].name).read_text()

def resumed_from(out: Path) -> list:
    "[(resumed, start_step)] of the run's start events."
    starts = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines() if '"start"' in l]
    return [(s["resumed"], s["start_step"]) for s in starts]


def test_a_killed_process_fails_the_run_and_resume_finishes_it(runs, tmp_path):
    out = tmp_path / "killed"
    cmd = torchrun("-m", "elsa_wb.cli", *ARGS, "--train-text", runs["text"], "--distributed", "--out", out)
    rc, err = interrupted(cmd, out, tmp_path)
    assert rc != 0, "the run succeeded although a process was killed"
    assert "elsa-wb: error: process 0 stopped at step" in err and "--resume" in err, err[-3000:]
    assert not (out / "summary.json").exists()
    step = json.loads((out / "checkpoint" / "latest.json").read_text())["step"]
    assert 10 <= step < 30 and (out / "checkpoint" / f"step-{step}").is_dir()
    r = run(cmd + ["--resume"])
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = weights(runs["two"]), weights(out)
    for k in a: assert torch.equal(a[k], b[k]), f"{k}: the resumed run differs from the uninterrupted one"
    assert resumed_from(out) == [(False, 0), (True, step)]


@pytest.mark.parametrize("before,after", [(2, 1), (1, 2)])
def test_a_checkpoint_resumes_on_another_process_count(runs, tmp_path, before, after):
    "DCP checkpoints reshard: a run stopped on `before` processes finishes on `after` with the uninterrupted run's masks."
    out = tmp_path / f"reshard{before}{after}"
    args = ["-m", "elsa_wb.cli", *ARGS, "--train-text", runs["text"], "--distributed", "--out", out]
    rc, err = interrupted(torchrun(*args, nproc=before), out, tmp_path, rank=before - 1)
    assert rc != 0 and not (out / "summary.json").exists(), err[-3000:]
    step = json.loads((out / "checkpoint" / "latest.json").read_text())["step"]
    r = run(torchrun(*args, "--resume", nproc=after))
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = weights(runs["two"]), weights(out)
    for k in a:
        assert torch.equal(a[k] != 0, b[k] != 0), f"{k}: the masks differ"
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-3)   # 1 and 2 processes sum gradients in another order
    assert resumed_from(out) == [(False, 0), (True, step)]


def test_a_distributed_checkpoint_is_not_restarted_by_a_single_process(runs, tmp_path):
    "Resuming a --distributed run's directory without --distributed is one sentence; nothing is overwritten."
    out = tmp_path / "dist"
    args = ["-m", "elsa_wb.cli", *ARGS, "--train-text", runs["text"], "--distributed", "--out", out]
    interrupted(torchrun(*args), out, tmp_path, rank=1, at_step=5)
    before = sorted(p.name for p in (out / "checkpoint").iterdir())
    r = run([sys.executable, "-m", "elsa_wb.cli", *map(str, ARGS), "--train-text", str(runs["text"]), "--out", str(out), "--resume"])
    assert r.returncode == 2 and "resume it with --distributed" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == before


def test_elsa_l_states_are_refused_under_distributed(small_text, tmp_path):
    "ELSA-L's 8-bit Adam and bit-packed masks are not sharded: --distributed says so in one sentence before training."
    out = tmp_path / "elsa-l"
    r = run(torchrun("-m", "elsa_wb.cli", *ARGS, "--train-text", small_text, "--distributed", "--optimizer", "adam8bit", "--out", out, nproc=1))
    assert r.returncode != 0 and "under --distributed use --optimizer adam --mask-storage bool" in r.stderr, r.stderr[-3000:]
    # torchrun prints its own ChildFailedError traceback for any failed child; elsa_wb's side must be the sentence alone
    assert "elsa_wb/" not in r.stderr and not (out / "summary.json").exists(), r.stderr[-3000:]


@pytest.mark.slow
def test_accelerate_launch_with_the_shipped_fsdp2_config(small_text, tmp_path):
    "configs/fsdp2.yaml (4 GPUs) with --num_processes 2 runs on CPUs too: accelerate starts torchrun-style processes, elsa_wb shards."
    acc = Path(sys.executable).parent / "accelerate"
    out = tmp_path / "acc"
    r = run([str(acc), "launch", "--config_file", str(HERE.parent / "configs" / "fsdp2.yaml"), "--num_processes", "2", "--main_process_port",
             str(free_port()), "-m", "elsa_wb.cli", *map(str, ARGS[:ARGS.index("--steps")]), "--steps", "6", "--interval", "2", "--batch-size", "2",
             "--seqlen", "32", "--eval-every", "0", "--ppl-windows", "1", "--ppl-seqlen", "32", "--no-progress", "--train-text", str(small_text),
             "--distributed", "--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["sparsity_report"]["total"] > 0.79 and s["train"]["steps"] == 6
