"""Out-of-core runs on one machine: streaming scores, IVF kNN graph, SemDeDup.

Synthetic data: 64-d float32 embeddings from a mixture of 1,000 Gaussians, integer
labels and 10-class out-of-fold-style probabilities, written as ``--files`` Parquet files.
Each measured step runs in a fresh child process so its peak RSS (VmHWM) is its own.

Steps (each prints a line of JSON):

* ``stream``: margin + entropy streamed over all rows, at each of ``--rows`` sizes
  (peak RSS should be flat in n);
* ``ray``: the same score through Ray Data on 2 CPUs vs the local loop (times, identical
  outputs);
* ``ivf``: faiss IVF kNN graph (k = 10) with recall@10 against exact search on a query
  sample;
* ``semdedup``: SemDeDup on rows with planted near-duplicates (precision/recall of the
  removed set) next to the exact-kNN ``near_duplicate`` scorer on a subsample;
* ``fl``: 1% facility location by partitioned GreeDi and by one-pass Sieve-Streaming++
  over the stored IVF graph, at each of ``--fl-rows``; at the first size (1M by default)
  single-machine lazy greedy on the same graph (the in-memory selector's objective, which
  the sieve maximises too) gives the objective ratios.

    python benchmarks/bench_scale.py --quick
    python benchmarks/bench_scale.py --rows 1000000,3000000,10000000 --files 100
    python benchmarks/bench_scale.py --steps fl --fl-rows 1000000,10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

D = 64
N_CLASSES = 10


def write_data(root: Path, n: int, n_files: int, seed: int = 0, dup_frac: float = 0.0) -> None:
    """Write ``n`` rows in ``n_files`` Parquet files (skipped when already there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = root / "_complete.json"  # (pairs of planted duplicates: part-*.pairs.npy)
    if marker.exists() and json.loads(marker.read_text()) == {"n": n, "files": n_files, "dup": dup_frac}:
        return
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(1000, D)).astype(np.float32)
    per = n // n_files
    for i in range(n_files):
        m = per if i < n_files - 1 else n - per * (n_files - 1)
        c = rng.integers(0, 1000, size=m)
        X = centers[c] + rng.normal(size=(m, D)).astype(np.float32)
        if dup_frac:
            k = int(m * dup_frac)
            src = rng.choice(m - k, size=k, replace=False)
            X[m - k :] = X[src] + rng.normal(scale=1e-3, size=(k, D)).astype(np.float32)
            np.save(root / f"part-{i:05d}.pairs.npy", np.stack([src, np.arange(m - k, m)], axis=1))
        y = (c % N_CLASSES).astype(np.int64)
        logits = rng.normal(size=(m, N_CLASSES)).astype(np.float32)
        logits[np.arange(m), y] += 2.0
        P = np.exp(logits)
        P /= P.sum(axis=1, keepdims=True)
        pq.write_table(pa.table({
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), D),
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(P.reshape(-1)), N_CLASSES),
            "label": y,
        }), root / f"part-{i:05d}.parquet")
    marker.write_text(json.dumps({"n": n, "files": n_files, "dup": dup_frac}))


def _peak_mib() -> float:
    """Peak resident memory of this process (VmHWM). Not ru_maxrss: Linux carries that across
    fork and exec, so a child would report its parent's peak when that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def step_stream(root: str, out: str, executor: str) -> dict:
    from thresher.data.dataset import open_dataset
    from thresher.scores.uncertainty import Entropy, Margin
    from thresher.stream.scores import stream_scores

    ds = open_dataset(root, label_column="label", embedding_columns="emb")
    t0 = time.perf_counter()
    r = stream_scores(ds, [Margin(), Entropy()], out, executor=executor, batch_size=65536, n_workers=2)
    return {"rows": ds.n_rows, "files": ds.n_partitions, "seconds": time.perf_counter() - t0,
            "computed": r.n_computed, "driver_peak_rss_mib": _peak_mib()}


def step_ivf(root: str, out: str, n_queries: int) -> dict:
    from thresher.data.dataset import open_dataset
    from thresher.stream.ann import build_ivf, knn_graph

    ds = open_dataset(root, embedding_columns="emb")
    t0 = time.perf_counter()
    index = build_ivf(ds, quantizer="sq8", n_probe=8, n_train=min(200_000, ds.n_rows))
    t_build = time.perf_counter() - t0
    s = knn_graph(ds, index, out, k=10, n_recall_queries=int(n_queries))
    return {"rows": ds.n_rows, "n_lists": index.n_lists, "n_probe": index.n_probe, "quantizer": "sq8",
            "build_seconds": t_build, "total_seconds": time.perf_counter() - t0, "recall_at_10": s["recall_at_k"],
            "recall_queries": int(n_queries), "peak_rss_mib": _peak_mib()}


def step_semdedup(root: str, out: str, n_exact: int) -> dict:
    from thresher.data.dataset import open_dataset
    from thresher.stream.semdedup import read_semdedup, stream_semdedup

    ds = open_dataset(root, embedding_columns="emb")
    t0 = time.perf_counter()
    s = stream_semdedup(ds, out, n_clusters=max(10, ds.n_rows // 1000), eps=1e-4, n_train=min(100_000, ds.n_rows))
    secs = time.perf_counter() - t0
    res = read_semdedup(out).to_pandas().set_index("row_id")
    # planted pairs (source, copy): a pair is found when exactly one of its rows is removed;
    # a removed row is right when it belongs to a planted pair
    pairs, members = [], set()
    for p in ds.partitions:
        ids = ds.read_partition(p, columns=["embeddings"]).row_id
        pr = np.load(Path(p.path).with_suffix(".pairs.npy"))
        pairs.append(ids[pr])
        members.update(ids[pr].reshape(-1).tolist())
    pairs_a = np.concatenate(pairs)
    removed = set(res.index[res["is_duplicate"].to_numpy()].tolist())
    found = sum((a in removed) != (b in removed) for a, b in pairs_a.tolist())
    out_d = {"rows": ds.n_rows, "seconds": secs, "precision": len(removed & members) / max(1, len(removed)),
             "recall": found / len(pairs_a), "removed": len(removed), "planted_pairs": len(pairs_a),
             "n_groups": s["n_groups"], "peak_rss_mib": _peak_mib()}
    # exact kNN near-duplicate scorer on the first files (n_exact rows) vs SemDeDup on the same rows
    from thresher.data.dataset import concat_tables
    from thresher.scores.issues import NearDuplicate
    from thresher.scores.semdedup import SemDeDupCount

    parts, total = [], 0
    for p in ds.partitions:
        if total >= int(n_exact):
            break
        parts.append(ds.read_partition(p, columns=["embeddings"]))
        total += p.n_rows
    t = concat_tables(parts)
    t = t.with_matrix("embeddings", np.asarray(t.embeddings, dtype=np.float64))
    t1 = time.perf_counter()
    nd = NearDuplicate(threshold=0.01).score(t)
    t_exact = time.perf_counter() - t1
    t2 = time.perf_counter()
    sd = SemDeDupCount(n_clusters=max(10, t.n_rows // 1000), eps=1e-4).run(t)
    t_sd = time.perf_counter() - t2
    in_pair = np.isin(t.row_id, list(members))
    flagged = nd > 0
    out_d.update({"subset_rows": t.n_rows, "exact_knn_seconds": t_exact, "semdedup_seconds": t_sd,
                  "exact_knn_flagged": int(flagged.sum()), "pair_members_in_subset": int(in_pair.sum()),
                  "exact_knn_precision": float(np.mean(in_pair[flagged])) if flagged.any() else 1.0,
                  "exact_knn_recall_members": float(np.mean(flagged[in_pair])),
                  "semdedup_removed_subset": int(sd.is_duplicate.sum()),
                  "semdedup_precision_subset": float(np.mean(in_pair[sd.is_duplicate])) if sd.is_duplicate.any() else 1.0,
                  "semdedup_similar_agree_with_exact": float(np.mean((sd.n_similar > 0) == flagged))})
    return out_d


def step_graph(root: str, gdir: str) -> dict:
    """The IVF kNN graph (k = 10) of ``root`` under ``gdir`` (resumable: stored partitions are kept)."""
    from thresher.data.dataset import open_dataset
    from thresher.stream.ann import build_ivf, knn_graph

    ds = open_dataset(root, embedding_columns="emb")
    t0 = time.perf_counter()
    index = build_ivf(ds, quantizer="sq8", n_probe=8, n_train=min(200_000, ds.n_rows))
    s = knn_graph(ds, index, gdir, k=10, n_recall_queries=10_000)
    return {"rows": ds.n_rows, "n_lists": index.n_lists, "seconds": time.perf_counter() - t0,
            "recall_at_10": s["recall_at_k"], "computed_partitions": s["n_computed"], "peak_rss_mib": _peak_mib()}


def _n_done(gdir: str, name: str) -> int:
    """Finished parts of the partitioned output ``<gdir>/<name>``."""
    from thresher.stream.partitions import PartitionStore

    return len(PartitionStore(gdir, name).done_indices())


def _bandwidth(gdir: str) -> float:
    from thresher.stream.reverse_graph import first_part_bandwidth

    return first_part_bandwidth(gdir)


def step_sieve(gdir: str, fraction: str, save: str) -> dict:
    from thresher.select.base import Budget
    from thresher.stream.sieve import stream_facility_location

    t0 = time.perf_counter()
    sel, r = stream_facility_location(gdir, Budget(fraction=float(fraction)), bandwidth=_bandwidth(gdir))
    np.save(save, sel.row_ids)
    return {"picked": len(sel), "seconds": time.perf_counter() - t0, "value": r.value,
            "sieves_max": r.n_sieves_max, "sieves_end": r.n_sieves_end, "peak_rss_mib": _peak_mib()}


def step_greedi(root: str, gdir: str, fraction: str, save: str) -> dict:
    from thresher.data.dataset import open_dataset
    from thresher.select.base import Budget
    from thresher.select.submodular import FacilityLocation
    from thresher.stream.partitioned import partitioned_select

    ds = open_dataset(root, embedding_columns="emb")
    sel = FacilityLocation(n_neighbors=10, bandwidth=_bandwidth(gdir), backend="faiss")
    t0 = time.perf_counter()
    # partitions one after another: faiss already uses both cores inside each one
    r = partitioned_select(ds, sel, Budget(fraction=float(fraction)), executor="local", seed=0)
    np.save(save, r.selection.row_ids)
    return {"picked": len(r.selection), "union": r.union_size, "seconds": time.perf_counter() - t0,
            "peak_rss_mib": _peak_mib()}


def step_greedi_graph(gdir: str, fraction: str, save: str) -> dict:
    from thresher.select.base import Budget
    from thresher.stream.graph_greedi import graph_greedi

    cached = _n_done(gdir, "knn_t") == _n_done(gdir, "knn")
    t0 = time.perf_counter()
    sel, r = graph_greedi(gdir, Budget(fraction=float(fraction)), bandwidth=_bandwidth(gdir), executor="local")
    np.save(save, sel.row_ids)
    return {"picked": len(sel), "union": r.union_size, "seconds": time.perf_counter() - t0, "value": r.value,
            "from_round": r.from_round, "reverse_graph_cached": cached, "peak_rss_mib": _peak_mib()}


def _dense_value(X: np.ndarray, picks: np.ndarray, bw: float) -> float:
    """``sum_i exp(-d(i, S)^2 / (2 bw^2))``: facility location with every pair's similarity (no graph)."""
    import faiss

    d2, _ = faiss.knn(X, np.ascontiguousarray(X[picks]), 1)
    return float(np.exp(-np.maximum(d2[:, 0].astype(np.float64), 0.0) / (2 * bw * bw)).sum())


def _graph_ratios(gdir: str, fraction: str, named: tuple[str, ...]) -> tuple[dict, dict, np.ndarray]:
    """Lazy greedy on the whole stored graph in memory, and each named selection's value as a ratio to it."""
    from thresher.select.objectives import FacilityLocationObjective
    from thresher.select.optimizers import lazy_greedy
    from thresher.stream.ann import read_knn_graph
    from thresher.stream.reverse_graph import RowPositions

    g = read_knn_graph(gdir)
    W = g.similarity("gaussian", _bandwidth(gdir))
    n = g.n_rows
    k = int(round(float(fraction) * n))
    to_pos = RowPositions(g.row_ids)
    pos = {name: to_pos(np.load(f)) for name, f in (x.split("=", 1) for x in named)}  # "name=picked_ids.npy"
    pos["random"] = np.random.default_rng(0).choice(n, size=k, replace=False)
    obj = FacilityLocationObjective(W.tocsr())
    del W
    t0 = time.perf_counter()
    greedy = lazy_greedy(obj, k).positions
    ref = obj.value(greedy)
    out: dict = {"rows": n, "k": k, "lazy_greedy_seconds": time.perf_counter() - t0, "lazy_greedy_value": ref,
                 "ratio_to_lazy_greedy": {name: obj.value(p) / ref for name, p in pos.items()}}
    pos["lazy_greedy"] = greedy
    return out, pos, g.row_ids


def step_fl_graph_ratio(gdir: str, fraction: str, *named: str) -> dict:
    """The ratios on the graph only (no all-pairs value, which needs every row's nearest pick)."""
    out, _, _ = _graph_ratios(gdir, fraction, named)
    return {**out, "peak_rss_mib": _peak_mib()}


def step_fl_ratio(root: str, gdir: str, fraction: str, *named: str) -> dict:
    """Lazy greedy on the whole graph in memory; each selection's value on the graph and on all pairs."""
    from thresher.data.dataset import open_dataset
    from thresher.stream.reverse_graph import RowPositions

    out, pos, ids = _graph_ratios(gdir, fraction, named)
    greedy = pos.pop("lazy_greedy")
    t = open_dataset(root, embedding_columns="emb").to_table()
    X = np.ascontiguousarray(t.embeddings[RowPositions(t.row_id)(ids)], dtype=np.float32)  # in graph order
    bw = _bandwidth(gdir)
    dense_ref = _dense_value(X, greedy, bw)
    out["all_pairs_ratio_to_lazy_greedy"] = {name: _dense_value(X, p, bw) / dense_ref for name, p in pos.items()}
    out["peak_rss_mib"] = _peak_mib()
    return out


def _child(step: str, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_scale as b; " \
           f"print('RESULT' + json.dumps(b.step_{step}(*{list(args)!r})))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{p.stderr[-3000:]}")
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,3000000,10000000")
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "thresher-bench-scale"))
    ap.add_argument("--steps", default="stream,ray,ivf,semdedup")
    ap.add_argument("--ivf-rows", type=int, default=1_000_000)
    ap.add_argument("--semdedup-rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--fl-rows", default="1000000,10000000")
    ap.add_argument("--fl-fraction", type=float, default=0.01)
    ap.add_argument("--fl-graph-ratio", action="store_true",
                    help="also the graph-objective ratio to lazy greedy at the larger --fl-rows")
    ap.add_argument("--fl-methods", default="sieve,greedi_graph,greedi",
                    help="sieve (one pass), greedi_graph (two rounds on the global graph), greedi (partition-local)")
    ap.add_argument("--quick", action="store_true", help="100k rows, 10 files: under 2 minutes")
    a = ap.parse_args()
    if a.quick:
        a.rows, a.files, a.ivf_rows, a.semdedup_rows, a.queries = "100000", 10, 100_000, 100_000, 1000
        a.fl_rows = "100000"
    work = Path(a.work)
    steps = a.steps.split(",")
    print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count()}))
    sizes = [int(float(x)) for x in a.rows.split(",")]
    for n in sizes:
        root = work / f"data-{n}"
        write_data(root, n, a.files)
        if "stream" in steps:
            out = tempfile.mkdtemp(dir=work)
            r = _child("stream", str(root), out, "local")
            print(json.dumps({"step": "stream-local", **r}), flush=True)
            if "ray" in steps and n == sizes[0]:
                out2 = tempfile.mkdtemp(dir=work)
                r2 = _child("stream", str(root), out2, "ray")
                import pyarrow.dataset as pds

                same = pds.dataset(f"{out}/scores", format="parquet").to_table().equals(
                    pds.dataset(f"{out2}/scores", format="parquet").to_table())
                print(json.dumps({"step": "stream-ray", **r2, "local_seconds": r["seconds"],
                                  "ray_over_local": r2["seconds"] / r["seconds"], "identical": same}), flush=True)
    if "ivf" in steps:
        root = work / f"data-{a.ivf_rows}"
        write_data(root, a.ivf_rows, a.files)
        print(json.dumps({"step": "ivf", **_child("ivf", str(root), tempfile.mkdtemp(dir=work), str(a.queries))}), flush=True)
    if "fl" in steps:
        for i, n in enumerate(int(float(x)) for x in a.fl_rows.split(",")):
            root, gdir = work / f"data-{n}", str(work / f"graph-{n}")
            write_data(root, n, a.files)
            if _n_done(gdir, "knn") == a.files:
                print(json.dumps({"step": "graph", "rows": n, "cached": gdir}), flush=True)  # the ivf step measures it
            else:
                print(json.dumps({"step": "graph", **_child("graph", str(root), gdir)}), flush=True)
            fr = str(a.fl_fraction)
            picked = {m: str(work / f"{m}-{n}.npy") for m in a.fl_methods.split(",")}
            for m, f in picked.items():
                args = (gdir, fr, f) if m != "greedi" else (str(root), gdir, fr, f)
                print(json.dumps({"step": m, "rows": n, **_child(m, *args)}), flush=True)
            named = [f"{m}={f}" for m, f in picked.items()]
            if i == 0:
                print(json.dumps({"step": "fl_ratio", **_child("fl_ratio", str(root), gdir, fr, *named)}), flush=True)
            elif a.fl_graph_ratio:  # lazy greedy on the whole graph in memory (about 8 GB at 10M rows)
                print(json.dumps({"step": "fl_graph_ratio", **_child("fl_graph_ratio", gdir, fr, *named)}), flush=True)
    if "semdedup" in steps:
        root = work / f"dup-{a.semdedup_rows}"
        write_data(root, a.semdedup_rows, a.files, seed=1, dup_frac=0.05)
        n_exact = 100_000 if not a.quick else 20_000
        print(json.dumps({"step": "semdedup", **_child("semdedup", str(root), tempfile.mkdtemp(dir=work),
                                                       str(n_exact))}), flush=True)


if __name__ == "__main__":
    main()
