"""Quality per CPU-minute: train configurations for a fixed budget, score them on held-out faces.

    python benchmarks/time_to_quality.py --minutes 5 --seeds 0 1 2 \
        --config "defaults=" \
        --config "textbook=--balance simultaneous --max_minutes 10" --config "peer="

Each configuration is `NAME=FLAGS` (flags of `python train.py --TYPE train`). It is trained
with the product's own CLI on faces-400 (or `--train`) for `--minutes` of wall clock (unless its flags set
--max_minutes; --epochs, when not given, is set so high that the clock ends the run), once
per seed. The configuration named `peer` is instead benchmarks/peer_dcgan.py (a textbook
DCGAN with DiffAugment and an EMA of G, not a product option), for the same minutes and
seeds. Then 1,000 samples (latents from seeds 12345, 12346, ..., as `--TYPE generate
--seeds` draws them) of each run's latest checkpoint, or of the peer's saved generator, are
scored against 404 held-out real faces (every 22nd file of faces-9k, disjoint from
faces-400; or every image in `--held_out`), in RGB (a gray run's samples and gray images
alike as three equal channels), with gan.metrics: KD, FD, precision, recall, pixel-space SWD, diversity, and the
memorisation ratio against the training images. Prints one row per run, then mean ± sd per
configuration, as a Markdown table; each row, with every figure of gan.metrics.evaluate
(collapse, coverage, ...), is also appended to OUT/results.jsonl and each run (sample grids,
losses.png; the peer's samples.png) stays in OUT/runs for looking at.

Run it on an otherwise idle machine: the budget is wall-clock training time. Another data
set, e.g. the icons of benchmarks/icon_set.py:

    python benchmarks/time_to_quality.py --minutes 10 --train icons/train \
        --held_out icons/held_out --config "peer=" --config "defaults="
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"

from gan import metrics  # noqa: E402
from gan.data import find_images, load_images, read_image  # noqa: E402
from gan.evaluate import CachedExtractor, jsonable  # noqa: E402
from gan.features import FeatureExtractor  # noqa: E402
from peer_dcgan import GENERATOR as PEER_GENERATOR, PROGRESS as PEER_PROGRESS  # noqa: E402
from gan.config import TrainConfig  # noqa: E402
from gan.generate import Generator, load_generator  # noqa: E402
from gan.images import to_rgb  # noqa: E402

HELD_OUT_EVERY = 22  # every 22nd of faces-9k's 8,875 sorted files: 404 faces
SAMPLES = 1000
UNLIMITED_EPOCHS = 100_000
COLUMNS = ("kd", "fd", "precision", "recall", "swd", "diversity", "memorisation_ratio")
PEER = "peer"  # the configuration raced as benchmarks/peer_dcgan.py instead of train.py
SEED0 = 12345  # the samples scored come from latent seeds SEED0, SEED0 + 1, ...


def held_out_faces(img_size: int) -> np.ndarray:
    files = find_images(DATASETS / "faces-9k")[::HELD_OUT_EVERY]
    return np.stack([read_image(f, img_size) for f in files])


def held_out_images(args) -> np.ndarray:
    """uint8 (N, S, S, 3): every image in --held_out, or the held-out faces."""
    if args.held_out is None:
        return held_out_faces(args.img_size)
    return load_images(args.held_out, args.img_size)


def train(name: str, flags: list[str], seed: int, args) -> tuple[Path, float]:
    """Train one configuration; returns its run folder and the wall minutes it took."""
    run_dir = args.out / "runs" / f"{name}-s{seed}"
    start = time.perf_counter()
    if name == PEER:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peer_dcgan.py"),
                        "--path", str(args.train), "--minutes", str(args.minutes),
                        "--seed", str(seed), "--out", str(run_dir)] + flags,
                       check=True, stdout=subprocess.DEVNULL)
        return run_dir, (time.perf_counter() - start) / 60
    if "--max_minutes" not in flags:
        flags = flags + ["--max_minutes", str(args.minutes)]
    if "--epochs" not in flags:  # the clock, not the epoch count, ends the run
        flags = flags + ["--epochs", str(UNLIMITED_EPOCHS)]
    subprocess.run([sys.executable, str(ROOT / "train.py"), "--TYPE", "train",
                    "--path", str(args.train), "--runs_dir", str(args.out / "runs"),
                    "--name", run_dir.name, "--seed", str(seed)] + flags,
                   check=True, stdout=subprocess.DEVNULL)
    return run_dir, (time.perf_counter() - start) / 60


def decision_mix(run_dir: Path) -> dict:
    """Steps, epochs, training minutes and the shares of each balance decision."""
    if (run_dir / PEER_PROGRESS).is_file():  # the peer updates both networks every batch
        return {**json.loads((run_dir / PEER_PROGRESS).read_text()), "share_both": 1.0,
                "share_g_only": 0.0, "share_d_only": 0.0}
    with open(run_dir / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    counts = Counter(r["decision"] for r in rows)
    return {"steps": len(rows), "epochs": int(rows[-1]["epoch"]) if rows else 0,
            "train_minutes": float(rows[-1]["seconds"]) / 60 if rows else 0.0,
            **{f"share_{d}": counts[d] / max(len(rows), 1) for d in ("both", "g_only",
                                                                     "d_only")}}


def score(run_dir: Path, held_out: np.ndarray, train_images: np.ndarray, extractor,
          checkpoint: str = "latest") -> dict:
    fakes = to_rgb(generator(run_dir, checkpoint).generate(range(SEED0, SEED0 + SAMPLES)))
    return jsonable(metrics.evaluate(held_out, fakes, train_images, extractor))  # all, for the log


def kept_checkpoint_near(run_dir: Path, minutes: float) -> tuple[str, dict]:
    """The product run's kept checkpoint whose training time (progress.seconds, counted from
    the first training step) is nearest `minutes`: its name and {"steps", "train_minutes"}."""
    kept = json.loads((run_dir / "checkpoints" / "index.json").read_text())["kept"]
    progress = {name: json.loads((run_dir / "checkpoints" / name / "state.json").read_text())
                ["progress"] for name in kept}
    name = min(kept, key=lambda n: abs(progress[n]["seconds"] - 60 * minutes))
    return name, {"steps": progress[name]["step"],
                  "train_minutes": progress[name]["seconds"] / 60}


def score_earlier(run_dir: Path, minutes: float, held_out, train_images, extractor) -> dict:
    """The row of the run's kept checkpoint nearest `minutes` of training (its wall_minutes:
    that checkpoint's training minutes)."""
    checkpoint, progress = kept_checkpoint_near(run_dir, minutes)
    return {"checkpoint": checkpoint, **decision_mix(run_dir), **progress,
            "wall_minutes": progress["train_minutes"],
            **score(run_dir, held_out, train_images, extractor, checkpoint)}


def generator(run_dir: Path, checkpoint: str = "latest") -> Generator:
    """The run's generator at `checkpoint`, or the peer's saved one."""
    if not (run_dir / PEER_GENERATOR).is_file():
        return load_generator(run_dir, checkpoint)
    import keras
    model = keras.models.load_model(run_dir / PEER_GENERATOR)
    return Generator(model, TrainConfig(latent_dim=model.input_shape[-1]), run_dir)


def table(rows: list[dict]) -> str:
    keys = ("config", "seed", "steps", "epochs", "wall_minutes") + COLUMNS + (
        "share_g_only", "share_d_only")
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[k]) for k in keys) + " |")
    lines += ["", "| config | runs | " + " | ".join(COLUMNS) + " |",
              "|" + "---|" * (len(COLUMNS) + 2)]
    for name in dict.fromkeys(r["config"] for r in rows):
        group = [r for r in rows if r["config"] == name]
        cells = [f"{np.mean([r[k] for r in group]):.3f} ± {np.std([r[k] for r in group]):.3f}"
                 for k in COLUMNS]
        lines.append(f"| {name} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser, minutes: float, seeds: list[int],
                  out: str) -> None:
    """The options shared with benchmarks/compare_recipes.py."""
    parser.add_argument("--minutes", type=float, default=minutes,
                        help="training budget per run unless a config sets its own")
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds)
    parser.add_argument("--img_size", type=int, default=64, help="must match the configs")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--train", type=Path, default=DATASETS / "faces-400",
                        help="folder of training images (default: faces-400)")
    parser.add_argument("--held_out", type=Path, default=None,
                        help="folder of held-out images to score against (default: every "
                             f"{HELD_OUT_EVERY}nd file of faces-9k)")
    parser.add_argument("--also_at", type=float, nargs="+", default=[], metavar="MINUTES",
                        help="also score each product run's kept checkpoint nearest these "
                             "training minutes (rows named CONFIG@MINUTES; not the peer)")


def run_all(configs: list[tuple[str, str]], args) -> list[dict]:
    """Train and score every (NAME, FLAGS) for every seed; returns one row per run."""
    needed = [args.train, args.held_out or DATASETS / "faces-9k"]
    if not all(folder.is_dir() for folder in needed):
        sys.exit("error: needs the folders " + " and ".join(map(str, needed)))
    args.out.mkdir(parents=True, exist_ok=True)
    held_out = held_out_images(args)
    train_images = load_images(args.train, args.img_size)
    extractor = CachedExtractor(FeatureExtractor())  # held-out and training features computed once
    rows = []
    for seed in args.seeds:  # seeds outermost: a cut-short sweep still compares every config
        for name, flags in configs:
            run_dir, minutes = train(name, shlex.split(flags), seed, args)
            row = {"config": name, "flags": flags, "seed": seed, "wall_minutes": minutes,
                   **decision_mix(run_dir), **score(run_dir, held_out, train_images, extractor)}
            earlier = [] if name == PEER else [
                score_earlier(run_dir, at, held_out, train_images, extractor)
                | {"config": f"{name}@{at:g}", "flags": flags, "seed": seed}
                for at in args.also_at]
            for r in earlier + [row]:
                with open(args.out / "results.jsonl", "a") as f:
                    f.write(json.dumps(r) + "\n")
                print(f"{r['config']} seed {seed}: KD {r['kd']:.3f} recall {r['recall']:.2f} "
                      f"after {r['steps']} steps", flush=True)
            rows += earlier + [row]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", required=True, metavar="NAME=FLAGS")
    add_arguments(parser, minutes=5, seeds=[0, 1, 2], out="ttq")
    args = parser.parse_args()
    configs = [spec.split("=", 1) for spec in args.config]
    if any(len(c) != 2 for c in configs):
        sys.exit("error: each --config is NAME=FLAGS, e.g. \"textbook=--balance simultaneous\"")
    print(table(run_all(configs, args)))


if __name__ == "__main__":
    main()
