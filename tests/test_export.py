"""`python -m elsa_wb.cli export` as a real subprocess on a real run directory: the export loads with its masks and manifest."""
import argparse, subprocess, sys
import pytest, torch
from elsa_wb.cli import parser, prune_run
from elsa_wb.export import load_exported, MANIFEST, MASKS


def has_export_command() -> bool:
    subs = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return any("export" in s.choices for s in subs)


def test_cli_export_2_4(tmp_path):
    if not has_export_command():
        pytest.skip("elsa_wb.cli.parser() has no `export` command yet (elsa_wb.export.add_parser is not wired in)")
    run, out = tmp_path / "run", tmp_path / "exported"
    s = prune_run("magnitude", "tiny-llama", "2:4", run, save_model=True, eval_seqlen=64, eval_windows=2, progress=False, quiet=True)
    r = subprocess.run([sys.executable, "-m", "elsa_wb.cli", "export", str(run), "--out", str(out), "--format", "2:4"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert (out / MANIFEST).exists(), f"`python -m elsa_wb.cli export` wrote nothing (does elsa_wb/cli.py end with `if __name__ == '__main__': sys.exit(main())`?)\nstdout: {r.stdout}"
    for f in ("model.safetensors", MASKS, MANIFEST): assert f in r.stdout, f
    model, tok, masks, man = load_exported(out)
    assert (man["method"], man["sparsity"], man["format"]) == ("magnitude", "2:4", "2:4")
    assert man["results"]["ppl"] == s["ppl"] and man["sparsity_report"]["total"] == 0.5
    assert all((m.reshape(m.shape[0], -1, 4).sum(-1) == 2).all() for m in masks.values())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
