"""Write failures on a real file system: `elsa-wb prune --out` on a small tmpfs that fills up during a checkpoint, then
on the same tmpfs remounted read-only, then resumed once there is room. The tmpfs is mounted in a user and mount
namespace (`unshare --user --map-root-user --mount`), so no privileges are needed and nothing outside the test sees it.
What the user must see: exit 2, one sentence naming the file and the checkpoint that is kept, no temporary file, the two
last checkpoints intact, and a resumed run that ends bit for bit where an uninterrupted run ends.
(The same failures injected into the writers, EACCES included, are tested in nbs/02_files and nbs/21_elsa.)"""
import json, shlex, subprocess
from pathlib import Path
import pytest, torch
from test_cli import assert_same_run, error_line

# A tiny-llama ELSA run whose checkpoint is ~77 MB (the real SmolLM2 vocabulary): a 200 MB disk holds two checkpoints
# and the start of a third, so the third write (step 15) fills it.
ARGS = ["prune", "--method", "elsa", "--model", "tiny-llama", "--sparsity", "0.8", "--steps", 30, "--interval", 4,
        "--batch-size", 2, "--grad-accum", 1, "--seqlen", 64, "--lr", 0.01, "--checkpoint-every", 5, "--finetune-steps", 0,
        "--eval-every", 10, "--eval-windows", 2, "--ppl-windows", 2, "--ppl-seqlen", 64, "--save-model", "--no-progress"]
SMALL, ROOMY = "200m", "800m"


def namespaces_work(where: Path) -> bool:
    "Whether this machine lets an unprivileged user and mount namespace mount a tmpfs (containers may forbid it)."
    where.mkdir(exist_ok=True)
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                       capture_output=True)
    return r.returncode == 0


def on_tmpfs(script: str, disk: Path, logs: Path) -> None:
    "Run the bash `script` with a fresh tmpfs of SMALL bytes mounted on `disk` (gone when the script ends)."
    disk.mkdir(exist_ok=True); logs.mkdir(exist_ok=True)
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-uc",
                        f"mount -t tmpfs -o size={SMALL} tmpfs {shlex.quote(str(disk))} || exit 99\n{script}"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"the namespace script failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def step_of(path: Path) -> int: return torch.load(path, map_location="cpu", weights_only=False)["step"]


def test_full_then_read_only_disk_stop_cleanly_and_resume_exactly(elsa_wb_exe, tmp_path):
    if not namespaces_work(tmp_path / "probe"): pytest.skip("this machine forbids mounting a tmpfs in a user namespace")
    ref = tmp_path / "reference"
    r = subprocess.run([str(elsa_wb_exe), *map(str, ARGS), "--out", ref], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    disk, logs, kept = tmp_path / "disk", tmp_path / "logs", tmp_path / "kept"
    run = disk / "run"
    cmd = " ".join(shlex.quote(str(a)) for a in [elsa_wb_exe, *ARGS, "--out", run])
    q = lambda p: shlex.quote(str(p))
    on_tmpfs(f"""
{cmd} > {q(logs / 'full.out')} 2> {q(logs / 'full.err')}; echo $? > {q(logs / 'full.rc')}
mkdir -p {q(kept)}; ls -A {q(run / 'checkpoint')} > {q(logs / 'full.ls')}; cp {q(run / 'checkpoint')}/state*.pt {q(kept)}/
mount -o remount,ro {q(disk)}
{cmd} --resume > {q(logs / 'ro.out')} 2> {q(logs / 'ro.err')}; echo $? > {q(logs / 'ro.rc')}
mount -o remount,rw,size={ROOMY} {q(disk)}
{cmd} --resume > {q(logs / 'roomy.out')} 2> {q(logs / 'roomy.err')}; echo $? > {q(logs / 'roomy.rc')}
ls -A {q(run)} > {q(logs / 'roomy.ls')}; cp -r {q(run)} {q(kept / 'run')}
""", disk, logs)
    done = lambda name: subprocess.CompletedProcess([], int((logs / f"{name}.rc").read_text()), (logs / f"{name}.out").read_text(),
                                                    (logs / f"{name}.err").read_text())
    # 1. the disk fills up while the step-15 checkpoint is written
    line = error_line(done("full"))
    assert f"Could not write {run}/checkpoint/state.pt (No space left on device)" in line, line
    assert f"the run stopped at step 15 and the checkpoint of step 10 is kept in {run}/checkpoint" in line, line
    assert (logs / "full.ls").read_text().split() == ["state.prev.pt", "state.pt"]   # no temporary file left
    assert (step_of(kept / "state.pt"), step_of(kept / "state.prev.pt")) == (10, 5)
    # 2. resumed on the same disk, now read-only: refused before anything is written, naming the path
    line = error_line(done("ro"))
    assert f"Could not write {run}/" in line and "(Read-only file system)" in line, line
    # 3. resumed once there is room: finished, and exactly where the uninterrupted run ended
    assert done("roomy").returncode == 0, done("roomy").stderr
    assert "checkpoint" not in (logs / "roomy.ls").read_text().split()   # a finished run drops its resume state
    assert_same_run(ref, kept / "run")
    starts = [json.loads(l) for l in (kept / "run" / "metrics.jsonl").read_text().splitlines() if '"start"' in l]
    assert [s["start_step"] for s in starts if s["event"] == "start"] == [0, 10]
