"""Calibration of the collapse warning: its verdict on every sample step of healthy runs and
of runs forced to collapse.

    python benchmarks/collapse_calibration.py [--runs_dir DIR] [--only NAME ...] [--score_only]

Trains each run of RUNS (epoch counts, not minutes, so that a busy CPU gives the same runs)
with --eval_every equal to --sample_every, so that metrics.jsonl holds the diversity and
nearest-neighbour ratio of 256 samples at every sample step, then prints per run the step
table with the single-check verdict of the former rule (diversity or nn_ratio below 0.5), the
verdicts of `gan.health.CollapseRule` and the health status `gan.health.assess` gives with
them (from losses.csv), and the true- and false-positive counts.
Healthy runs use the defaults (seeds, data sets, sizes, grayscale vary); forced collapses use
--lr_d 1e-6 --lr_g 5e-3, a discriminator too slow to push G off a single mode, or --lr_d
1e-6 alone (a frozen discriminator). A run already
in --runs_dir with a finished metrics.jsonl is scored, not trained again (--score_only scores
without training any). Needs ../shared/datasets/faces-400; about 20 minutes on 2 idle cores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan.health import CollapseRule, assess  # noqa: E402
from gan.losslog import read_loss_rows  # noqa: E402
from gan.runs import Run  # noqa: E402

OLD_LEVEL = 0.5  # the single-check rule this calibration replaced: either ratio below 0.5

DATASETS = ROOT.parent / "shared" / "datasets"
FACES = DATASETS / "faces-400"
DEMO = ROOT / "data" / "demo-faces"
COLLAPSE = ("--lr_d", "1e-6", "--lr_g", "5e-3")

# name: (healthy?, data, epochs, sample_every, extra flags); 400 faces: 5 epochs = 2,000 images
RUNS = {
    "faces64-s0": (True, FACES, 60, 5, ("--seed", "0")),
    "faces64-s1": (True, FACES, 60, 5, ("--seed", "1")),
    "faces32-s2": (True, FACES, 60, 5, ("--img_size", "32", "--seed", "2")),
    "faces32-gray-s0": (True, FACES, 60, 5, ("--img_size", "32", "--channels", "1")),
    "demo32-s0": (True, DEMO, 300, 15, ("--img_size", "32", "--seed", "0")),
    "demo32-s1": (True, DEMO, 300, 15, ("--img_size", "32", "--seed", "1")),
    "collapse64-s0": (False, FACES, 50, 5, COLLAPSE + ("--seed", "0")),
    "collapse32-s1": (False, FACES, 50, 5, COLLAPSE + ("--img_size", "32", "--seed", "1")),
    "collapse32-gray-s2": (False, FACES, 50, 5,
                           COLLAPSE + ("--img_size", "32", "--channels", "1", "--seed", "2")),
    "frozen-d32-s3": (False, FACES, 50, 5, ("--lr_d", "1e-6", "--img_size", "32", "--seed", "3")),
}


def rows_of(run_dir: Path) -> list[dict]:
    path = Run(run_dir).metrics_log
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def train(name: str, runs_dir: Path) -> None:
    _, data, epochs, every, extra = RUNS[name]
    run_dir = runs_dir / name
    if run_dir.exists():
        rows = rows_of(run_dir)
        if rows and rows[-1]["epoch"] == epochs:
            return
        sys.exit(f"error: {run_dir} holds an unfinished run; remove it or pass --score_only")
    command = [sys.executable, str(ROOT / "train.py"), "--TYPE", "train", "--path", str(data),
               "--epochs", str(epochs), "--sample_every", str(every),
               "--eval_every", str(every), "--runs_dir", str(runs_dir), "--name", name, *extra]
    print(" ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def score(name: str, runs_dir: Path) -> dict:
    """Verdicts of the rule on each evaluation of one run, and the run's counts."""
    healthy, data, _, _, _ = RUNS[name]
    run = Run(runs_dir / name)
    config = json.loads(run.config_file.read_text())
    losses = read_loss_rows(run.losses_csv)
    rule = CollapseRule()
    rows, previous = [], 0
    for row in rows_of(runs_dir / name):
        images = row["step"] * config["batch_size"]
        verdict = rule.update(images, row["diversity"], row["nn_ratio"])
        batches = [b for b in losses if previous < int(b["step"]) <= row["step"]]
        counts = {d: sum(b["decision"] == d for b in batches) for d in ("both", "g_only", "d_only")}
        status, _ = assess(counts, sum(float(b["loss_g"]) for b in batches) / len(batches),
                           sum(float(b["loss_d"]) for b in batches) / len(batches), verdict,
                           row["diversity"], balance=config["balance"], loss=config["loss"])
        previous = row["step"]
        rows.append((row["epoch"], images, row["diversity"], row["nn_ratio"],
                     min(row["diversity"], row["nn_ratio"]) < OLD_LEVEL, verdict, status))
    flagged = [i for i, r in enumerate(rows) if r[5]]
    return {"name": name, "healthy": healthy, "rows": rows, "flagged": flagged,
            "data": data.name, "size": config["img_size"], "channels": config["channels"],
            "seed": config["seed"]}


def statuses(rows: list) -> str:
    names = [row[6] for row in rows]
    return ", ".join(f"{name} {names.count(name)}" for name in dict.fromkeys(names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs_dir", default=str(ROOT / "runs" / "collapse-calibration"))
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument("--score_only", action="store_true")
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir)
    if not args.score_only:
        if not FACES.is_dir():
            sys.exit(f"error: needs {FACES}")
        for name in args.only:
            train(name, runs_dir)
    results = [score(name, runs_dir) for name in args.only if (runs_dir / name).is_dir()]
    for r in results:
        print(f"\n### {r['name']} ({'healthy' if r['healthy'] else 'forced collapse'}, {r['data']},"
              f" {r['size']} px, {r['channels']} channel(s), seed {r['seed']})")
        print("| epoch | images | diversity | nn ratio | former rule | rule | health |\n"
              "|---|---|---|---|---|---|---|")
        for epoch, images, div, nn, single, verdict, status in r["rows"]:
            print(f"| {epoch} | {images:,} | {div:.2f} | {nn:.2f} | "
                  f"{'collapse' if single else '-'} | {'COLLAPSE' if verdict else '-'} | "
                  f"{status} |")
    print("\n| run | kind | data | px | ch | seed | checks | former rule alarms "
          "| rule alarms | first alarm (check, images) | health statuses |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        first = (f"{r['flagged'][0] + 1}, {r['rows'][r['flagged'][0]][1]:,}" if r["flagged"]
                 else "none")
        print(f"| {r['name']} | {'healthy' if r['healthy'] else 'collapse'} | {r['data']} | "
              f"{r['size']} | {r['channels']} | {r['seed']} | {len(r['rows'])} | "
              f"{sum(row[4] for row in r['rows'])} | {len(r['flagged'])} | {first} | "
              f"{statuses(r['rows'])} |")
    healthy = [r for r in results if r["healthy"]]
    forced = [r for r in results if not r["healthy"]]
    for label, i in (("former rule", 4), ("rule", 5)):
        runs = [sum(any(row[i] for row in r["rows"]) for r in group) for group in (healthy, forced)]
        checks = [sum(row[i] for r in group for row in r["rows"]) for group in (healthy, forced)]
        total = [sum(len(r["rows"]) for r in group) for group in (healthy, forced)]
        print(f"- {label}: false positives in {runs[0]} of {len(healthy)} healthy runs "
              f"({checks[0]} of {total[0]} checks); true positives in {runs[1]} of "
              f"{len(forced)} forced collapses ({checks[1]} of {total[1]} checks)")

if __name__ == "__main__":
    main()
