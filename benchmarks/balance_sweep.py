"""Compare balance settings by training each for the same number of epochs, same seed.

For every setting it runs the product's own CLI, then reports the decision mix from
losses.csv and a collapse check on 256 generated images: the mean pairwise distance between
them (at 16x16) divided by the same for 256 real images (1 = as varied as the data, near 0 =
mode collapse). Sample grids are left in each run folder for looking at.

    python benchmarks/balance_sweep.py --path ../shared/datasets/faces-400 --epochs 15 \
        --setting simultaneous --setting margin:0.1:5:0 --setting margin:0.2:2:0.9

A setting is `simultaneous` or `margin:E:MAX_SKIP:LOSS_EMA`.
"""
import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from gan.data import load_images  # noqa: E402
from gan.losslog import read_loss_rows  # noqa: E402
from gan.runs import Run  # noqa: E402


def diversity(images_uint8: np.ndarray) -> float:
    small = np.stack([cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA)
                      for x in images_uint8]).reshape(len(images_uint8), -1) / 255.0
    d = np.sqrt(((small[:, None] - small[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(small), 1)].mean())


def run(setting: str, args) -> dict:
    name = setting.replace(":", "_")
    flags = ["--balance", "simultaneous"] if setting == "simultaneous" else []
    if setting.startswith("margin"):
        _, e, k, ema = setting.split(":")
        flags = ["--balance", "margin", "--margin", e, "--max_skip", k, "--loss_ema", ema]
    base = [sys.executable, str(ROOT / "train.py"), "--runs_dir", args.runs_dir]
    subprocess.run(base + ["--TYPE", "train", "--path", args.path, "--epochs", str(args.epochs),
                           "--seed", str(args.seed), "--name", name, "--img_size",
                           str(args.img_size)] + flags, check=True, stdout=subprocess.DEVNULL)
    out = Path(args.runs_dir) / name / "sweep_generated"
    subprocess.run(base + ["--TYPE", "generate", "--run", name, "--img_num", "256", "--seed", "1",
                           "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    fakes = np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted(out.glob("img_*.png"))])
    rows = read_loss_rows(Run(Path(args.runs_dir) / name).losses_csv)
    mix = Counter(r["decision"] for r in rows)
    return {"setting": setting, "steps": len(rows),
            "both": mix["both"] / len(rows), "g_only": mix["g_only"] / len(rows),
            "d_only": mix["d_only"] / len(rows),
            "final_loss_g": float(np.mean([float(r["loss_g"]) for r in rows[-20:]])),
            "final_loss_d": float(np.mean([float(r["loss_d"]) for r in rows[-20:]])),
            "diversity_fake": diversity(fakes)}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--img_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs_dir", default="runs-sweep")
    parser.add_argument("--setting", action="append", required=True)
    args = parser.parse_args()
    real = load_images(Path(args.path), args.img_size)
    real_div = diversity(real[np.random.default_rng(0).permutation(len(real))[:256]])
    print(f"real images: diversity {real_div:.3f}")
    print(f"{'setting':24s} {'both':>5s} {'G':>5s} {'D':>5s} {'loss_G':>7s} {'loss_D':>7s} "
          f"{'div/real':>8s}")
    for setting in args.setting:
        r = run(setting, args)
        r["diversity_ratio"] = r["diversity_fake"] / real_div
        print(f"{setting:24s} {r['both']:5.2f} {r['g_only']:5.2f} {r['d_only']:5.2f} "
              f"{r['final_loss_g']:7.3f} {r['final_loss_d']:7.3f} {r['diversity_ratio']:8.3f}",
              flush=True)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
