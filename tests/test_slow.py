"""The real model end to end (`make test-slow`): a short ELSA run on the embedded SmolLM2-135M reaches the exact sparsity in every
matrix, and `elsa-wb eval` reproduces its perplexity from the saved model."""
import json, math, re
from pathlib import Path
import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

SPARSITY, WINDOWS = 0.8, 4
HANG = 3600   # seconds: a guard against a hung subprocess only, never a speed requirement
PRUNABLE = re.compile(r"model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight")


def eval_record(r) -> dict:
    "The result record `elsa-wb eval --json` prints after its two summary lines."
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith("{"))
    return json.loads("\n".join(lines[i:]))


@pytest.fixture(scope="module")
def run(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smollm2") / "elsa80"
    r = cli("prune", "--method", "elsa", "--model", "smollm2-135m", "--sparsity", SPARSITY, "--steps", 8, "--interval", 2,
            "--batch-size", 2, "--grad-accum", 1, "--seqlen", 128, "--lr", 5e-3, "--ppl-windows", WINDOWS, "--save-model", "--no-progress", "--out", out,
            timeout=HANG)
    assert r.returncode == 0, r.stderr
    return out


def test_smollm2_elsa_exact_sparsity(run):
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "smollm2-135m" and summary["train"]["steps"] == 8
    assert math.isfinite(summary["ppl"]) and summary["ppl"] > 1
    assert summary["eval"]["protocol"]["windows"] == WINDOWS
    w = {k: t for k, t in load_file(run / "model" / "model.safetensors").items() if PRUNABLE.fullmatch(k)}
    assert len(w) == 210 == len(summary["sparsity_report"]["matrices"])   # 30 blocks x 7 matrices
    wrong = {k: int((t == 0).sum()) for k, t in w.items() if int((t == 0).sum()) != math.floor(t.numel() * SPARSITY)}
    assert not wrong, f"matrices without exactly floor(numel * {SPARSITY}) zeros: {wrong}"
    assert not (run / "checkpoint").exists()


def test_eval_of_saved_run_and_dense_model(cli, run):
    summary = json.loads((run / "summary.json").read_text())
    pruned = eval_record(cli("eval", "--run", run, "--windows", WINDOWS, "--json", timeout=HANG))
    same = ("text", "seqlen", "windows", "predicted_tokens", "normaliser", "bos", "dtype")
    assert {k: pruned["protocol"][k] for k in same} == {k: summary["eval"]["protocol"][k] for k in same}
    assert math.isclose(pruned["ppl"], summary["ppl"], rel_tol=1e-6), (pruned["ppl"], summary["ppl"])
    dense = eval_record(cli("eval", "--model", "smollm2-135m", "--windows", WINDOWS, "--json", timeout=HANG))
    assert math.isfinite(dense["ppl"]) and 1 < dense["ppl"] < summary["ppl"]   # 8 steps cannot make 80% sparsity lossless
