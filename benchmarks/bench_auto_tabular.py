"""``auto`` against random on scikit-learn's bundled tabular sets, through the command line.

Each dataset is written as a CSV whose features are ordinary numeric columns and whose
label column is ``target`` (a user's own file, as the README's bring-your-own-data path
takes it); thresher makes the stratified held-out split and records it in the manifest.
Per dataset, three commands, exactly as a user would type them:

    thresher score -d X.csv --label-column target --standardize -s margin -s prototypicality -r R
    thresher evaluate -r R -S auto -S ccs -S kcenter -S facility_location \
        -p ccs.by=score.margin --fraction 0.1,0.3,0.5 --seed 0,1,2,3,4

then the paired differences against random (95% interval counting seed and test-row
variance, Holm-corrected verdicts) are read from the run directory and printed.

    python benchmarks/bench_auto_tabular.py               # digits, breast_cancer, wine
    python benchmarks/bench_auto_tabular.py --quick       # wine only, 2 fractions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DATASETS = ("digits", "breast_cancer", "wine")


def write_csv(name: str, path: Path) -> int:
    import sklearn.datasets as skd

    b = getattr(skd, f"load_{name}")(as_frame=True)
    df = b.frame.rename(columns={c: str(c).replace(" ", "_") for c in b.frame.columns})
    df.to_csv(path, index=False)
    return len(df)


def thresher(*args: str) -> str:
    exe = [sys.executable, "-m", "thresher.cli"] if os.environ.get("THRESHER_MODULE") else [
        str(Path(sys.executable).with_name("thresher"))]
    p = subprocess.run([*exe, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"thresher {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="runs/bench_auto_tabular")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--fractions", default="0.1,0.3,0.5")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.datasets, a.fractions = "wine", "0.3,0.5"
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    from thresher.evaluate.paired import compare
    from thresher.store.rundir import RunDir

    print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count()}))
    summary = {}
    for name in a.datasets.split(","):
        csv = work / f"{name}.csv"
        n = write_csv(name, csv)
        run = work / name
        t0 = time.perf_counter()
        thresher("score", "-d", str(csv), "--label-column", "target", "--standardize", "-s", "margin",
                 "-s", "prototypicality", "-r", str(run))
        t1 = time.perf_counter()
        thresher("evaluate", "-r", str(run), "-S", "auto", "-S", "ccs", "-S", "kcenter", "-S", "facility_location",
                 "-p", "ccs.by=score.margin", "--fraction", a.fractions, "--seed", a.seeds)
        t2 = time.perf_counter()
        rd = RunDir(run)
        split = rd.read_manifest().get("data", {}).get("split", {})
        c = compare(rd.read_evaluation(), baseline="random", run_dir=rd)
        rows = c[["arm", "fraction", "mean_diff", "ci_low", "ci_high", "verdict"]].to_dict(orient="records")
        summary[name] = {"rows": n, "split": split, "score_seconds": t1 - t0, "evaluate_seconds": t2 - t1, "vs_random": rows}
        print(f"\n{name}: {n} rows, split {split.get('method', '?')} ({split.get('n_test', '?')} test rows); "
              f"score {t1 - t0:.0f} s, evaluate {t2 - t1:.0f} s")
        print("  paired difference vs random (accuracy points x100, 95% CI, Holm verdict)")
        for r in rows:
            print(f"  {r['arm']:18s} {r['fraction']:4g}  {100 * r['mean_diff']:+6.2f} "
                  f"[{100 * r['ci_low']:+6.2f}, {100 * r['ci_high']:+6.2f}]  {r['verdict']}")
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
