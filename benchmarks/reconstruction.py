"""Real photos through trained runs' latent spaces: held-out faces encoded and reconstructed.

    python benchmarks/reconstruction.py RUN [RUN ...] [--faces 100] [--steps 200]

Takes the first `--faces` of time_to_quality.py's held-out faces (every 22nd file of faces-9k,
never trained on) and, for each run folder, encodes them as `--TYPE encode` does (a GAN by
projection with `--steps`; a VAE-GAN with its encoder's means refined by `--steps` of
projection), and for a VAE-GAN also with its encoder alone. Then decodes the latents and
prints one Markdown row per method: mean absolute pixel error (0-255), KD and pixel-space SWD
of the reconstructions against the other held-out faces, and the CPU seconds the encoding
took (process time, all threads). A first row scores the photos themselves against the same
reference: the floor of KD and SWD for this many images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan import metrics  # noqa: E402
from gan.features import FeatureExtractor  # noqa: E402
from gan.generate import load_generator  # noqa: E402
from gan.models import MODELS  # noqa: E402
from gan.projection import DEFAULT_STEPS  # noqa: E402
from gan.runs import Run  # noqa: E402
from time_to_quality import DATASETS, held_out_faces  # noqa: E402


def methods(run_dir: Path, steps: int):
    """(label, generator, encode(photos) -> latents) for each way this run encodes."""
    generator = load_generator(run_dir, "latest")
    kind = MODELS[generator.config.model]
    yield f"{run_dir.name} ({kind.name}, --steps {steps})", generator, \
        lambda photos: generator.encode(photos, steps)
    if kind.encoder_means is not None:  # a VAE-GAN: its encoder alone too
        yield f"{run_dir.name} ({kind.name}, encoder alone)", generator, \
            lambda photos: kind.encoder_means(generator, photos)


def row(label: str, photos, reconstructions, reference, extractor, seconds) -> str:
    error = np.abs(photos.astype(np.float32) - reconstructions.astype(np.float32)).mean()
    kd, _ = metrics.kd(extractor.embed(reference), extractor.embed(reconstructions))
    swd = metrics.swd(reference, reconstructions)
    return f"| {label} | {error:.1f} | {kd:.3f} | {swd:.0f} | {seconds:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders of one image size")
    parser.add_argument("--faces", type=int, default=100)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    args = parser.parse_args()
    if not (DATASETS / "faces-9k").is_dir():
        sys.exit(f"error: needs {DATASETS}/faces-9k")
    img_size = Run(args.runs[0]).load_config().img_size
    held_out = held_out_faces(img_size)
    photos, reference = held_out[:args.faces], held_out[args.faces:]
    extractor = FeatureExtractor()
    print("| encoded by | pixel error (0-255) | KD | SWD | CPU seconds |\n|---|---|---|---|---|")
    print(row(f"the {len(photos)} photos themselves", photos, photos, reference, extractor, 0))
    for run_dir in args.runs:
        for label, generator, encode in methods(run_dir, args.steps):
            start = time.process_time()
            latents = encode(photos)
            seconds = time.process_time() - start
            print(row(label, photos, generator.from_latents(latents), reference, extractor,
                      seconds), flush=True)


if __name__ == "__main__":
    main()
