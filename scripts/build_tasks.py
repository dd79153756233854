#!/usr/bin/env python3
"""Build elsa_wb's offline zero-shot task suite (data/tasks/) from held-out real text, reproducibly.

    python scripts/build_tasks.py            # writes data/tasks/*.jsonl, *.yaml and suite.json (README.md is hand-written)
    python scripts/build_tasks.py --check    # rebuild in memory and fail if the committed files differ

Sources (all held out from calibration and training, see data/README.md): the evaluation corpus `handbook` (all of it)
and the `validation` split (every 20th paragraph) of `austen` and `pydocs`. No item comes from a `train` split; the
script checks that no item's context occurs in the train split of a training corpus (pydocs, austen).

Tasks (lm-eval 0.4 YAML, `dataset_path: json`, data_files relative to data/tasks/; `elsa_wb.evaluate.zero_shot`
resolves them to absolute paths at load time):
  wb_lastword  LAMBADA-style: a passage whose last word is to be predicted. output_type loglikelihood, acc = the
               whole target word is the model's greedy continuation. Predictability proxy: the target (>= 4 letters,
               not a stopword) already occurs in the passage.
  wb_nextsent  HellaSwag-style: 2-3 sentences of a paragraph, then the true next sentence vs 3 distractors of similar
               length drawn from other paragraphs of the same corpus. multiple_choice, acc and acc_norm, chance 25 %.
Only the standard library and elsa_wb.data are needed (no model, no network).
"""
import argparse, hashlib, json, random, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from elsa_wb.data import corpus, _paragraphs, is_eval_text, EVAL_CORPUS

OUT = ROOT / "data" / "tasks"
VERSION = 1                      # bump when the construction changes
SEED = 0
N_ITEMS = 500                    # items per task
SOURCES = ((EVAL_CORPUS, "all"), ("austen", "validation"), ("pydocs", "validation"))  # held-out text only
TRAIN_CORPORA = ("pydocs", "austen")  # corpora whose train split is used for calibration / training
# last word
LW_MIN_WORDS, LW_MAX_WORDS = 25, 80   # passage length (words, target included)
LW_MIN_CHARS = 4                        # target length
# next sentence
NS_CTX_MIN, NS_CTX_MAX = 2, 3           # sentences of context
NS_CTX_MAX_WORDS = 50
NS_END_MIN_WORDS, NS_END_MAX_WORDS = 6, 25
NS_LEN_TOL = 0.2                        # distractor word count within +-20 % of the true ending's

STOPWORDS = set("""a about above after again against all also although am an and any are as at be because been before
being below between both but by can cannot could did do does doing down during each either else even ever every few for
from further had has have having he her here hers herself him himself his how however i if in into is it its itself just
least less let like made make many may me might more most much must my myself neither never no nor not now of off often
on once only or other others otherwise our ours ourselves out over own per perhaps quite rather same shall she should
since so some still such than that the their theirs them themselves then there these they this those though through thus
to too under until up upon us very was we well were what whatever when where whether which while who whom whose why will
with within without would yet you your yours yourself yourselves one two three first also said says say says mr mrs miss
sir lady""".split())

ABBREV = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "cf", "etc", "e.g", "i.e", "eg", "ie", "no", "fig", "vol", "ch",
          "approx", "resp", "esp", "viz", "ca"}
_END = re.compile(r"""[.!?]["'\u201d\u2019)]*(?=\s+["'\u201c\u2018(_]*[A-Z])""")

def sentences(p: str) -> list[str]:
    "Split a paragraph into sentences at . ! ? (+ closing quotes) before an upper-case start; skips abbreviations and initials."
    out, start = [], 0
    for m in _END.finditer(p):
        word = p[start:m.start() + 1].split()[-1].rstrip(".").lstrip("\"'(\u201c\u2018_").lower() if p[start:m.start() + 1].split() else ""
        if word in ABBREV or (len(word) == 1 and word.isalpha()): continue
        out.append(p[start:m.end()].strip()); start = m.end()
    tail = p[start:].strip()
    if tail: out.append(tail)
    return out

_TARGET = re.compile(r"""\s([A-Za-z]+)([.!?]["'\u201d\u2019)]*)$""")

def lastword_item(sents: list[str]) -> dict | None:
    "The longest passage ending at a sentence end whose last word qualifies (None if no sentence end does)."
    for k in range(len(sents) - 1, 0, -1):           # needs at least one sentence before the target sentence
        m = _TARGET.search(sents[k])
        if not m: continue
        target = m.group(1)
        if len(target) < LW_MIN_CHARS or target.lower() in STOPWORDS: continue
        i = 0
        while i < k and sum(len(s.split()) for s in sents[i:k + 1]) > LW_MAX_WORDS: i += 1
        passage = " ".join(sents[i:k + 1])
        if not LW_MIN_WORDS <= len(passage.split()) <= LW_MAX_WORDS: continue
        context = passage[: len(passage) - len(m.group(0))]
        if not re.search(rf"\b{re.escape(target)}\b", context, re.IGNORECASE): continue   # predictability proxy
        return dict(context=context, target=target)
    return None

def ok_sentence(s: str) -> bool:
    n = len(s.split())
    return NS_END_MIN_WORDS <= n <= NS_END_MAX_WORDS and s[:1].isupper() and s[-1:] in ".!?\"'\u201d\u2019)"

def nextsent_candidate(sents: list[str]) -> tuple[str, str] | None:
    "(context, true next sentence): the first 3 (or 2) sentences of the paragraph and the one after."
    for c in range(NS_CTX_MAX, NS_CTX_MIN - 1, -1):
        if len(sents) > c and len(" ".join(sents[:c]).split()) <= NS_CTX_MAX_WORDS and ok_sentence(sents[c]):
            return " ".join(sents[:c]), sents[c]
    return None

def build() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    lw, ns = [], []
    for name, split in SOURCES:
        paras = _paragraphs(corpus(name, split))
        split_sents = [sentences(p) for p in paras]
        pool, used = {}, {}                              # word count -> [(paragraph, sentence)] usable as distractors
        for j, ss in enumerate(split_sents):
            for s in ss[1:]:
                if ok_sentence(s): pool.setdefault(len(s.split()), []).append((j, s))
        for j, ss in enumerate(split_sents):
            src = dict(source=f"{name}/{split}", paragraph=j)
            if (it := lastword_item(ss)): lw.append(dict(**it, **src))
            if (cand := nextsent_candidate(ss)):
                ctx, end = cand
                n = len(end.split())
                near = [s for w in range(round(n * (1 - NS_LEN_TOL)), round(n * (1 + NS_LEN_TOL)) + 1)
                        for (jj, s) in pool.get(w, []) if jj != j and s != end and s not in ctx]
                near = sorted(set(near))
                if len(near) < 3: continue
                rng.shuffle(near); near.sort(key=lambda s: used.get(s, 0))   # random among the least used so far
                for s in near[:3]: used[s] = used.get(s, 0) + 1
                choices = near[:3] + [end]
                rng.shuffle(choices)
                ns.append(dict(context=ctx, choices=choices, answer=choices.index(end), **src))
    assert is_eval_text(corpus(EVAL_CORPUS)), "the evaluation corpus is not recognised as held out"
    train = [corpus(c, "train") for c in TRAIN_CORPORA]
    out = {}
    for what, items in (("wb_lastword", lw), ("wb_nextsent", ns)):
        rng.shuffle(items)
        # a paragraph repeated in a train split (the docs repeat some) would leak: skip items whose context occurs there
        keep = []
        for it in items:
            if len(keep) == N_ITEMS: break
            if not any(it["context"] in t for t in train): keep.append(it)
        if len(keep) < N_ITEMS: sys.exit(f"{what}: only {len(keep)} held-out candidate items, fewer than {N_ITEMS}.")
        out[what] = sorted(keep, key=lambda d: (d["source"], d["paragraph"]))
    return out

LASTWORD_YAML = """\
# LAMBADA-style last-word prediction on held-out elsa_wb text (built by scripts/build_tasks.py; see README.md)
task: wb_lastword
dataset_path: json
dataset_kwargs:
  data_files:
    test: wb_lastword.jsonl   # relative to this folder; elsa_wb.evaluate.zero_shot makes it absolute
test_split: test
output_type: loglikelihood
doc_to_text: "{{context}}"
doc_to_target: "{{' ' + target}}"
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: %d.0
"""

NEXTSENT_YAML = """\
# HellaSwag-style next-sentence choice on held-out elsa_wb text (built by scripts/build_tasks.py; see README.md)
task: wb_nextsent
dataset_path: json
dataset_kwargs:
  data_files:
    test: wb_nextsent.jsonl   # relative to this folder; elsa_wb.evaluate.zero_shot makes it absolute
test_split: test
output_type: multiple_choice
doc_to_text: "{{context}}"
doc_to_choice: "{{choices}}"
doc_to_target: answer
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: %d.0
"""

def files(tasks: dict[str, list[dict]]) -> dict[str, str]:
    "File name -> content of everything in data/tasks/ except README.md."
    out = {f"{t}.jsonl": "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in items) for t, items in tasks.items()}
    out["wb_lastword.yaml"] = LASTWORD_YAML % VERSION
    out["wb_nextsent.yaml"] = NEXTSENT_YAML % VERSION
    sha = lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()
    def sources(items):
        c = {}
        for d in items: c[d["source"]] = c.get(d["source"], 0) + 1
        return dict(sorted(c.items()))
    manifest = dict(version=VERSION, seed=SEED, builder="scripts/build_tasks.py", tasks={
        "wb_lastword": dict(n=len(tasks["wb_lastword"]), output_type="loglikelihood", metric="acc", chance=0.0,
                            sources=sources(tasks["wb_lastword"])),
        "wb_nextsent": dict(n=len(tasks["wb_nextsent"]), output_type="multiple_choice", metric="acc_norm", chance=0.25,
                            sources=sources(tasks["wb_nextsent"]))},
        sha256={f: sha(s) for f, s in sorted(out.items())})
    out["suite.json"] = json.dumps(manifest, indent=1) + "\n"
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if data/tasks/ differs from a fresh build")
    args = ap.parse_args()
    new = files(build())
    if args.check:
        bad = [f for f, s in new.items() if not (OUT / f).is_file() or (OUT / f).read_text(encoding="utf-8") != s]
        if bad: sys.exit(f"data/tasks/ is out of date ({', '.join(bad)}): run python scripts/build_tasks.py.")
        print("data/tasks/ is up to date"); return
    OUT.mkdir(parents=True, exist_ok=True)
    for f, s in new.items(): (OUT / f).write_text(s, encoding="utf-8")
    m = json.loads(new["suite.json"])
    for t, d in m["tasks"].items(): print(f"{t}: {d['n']} items {d['sources']}")
    print(f"wrote {len(new)} files to {OUT} ({sum(len(s.encode()) for s in new.values()):,} bytes)")

if __name__ == "__main__":
    main()
