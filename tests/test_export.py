"""`python -m elsa_wb.cli export` as a real subprocess on a real run directory: the export loads with its masks and manifest."""
import argparse, subprocess, sys
import pytest, torch
from elsa_wb.cli import parser
from elsa_wb.run import RunSpec, execute
from elsa_wb.config import Protocol
from elsa_wb.export import load_exported, MANIFEST, MASKS


def has_export_command() -> bool:
    subs = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return any("export" in s.choices for s in subs)


def test_cli_export_2_4(tmp_path):
    assert has_export_command()
    run, out = tmp_path / "run", tmp_path / "exported"
    s = execute(RunSpec("magnitude", "tiny-llama", protocol=Protocol(seqlen=64, windows=2)).with_sparsity("2:4"), run, save_model=True, progress=False)
    r = subprocess.run([sys.executable, "-m", "elsa_wb.cli", "export", str(run), "--out", str(out), "--pattern", "2:4"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert (out / MANIFEST).exists(), f"`python -m elsa_wb.cli export` wrote nothing (does elsa_wb/cli.py end with `if __name__ == '__main__': sys.exit(main())`?)\nstdout: {r.stdout}"
    for f in ("model.safetensors", MASKS, MANIFEST, "pattern 2:4 (checked)"): assert f in r.stdout, f
    model, tok, masks, man = load_exported(out)
    assert (man["method"], man["sparsity"], man["pattern"], man["layout"]) == ("magnitude", "2:4", "2:4", "dense")
    assert man["results"]["ppl"] == s["ppl"] and man["sparsity_report"]["total"] == 0.5
    assert all((m.reshape(m.shape[0], -1, 4).sum(-1) == 2).all() for m in masks.values())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_cli_speed_on_an_export(tmp_path):
    "`elsa-wb speed` on an exported pruned model: every CPU format computes the same tokens; the JSON holds the side-by-side ratios."
    import json
    run, out = tmp_path / "run", tmp_path / "exported"
    execute(RunSpec("magnitude", "tiny-llama", protocol=Protocol(seqlen=64, windows=1)).with_sparsity("0.9"), run, save_model=True, progress=False)
    assert subprocess.run([sys.executable, "-m", "elsa_wb.cli", "export", str(run), "--out", str(out)], capture_output=True, timeout=600).returncode == 0
    r = subprocess.run([sys.executable, "-m", "elsa_wb.cli", "speed", str(out), "--prompt-tokens", "8", "--new-tokens", "2", "--repeats", "1",
                        "--json", str(tmp_path / "speed.json")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2:4" in r.stdout and "not available on this device" in r.stdout   # CPU: reported, not crashed
    rec = json.loads((tmp_path / "speed.json").read_text())
    text = json.dumps(rec)
    assert "csr" in text and "bsr" in text
    assert "same tokens" in r.stdout and " False" not in r.stdout   # sparse formats produce the dense model's greedy tokens
    bad = subprocess.run([sys.executable, "-m", "elsa_wb.cli", "speed", str(tmp_path / "nope")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.startswith("elsa-wb: error: ")


def test_bf16_run_to_compressed_export_and_eval(tmp_path):
    """prune --dtype bf16 (ELSA: fp32 master weights, saved in bf16), `eval --run` on the chosen device in bf16, export --format
    compressed-tensors (bf16, the run's dtype), then `eval --model` the export: the run's perplexity each time."""
    import json
    run, out = tmp_path / "run", tmp_path / "ct"
    cmd = [sys.executable, "-m", "elsa_wb.cli"]
    r = subprocess.run([*cmd, "prune", "--method", "elsa", "--model", "tiny-llama", "--sparsity", "0.7", "--dtype", "bf16", "--device", "cpu",
                        "--steps", "4", "--seqlen", "32", "--eval-every", "0", "--out", str(run), "--ppl-seqlen", "64", "--ppl-windows", "2", "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["eval"]["protocol"]["dtype"] == "bfloat16" and s["eval"]["protocol"]["device"].startswith("cpu")
    assert json.loads((run / "config.json").read_text())["elsa"]["dtype"] == "bfloat16"
    assert json.loads((run / "model" / "config.json").read_text())["dtype"] == "bfloat16"   # saved in the run's dtype
    r = subprocess.run([*cmd, "eval", "--run", str(run), "--device", "cpu", "--seqlen", "64", "--windows", "2", "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(r.stdout[r.stdout.index("{"):])
    assert rec["protocol"]["dtype"] == "bfloat16" and rec["ppl"] == s["ppl"]
    r = subprocess.run([*cmd, "export", str(run), "--out", str(out), "--format", "compressed-tensors"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "NOT transformers >= 5" in r.stdout and not (out / MASKS).exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dtype"] == "bfloat16" and cfg["quantization_config"]["sparsity_config"]["format"] == "sparse-bitmask"
    r = subprocess.run([*cmd, "eval", "--model", str(out), "--seqlen", "64", "--windows", "2", "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(r.stdout[r.stdout.index("{"):])
    assert rec["protocol"]["dtype"] == "bfloat16" and rec["ppl"] == s["ppl"]
