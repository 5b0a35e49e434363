"""Every balance strategy x every loss on faces-400 for the same minutes, scored alike.

    python benchmarks/compare_recipes.py --minutes 2 --seeds 0

Trains each combination with the product's CLI (refused ones, such as --loss wgan-gp with
--balance margin, are left out), scores it as benchmarks/time_to_quality.py does (KD, FD,
precision, recall, memorisation against held-out faces), prints the Markdown table with the
D-only / G-only mix, and writes OUT/grids.png: each run's last sample grid (its first 16
images), one row per combination, labelled.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

import time_to_quality as ttq
from gan import images
from gan.balance import BALANCE_RULES
from gan.config import TrainConfig
from gan.errors import UsageError
from gan.losses import LOSSES
from gan.runs import Run


def combinations(extra_flags: str) -> list[tuple[str, str]]:
    """(NAME, FLAGS) for every balance x loss that the product accepts."""
    configs = []
    for loss in LOSSES:
        for balance in BALANCE_RULES:
            try:
                TrainConfig.from_flags({"loss": loss, "balance": balance}).validate()
            except UsageError:
                continue
            configs.append((f"{balance}-{loss}",
                            f"--balance {balance} --loss {loss} {extra_flags}".strip()))
    return configs


def grid_sheet(rows: list[dict], runs: Path, out: Path, img_size: int) -> None:
    """One labelled row per run: the first 16 images of its last sample grid."""
    cell, strips = img_size + 2, []  # gan.images.make_grid puts 2 px between images
    for row in rows:
        last = Run(runs / f"{row['config']}-s{row['seed']}").sample_grids()[-1]
        grid = cv2.imread(str(last))[..., ::-1]
        cells = [grid[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
                 for r in range(2) for c in range(8)]
        strip = np.concatenate(cells, axis=1)
        label = np.full((20, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{row['config']} seed {row['seed']}: KD {row['kd']:.3f}, "
                    f"{row['epochs']} epochs", (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
        strips += [label, strip]
    images.write_png(out, np.concatenate(strips))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    ttq.add_arguments(parser, minutes=2, seeds=[0], out="recipes")
    parser.add_argument("--flags", default="", help="flags added to every combination")
    args = parser.parse_args()
    rows = ttq.run_all(combinations(args.flags), args)
    grid_sheet(rows, args.out / "runs", args.out / "grids.png", args.img_size)
    print(ttq.table(rows))
    print(f"sample grids: {args.out / 'grids.png'}")


if __name__ == "__main__":
    main()
