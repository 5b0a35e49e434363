"""An icon-like data set for measuring beyond faces: Twemoji's 64x64 emoji on white.

    npm pack emoji-datasource-twitter@16.0.0 && tar xzf emoji-datasource-twitter-16.0.0.tgz
    python benchmarks/icon_set.py package/ icons/

Reads the base emoji of the npm package `emoji-datasource-twitter` (skin-tone variants left
out; graphics by Twitter, CC-BY 4.0, so they are never committed here), composites each RGBA
PNG on white and writes every fifth, in name order, to OUT/held_out/ and the rest to OUT/train/
(1,529 and 382 images for 16.0.0), as 64x64 RGB PNGs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

HELD_OUT_EVERY = 5


def on_white(rgba: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 4) BGRA -> uint8 (H, W, 3) BGR composited on white."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", type=Path, help="the unpacked npm package folder")
    parser.add_argument("out", type=Path, help="folder to write train/ and held_out/ into")
    args = parser.parse_args()
    entries = json.loads((args.package / "emoji.json").read_text())
    names = sorted(e["image"] for e in entries if e.get("has_img_twitter"))
    for split in ("train", "held_out"):
        (args.out / split).mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        rgba = cv2.imread(str(args.package / "img" / "twitter" / "64" / name),
                          cv2.IMREAD_UNCHANGED)
        split = "held_out" if k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"
        cv2.imwrite(str(args.out / split / name), on_white(rgba))
    print(f"{len(names)} icons written to {args.out}")


if __name__ == "__main__":
    main()
