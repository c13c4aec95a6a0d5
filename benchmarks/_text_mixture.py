"""Build a large real text mixture from text Debian ships (shared by the text benchmarks).

Documents: manual pages (troff stripped) cut into chunks of 40-160 words, license texts
in paragraph chunks, and single fortunes. The target domain's documents are split in
two: a disjoint target sample (what the user wants more of) and the rest, which goes into
the raw pool. The pool is filled up to ``n_docs`` with the other domains; the result is
cached as JSON Lines in ``/tmp`` so repeated runs skip the parsing.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from thresher.data.text import DEBIAN_DOMAINS, _fortune_docs, _license_docs, strip_troff
from thresher.errors import DatasetUnavailableError


def _man_chunks(rng: np.random.Generator) -> list[str]:
    root = Path(DEBIAN_DOMAINS["man"][0])
    files = sorted(root.glob("man[1-8]/*.gz"))
    if not files:
        raise DatasetUnavailableError(f"no manual pages under {root}; install {DEBIAN_DOMAINS['man'][1]}.")
    out = []
    for f in files:
        try:
            src = gzip.decompress(f.read_bytes()).decode("utf-8", errors="replace")
        except (OSError, EOFError):
            continue
        if src.lstrip().startswith(".so "):
            continue
        words = strip_troff(src).split()
        i = 0
        while i < len(words):
            size = int(rng.integers(40, 161))
            if len(words) - i >= 20:
                out.append(" ".join(words[i : i + size]))
            i += size
    return out


def build_mixture(
    n_docs: int, target: str = "fortune", n_target: int = 3000, seed: int = 0, target_fraction: float = 0.15
) -> tuple[list[str], np.ndarray, list[str]]:
    """Return (raw pool texts, pool domain labels, target sample texts).

    The pool holds at most ``target_fraction * n_docs`` documents of the target domain.
    """
    cache = Path(f"/tmp/thresher_text_mixture_{n_docs}_{target}_{n_target}_{seed}_{target_fraction}.jsonl")
    if cache.exists():
        rows = [json.loads(line) for line in cache.read_text().splitlines()]
        raw = [r["text"] for r in rows if r["split"] == "raw"]
        dom = np.array([r["domain"] for r in rows if r["split"] == "raw"], dtype=object)
        tgt = [r["text"] for r in rows if r["split"] == "target"]
        return raw, dom, tgt
    rng = np.random.default_rng(seed)
    docs = {
        "man": _man_chunks(rng),
        "license": _license_docs(Path(DEBIAN_DOMAINS["license"][0]), 300, 0, rng),
        "fortune": _fortune_docs(Path(DEBIAN_DOMAINS["fortune"][0]), 300, 0, rng),
    }
    for d, v in docs.items():
        if not v:
            raise DatasetUnavailableError(f"domain {d!r} has no documents; install {DEBIAN_DOMAINS[d][1]}.")
    tdocs = [docs[target][i] for i in rng.permutation(len(docs[target]))]
    tgt, rest = tdocs[:n_target], tdocs[n_target:]
    pool = [(t, target) for t in rest[: int(round(target_fraction * n_docs))]]
    others = [(t, d) for d in docs if d != target for t in docs[d]]
    need = max(0, n_docs - len(pool))
    idx = rng.choice(len(others), size=need, replace=need > len(others))
    pool += [others[i] for i in idx]
    pool = [pool[i] for i in rng.permutation(len(pool))][:n_docs]
    with open(cache, "w") as fh:
        for t, d in pool:
            fh.write(json.dumps({"split": "raw", "domain": d, "text": t}) + "\n")
        for t in tgt:
            fh.write(json.dumps({"split": "target", "domain": target, "text": t}) + "\n")
    return [p[0] for p in pool], np.array([p[1] for p in pool], dtype=object), tgt
