"The bench scripts' bookkeeping (no training): quality.py --merge and budget.py's table, on the committed quality.json."
import copy, importlib.util, json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUALITY = json.loads((ROOT / "bench" / "results" / "quality.json").read_text())


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def one_sparsity(rec, s):
    "The committed bench cut down to dense plus the rows at sparsity `s`, as one invocation's record."
    r = copy.deepcopy(rec)
    r.pop("invocations", None)   # as if measured by one command
    r["rows"] = [{k: v for k, v in x.items() if k != "invocation"} for x in r["rows"] if x["method"] == "dense" or x["sparsity"] == s]
    r["config"]["sparsities"] = [x["label"] for x in r["rows"] if x["method"] != "dense"][:1]
    return r


def test_merge_keeps_other_sparsities_and_refuses_other_settings(tmp_path):
    q = load("quality")
    sparsities = sorted({r["sparsity"] for r in QUALITY["rows"] if r["method"] != "dense"})
    first, last = sparsities[0], sparsities[-1]
    earlier = one_sparsity(QUALITY, first)
    path = tmp_path / "quality.json"; path.write_text(json.dumps(earlier))
    now = one_sparsity(QUALITY, last)
    want = earlier["config"]["sparsities"] + now["config"]["sparsities"]
    rows = q.merge_earlier(now, now["rows"], path)
    assert [r["method"] for r in rows].count("dense") == 1 and rows[0]["method"] == "dense"
    assert {r["sparsity"] for r in rows if r["method"] != "dense"} == {first, last}
    assert [r["sparsity"] for r in rows] == sorted(r["sparsity"] for r in rows)   # dense first, then by sparsity
    assert [v["command"] for v in now["invocations"]] == [earlier["command"], now["command"]]
    assert {r["invocation"] for r in rows if r["sparsity"] == first} == {0} and {r["invocation"] for r in rows if r["sparsity"] == last} == {1}
    assert now["config"]["sparsities"] == want
    other = one_sparsity(QUALITY, last); other["config"]["elsa"]["lr"] = 1e-3
    with pytest.raises(ValueError, match="other settings"):
        q.merge_earlier(other, other["rows"], path)
    md = q.report({**now, "rows": rows})
    assert earlier["command"] in md and now["command"] in md


def test_variant_rows_sit_beside_elsa_with_their_settings(tmp_path):
    q = load("quality")
    path = tmp_path / "quality.json"; path.write_text(json.dumps(QUALITY))
    s = next(r["sparsity"] for r in QUALITY["rows"] if r["method"] == "elsa")
    v = copy.deepcopy(QUALITY)
    v["rows"] = [dict(r, method="elsa-prox", ppl=r["ppl"] / 2) for r in v["rows"] if r["method"] == "elsa" and r["sparsity"] == s]
    v["config"]["elsa"] = {**v["config"]["elsa"], "penalty": "proximal", "rho": 0.05}
    v["config"]["variants"] = {"prox": v["config"]["elsa"]}
    with pytest.raises(ValueError, match="--variant"):
        q.merge_earlier(copy.deepcopy(v), v["rows"], path)          # other ELSA settings without a name are refused
    rows = q.merge_earlier(v, v["rows"], path, variant="prox")
    assert len(rows) == len(QUALITY["rows"]) + 1
    assert v["config"]["elsa"] == QUALITY["config"]["elsa"] and v["config"]["variants"]["prox"]["penalty"] == "proximal"
    new = next(r for r in rows if r["method"] == "elsa-prox")
    best = min(r["ppl"] for r in rows if r["method"] in ("magnitude", "wanda", "sparsegpt") and r["sparsity"] == s)
    assert new["vs_best_one_shot"] == pytest.approx(new["ppl"] / best)
    md = q.report({**v, "rows": rows})
    assert "elsa-prox: as ELSA but" in md and "penalty proximal" in md and "rho 0.05" in md


def test_budget_table_pairs_elsa_with_its_control(tmp_path):
    b = load("budget")
    rows = b.budget_rows(QUALITY, "quality.json")
    methods, tab = b.table(rows)
    assert methods[0] == "sparsegpt+ft" and "elsa" in methods
    assert set(methods) == {r["method"] for r in QUALITY["rows"] if b.trained(r["method"])}
    controls = [m for m in methods if b.is_control(m)]
    assert methods[:len(controls)] == controls   # the controls first, then every ELSA
    assert {t["sparsity"] for t in tab} == {r["sparsity"] for r in QUALITY["rows"] if r["method"] == "elsa"}
    for t in tab:
        elsa = next(r for r in QUALITY["rows"] if r["method"] == "elsa" and r["sparsity"] == t["sparsity"])
        ctrl = next(r for r in QUALITY["rows"] if r["method"] == "sparsegpt+ft" and r["sparsity"] == t["sparsity"])
        assert t["elsa_vs_control"] == pytest.approx(elsa["ppl"] / ctrl["ppl"])
        assert t["steps"] == QUALITY["config"]["elsa"]["steps"] + QUALITY["config"]["elsa"]["finetune_steps"]
    other = copy.deepcopy(QUALITY); other["protocol"]["windows"] = 1
    with pytest.raises(ValueError, match="another protocol"):
        b.check_protocol({"a": QUALITY, "b": other})


def test_variant_names_the_control_too(tmp_path):
    q, b = load("quality"), load("budget")
    path = tmp_path / "quality.json"; path.write_text(json.dumps(QUALITY))
    s = next(r["sparsity"] for r in QUALITY["rows"] if r["method"] == "elsa")
    v = copy.deepcopy(QUALITY)
    v["rows"] = [dict(r, ppl=r["ppl"] * f) for r, f in ((r, {"elsa": 0.5, "sparsegpt+ft": 0.8}.get(r["method"])) for r in v["rows"]
                                                        if r["sparsity"] == s) if f]
    v["config"]["elsa"] = {**v["config"]["elsa"], "warmup_steps": 7}
    q.name_variant(v, v["rows"], "wu")
    assert sorted(r["method"] for r in v["rows"]) == ["elsa-wu", "sparsegpt+ft-wu"]
    assert v["config"]["variant_finetune"]["wu"] == QUALITY["config"]["finetune"]
    rows = q.merge_earlier(v, v["rows"], path, variant="wu")
    assert {"sparsegpt+ft", "sparsegpt+ft-wu", "elsa", "elsa-wu"} <= {r["method"] for r in rows}
    assert "sparsegpt+ft-wu: the control with elsa-wu's training settings" in q.report({**v, "rows": rows})
    methods, tab = b.table(b.budget_rows({**v, "rows": rows}, "quality.json"))
    assert methods[0] == "sparsegpt+ft" and "sparsegpt+ft-wu" in methods and methods.index("sparsegpt+ft-wu") < methods.index("elsa")
    t = next(t for t in tab if t["sparsity"] == s)
    ppl = {r["method"]: r["ppl"] for r in rows if r["sparsity"] == s}
    assert t["elsa-wu_control"] == "sparsegpt+ft-wu" and t["elsa_control"] == "sparsegpt+ft"
    assert t["elsa-wu_vs_control"] == pytest.approx(ppl["elsa-wu"] / ppl["sparsegpt+ft-wu"]) == pytest.approx(0.5 / 0.8 * ppl["elsa"] / ppl["sparsegpt+ft"])


def test_claim_report_pairs_elsa_with_its_control_by_seed(tmp_path, monkeypatch):
    "bench/claim.py report on the committed cells (no training): per-seed ratios are ELSA / control of the same seed; cells are well formed."
    c = load("claim")
    cells = tmp_path / "claim"; cells.mkdir()
    recs = [json.loads(p.read_text()) for p in sorted((ROOT / "bench" / "results" / "claim").glob("*.json"))]
    pairs = [(e, k) for e in recs for k in recs if e["cell"].startswith("elsa-0") and e["study"] == "seeds"
             and k["cell"] == e["cell"].replace("elsa-", "control-")]
    assert pairs, "no ELSA cell of the seeds study has its control yet"
    fake = copy.deepcopy(pairs[0][0]); fake["cell"] = fake["cell"].replace("-s0", "-s7"); fake["seed"] = 7; fake["ppl"] *= 3
    for r in recs + [fake]: (cells / f"{r['cell']}.json").write_text(json.dumps(r))
    monkeypatch.setattr(c, "CELLS", cells)
    md = c.report(tmp_path)
    e, k = pairs[0]
    sys.path.insert(0, str(ROOT / "scripts")); import make_readme as mr
    assert f"s{e['seed']}: {e['ppl'] / k['ppl']:.2f}x" in md   # the fake seed has no control: no ratio for s7, but ELSA's mean counts it
    same = [r["ppl"] for r in recs if r["study"] == "seeds" and r["cell"].startswith(f"elsa-{e['sparsity']:g}-s")]
    assert mr._mean_spread(same + [fake["ppl"]]) in md
    assert "s7:" not in md
    assert json.loads((tmp_path / "claim.json").read_text())["cells"][0]["cell"] == sorted(r["cell"] for r in recs + [fake])[0]
    for r in recs: assert {"cell", "study", "ppl", "ppl_austen", "train_tokens", "git_commit", "config"} <= set(r), r["cell"]


def test_claim_cells_pin_the_lr_they_compare():
    "The seeds study's dense+ft keeps the control's lr (5e-4 at 120 steps); the near-dense study's rule cells get the rule's x0.1 at 0% and 50%."
    c = load("claim")
    from elsa_wb.config import budget_rule
    assert c.FULL_LR == budget_rule(120)["lr"]
    seeds, near = c.seed_cells([0], [0.7]), c.neardense_cells([0], [0.5])
    lr = lambda cells, n: cells[n][1].training_config().lr
    assert lr(seeds, "dense+ft-s0") == lr(seeds, "control-0.7-s0") == c.FULL_LR == lr(near, "control-fulllr-0.5-s0")
    assert abs(lr(near, "dense+ft-rule-s0") - c.FULL_LR / 10) < 1e-12 and abs(lr(near, "control-0.5-s0") - c.FULL_LR / 10) < 1e-12
    assert c.main(["seeds", "--only", "no-such-cell", "--cells", "/nonexistent"]) == 2


def test_claim_budget_recipe_arm_is_paired_with_a_control_of_the_same_warmup_and_tokens():
    "The budget study's elsa-cpu (the recipe scaled to the steps) and control-cpu share steps, warm-up and lr; the report's curve starts at the seeds study's 120 steps."
    c = load("claim")
    cells = c.budget_cells([480], [0.9])
    e, k = (cells[f"{arm}-0.9-480steps"][1].training_config() for arm in ("elsa-cpu", "control-cpu"))
    assert e.total_steps == k.total_steps == 480 and e.warmup_steps == k.warmup_steps == 40 and e.lr == k.lr
    assert (e.steps, e.finetune_steps, k.steps) == (360, 120, 0)
    assert c.RECIPE == dict(steps=90, finetune_steps=30, warmup_steps=10, init="sparsegpt", projection="magnitude", warm_start=True)
    recs = [r for r in c.cell_records() if r["study"] != "budget"]   # the real 120-step pairs; the budget cells are faked below
    ref = {r["cell"]: r for r in recs}
    fakes = [dict(ref["elsa-0.9-s0"], cell=f"{arm}-0.9-480steps", study="budget", steps=480, ppl=ppl, admm_curve=None)
             for arm, ppl in (("elsa-cpu", 100.0), ("control-cpu", 50.0), ("elsa-paper", 1e6), ("control", 40.0))]
    curve = c.budget_curves(recs + fakes)["elsa-cpu"]
    assert curve[480][0] == 2.0 and curve[120][0] == pytest.approx(ref["elsa-0.9-s0"]["ppl"] / ref["control-0.9-s0"]["ppl"])
    md = c.report_text(recs + fakes)
    row = lambda arm: next(l for l in md.splitlines() if f"| {arm} |" in l)
    assert "480 steps s0 2.00x" in md and "| 100.0 |" in row("elsa-cpu") and "| 2.00x |" in row("elsa-cpu")
    assert "| 25000.00x |" in row("elsa-paper")   # the paper's arm over its own control (40), not over control-cpu
    assert c.crossing({120: {0: 1.5, 1: 1.3}, 480: {0: 1.3, 1: 1.1}}) == pytest.approx(480 * 4 ** (0.2 / 0.2))   # 1.4 -> 1.2 per x4: 1.0 at 1920
    assert c.crossing({120: {0: 1.5, 1: 1.3}, 480: {0: 1.2}}) == pytest.approx(480 * 4 ** (0.2 / 0.3))   # seed 0 alone is at both budgets
    assert c.crossing({120: {0: 1.2}, 480: {0: 1.3}}) is None and c.crossing({120: {0: 1.2}}) is None     # moving away; one budget
    assert c.last_move({480: {0: 1.22}, 120: {0: 1.42, 1: 1.5}, 960: {0: 1.32}}) == (480, 960, 1.22, 1.32)   # sorted by budget; seed 0 at all
    assert c.last_move({120: {0: 1.4}}) is None
    cells = c.budget_cells([480], [0.9], seeds=[0, 1])   # seed 0 keeps its old names; another seed's cells end in -s<seed>
    assert {"elsa-cpu-0.9-480steps", "control-cpu-0.9-480steps-s1"} <= set(cells) and cells["elsa-cpu-0.9-480steps-s1"][1].elsa.seed == 1
    assert c.arm_of("elsa-cpu-0.9-480steps-s1") == "elsa-cpu" == c.arm_of("elsa-cpu-0.9-480steps")
    s1 = [dict(f, cell=f["cell"] + "-s1", seed=1, ppl=f["ppl"] * 0.6) for f in fakes[:2]]   # a second seed at 480: its own pair
    assert c.budget_curves(recs + fakes + s1)["elsa-cpu"][480] == {0: 2.0, 1: 2.0}
    assert sum("| elsa-cpu |" in l and "| 480 | 1 |" in l for l in c.report_text(recs + fakes + s1).splitlines()) == 1
    assert "reaches 1.00x" not in md   # the fake 480-step pair (2.00x) moves away from 1
    fakes[0]["admm_curve"] = [dict(step=0, rho=0.01, primal_rel=0.1, iou_init=0.99)]   # no live IoU (a resumed sitting): z0 is SparseGPT's mask
    md = c.report_text(recs + fakes)
    assert row("elsa-cpu").endswith("| 0.99, 0.99, 0.99 |") and fakes[0]["config"]["elsa"]["init"] == "sparsegpt"


def test_claim_rho_cells_differ_from_the_seeds_study_only_in_rho_and_pair_with_its_controls():
    "The rho study's cell is the seeds study's ELSA with another rho; its ratio is over the seeds study's control of the same seed."
    c = load("claim")
    seeds, rhos = c.seed_cells([1], [0.9]), c.rho_cells([1], [0.9], [0.003])
    a, b = seeds["elsa-0.9-s1"][1], rhos["elsa-rho0.003-0.9-s1"][1]
    assert (a.elsa.rho, b.elsa.rho) == (0.01, 0.003)
    import dataclasses
    assert dataclasses.replace(b, elsa=dataclasses.replace(b.elsa, rho=a.elsa.rho)).to_json() == a.to_json()
    recs = [r for r in c.cell_records() if r["study"] != "rho"]; ref = {r["cell"]: r for r in recs}   # the committed rho cells aside: the fake alone
    cfg = {**ref["elsa-0.9-s1"]["config"], "elsa": {**ref["elsa-0.9-s1"]["config"]["elsa"], "rho": 0.003}}
    fake = dict(ref["elsa-0.9-s1"], cell="elsa-rho0.003-0.9-s1", study="rho", ppl=ref["control-0.9-s1"]["ppl"] / 2, config=cfg)
    curves = c.rho_curves(recs + [fake])
    assert curves[0.9][0.003] == {1: 0.5} and curves[0.9][0.01][1] == pytest.approx(ref["elsa-0.9-s1"]["ppl"] / ref["control-0.9-s1"]["ppl"])
    assert 0.7 not in curves   # no other rho at 70%: no row
    assert "| 90% | 0.003 | s1: 0.50x | 0.50x | 1 |" in c.report_text(recs + [fake])


def test_claim_heldout_is_the_runs_last_evaluation_and_is_paired_by_seed(tmp_path, monkeypatch):
    "ppl_heldout comes from the run directory's last eval event (backfilled into older records); the table pairs ELSA with its control of the same seed."
    c = load("claim")
    runs, cells = tmp_path / "runs", tmp_path / "claim"; cells.mkdir()
    base = json.loads((ROOT / "bench" / "results" / "claim" / "elsa-0.9-s0.json").read_text())
    for cell, evals in (("elsa-0.9-s4", [50.0, 40.0]), ("control-0.9-s4", [30.0, 20.0]), ("elsa-0.9-s5", [9.0])):
        r = {k: v for k, v in base.items() if k != "ppl_heldout"}
        r.update(cell=cell, method=cell.split("-")[0], seed=int(cell[-1]), ppl=100.0 if cell.startswith("elsa") else 200.0)
        (cells / f"{cell}.json").write_text(json.dumps(r))
        (runs / cell).mkdir(parents=True)
        (runs / cell / "metrics.jsonl").write_text("".join(json.dumps(dict(event="eval", step=i, sparse_ppl=v)) + "\n" for i, v in enumerate(evals)))
    monkeypatch.setattr(c, "CELLS", cells)
    assert c.backfill_heldout(runs) == ["control-0.9-s4", "elsa-0.9-s4", "elsa-0.9-s5"]
    assert json.loads((cells / "elsa-0.9-s4.json").read_text())["ppl_heldout"] == 40.0   # the last evaluation, not the first
    assert c.backfill_heldout(runs) == []   # records that have it are left alone
    rows = [l for l in c.heldout_section(c.cell_records(cells)) if l.startswith("| 90%")]
    assert rows == ["| 90% | 4 | 40.0 | 20.0 | 2.00x | 100.0 | 200.0 | 0.50x |"]   # s5 has no control: no row


def test_claim_budget_table_pairs_each_budget_and_seed_with_its_own_control():
    "make_readme's claim_budget: one row per (steps, seed) with both recipe arms; the paper's column only where its pair ran."
    sys.path.insert(0, str(ROOT / "scripts")); import make_readme as mr
    recs = [json.loads(p.read_text()) for p in sorted((ROOT / "bench" / "results" / "claim").glob("*.json"))]
    by = {r["cell"]: r for r in recs}
    e, k = copy.deepcopy(by["elsa-cpu-0.9-480steps"]), copy.deepcopy(by["control-cpu-0.9-480steps"])
    cells = recs
    lone = copy.deepcopy(e); lone.update(cell="elsa-cpu-0.9-480steps-s7", seed=7)            # no control at seed 7: no row
    e7, k7 = copy.deepcopy(e), copy.deepcopy(k)
    e7.update(cell="elsa-cpu-0.9-2000steps-s3", seed=3, steps=2000, ppl=150.0)
    k7.update(cell="control-cpu-0.9-2000steps-s3", seed=3, steps=2000, ppl=200.0)
    paper = copy.deepcopy(by["elsa-paper-0.9-480steps"]); paper.update(cell="elsa-paper-0.9-2000steps-s3", seed=3, steps=2000)   # no control: no paper column
    rows = mr.claim_budget_rows(cells + [lone, e7, k7, paper], 0.9)
    keys = [(r["steps"], r["seed"]) for r in rows]
    assert (480, 7) not in keys and keys == sorted(keys) and (2000, 3) in keys
    assert all(r["control"]["seed"] == r["elsa"]["seed"] and r["control"]["steps"] == r["elsa"]["steps"] for r in rows)
    assert all(r["control"]["method"] == "sparsegpt+ft" and r["elsa"]["method"] == "elsa" for r in rows)
    assert next(r for r in rows if r["steps"] == 2000)["paper"] is None
    row480 = next(r for r in rows if (r["steps"], r["seed"]) == (480, 0))
    assert row480["paper"]["cell"] == "elsa-paper-0.9-480steps" and row480["paper_control"]["cell"] == "control-0.9-480steps"
    md = mr.claim_budget_table(cells + [lone, e7, k7, paper], 0.9)
    assert "| 2000 | " in md and "| 0.75x |" in md   # 150 / 200
    assert {r["steps"] for r in rows} >= {120, 480, 960} and len([r for r in rows if r["steps"] == 120]) == 3   # the committed records
