"""Scoring generated images: `--TYPE evaluate` on folders or on a run's checkpoints, and the
cheap KD check that training runs every `--eval_every` epochs to mark the best checkpoint.

The metrics themselves are in gan.metrics, the feature network in gan.features.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan import images, metrics
from gan.errors import UsageError
from gan.files import append_json_line, read_json_lines
from gan.health import COLLAPSE_CHECKS, CollapseRule
from gan.runs import Run


def summary_line(label: str, result: dict) -> str:
    """One readable line of the main figures."""
    text = (f"{label}: KD {result['kd']:.4f} ± {result['kd_std']:.4f}, FD {result['fd']:.2f}, "
            f"precision {result['precision']:.2f}, recall {result['recall']:.2f}, "
            f"density {result['density']:.2f}, coverage {result['coverage']:.2f}, "
            f"SWD {result['swd']:.3f}, diversity {result['diversity']:.2f}")
    if result.get("memorisation_ratio") is not None:
        text += f", memorisation ratio {result['memorisation_ratio']:.2f}"
    elif "memorisation_ratio" in result:  # nothing was held out
        text += ", memorisation ratio n/a (the real images are all training images)"
    if result["collapse"]:
        text += "  [MODE COLLAPSE: the samples are near-copies of each other]"
    return text


def jsonable(result: dict) -> dict:
    return {k: (bool(v) if isinstance(v, (bool, np.bool_)) else
                float(v) if isinstance(v, (float, np.floating)) else v)
            for k, v in result.items()}


def evaluate_checkpoints(run_dir: Path, checkpoints: list[str], img_num: int, seed: int,
                         real_images: np.ndarray, train_images: np.ndarray | None
                         ) -> list[dict]:
    """Score `img_num` samples of each checkpoint against `real_images`; append each result
    to `<run>/metrics.jsonl` and return them (dicts with the keys of gan.metrics.evaluate,
    plus "checkpoint")."""
    from gan.features import FeatureExtractor
    from gan.generate import load_generator

    extractor = CachedExtractor(FeatureExtractor())  # real images embedded once, not per checkpoint
    results = []
    for checkpoint in checkpoints:
        generator = load_generator(run_dir, checkpoint)
        fakes = images.to_rgb(generator.generate(range(seed, seed + img_num)))
        result = {"checkpoint": generator.folder.name,
                  **jsonable(metrics.evaluate(real_images, fakes, train_images, extractor))}
        append_json_line(Run(run_dir).metrics_log, result)
        results.append(result)
    return results


class CachedExtractor:
    """A feature extractor that remembers the features of each array it has embedded."""

    def __init__(self, extractor):
        self.extractor = extractor
        self.memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def embed(self, images: np.ndarray) -> np.ndarray:
        # Keyed by identity; holding the array keeps its id from being reused.
        if id(images) not in self.memo:
            self.memo[id(images)] = (images, self.extractor.embed(images))
        return self.memo[id(images)][1]


def all_checkpoints(run_dir: Path) -> list[str]:
    names = sorted(Run(run_dir).checkpoint_store().readable())
    if not names:
        raise UsageError(f"run {run_dir.name} has no checkpoints to evaluate")
    return names


class TrainingScorer:
    """KD of a fixed batch of samples against the training set, during training.

    The training set's features are computed once, from at most `max_real` of its images (a
    fixed random subset: the KD estimate is unbiased for any count, and embedding all of a
    9,000-image set would cost minutes and gigabytes at start). Scores use `num_fake` samples
    from fixed latents, so they are comparable along one run (not with `--TYPE evaluate`'s
    1,000). Raises gan.errors.TooFewImages for a training set of fewer than 4 images, or one
    whose every image has an identical copy.
    """

    def __init__(self, train_images: np.ndarray, latent_dim: int, num_fake: int = 256,
                 seed: int = 0, max_real: int = 1000):
        from gan.features import FeatureExtractor

        self.extractor = FeatureExtractor()
        rng = np.random.default_rng([seed, 2])
        if len(train_images) > max_real:
            train_images = train_images[np.sort(rng.choice(len(train_images), max_real,
                                                           replace=False))]
        self.real_features = self.extractor.embed(images.to_rgb(train_images))
        # TooFewImages now, not at the first evaluation, for a set KD or diversity cannot use
        metrics.kd(self.real_features, self.real_features, num_subsets=1)
        metrics.diversity_stats(self.real_features, self.real_features)
        self.latents = np.random.default_rng([seed, 1]).standard_normal(
            (num_fake, latent_dim)).astype(np.float32)

    def __call__(self, sample) -> dict:
        """`sample(latents) -> uint8 images`; returns kd, kd_std, diversity and nn_ratio
        (floats, `gan.metrics.diversity_stats`)."""
        fake_features = self.extractor.embed(
            np.concatenate([images.to_rgb(sample(self.latents[i:i + 64]))
                            for i in range(0, len(self.latents), 64)]))
        kd, kd_std = metrics.kd(self.real_features, fake_features)
        stats = metrics.diversity_stats(fake_features, self.real_features)
        return {"kd": kd, "kd_std": kd_std, "diversity": stats["diversity"],
                "nn_ratio": stats["nn_ratio"]}


class TrainingEvaluation:
    """Every `--eval_every` epochs: score, log to metrics.jsonl, mark the best checkpoint by KD,
    and warn once when the samples collapse (gan.health.CollapseRule)."""

    def __init__(self, run_dir: Path, store, train_images: np.ndarray, config):
        from gan.hardware import float32_policy

        with float32_policy():  # features in float32 whatever G uses
            self.scorer = TrainingScorer(train_images, config.latent_dim, seed=config.seed)
        self.config = config
        self.path = Run(run_dir).metrics_log
        self.store = store
        self.rule = CollapseRule()
        # Earlier sessions of this run (damaged lines are left out with a warning).
        rows = [r for r in read_json_lines(self.path) if "step" in r and "kd" in r]
        for row in rows:
            self.rule.update(row["step"] * config.batch_size, row["diversity"],
                             row.get("nn_ratio"))
        self.history = [(r["step"], r["kd"]) for r in rows]
        self.last: dict = rows[-1] if rows else {}  # the latest result: kd, diversity, collapse
        self.warned = any(r.get("collapse") for r in rows)  # warn once per run, not per session

    def __call__(self, epoch: int, step: int, checkpoint: str, sample) -> str:
        result = {"epoch": epoch, "step": step, "checkpoint": checkpoint, **self.scorer(sample)}
        result["collapse"] = self.rule.update(step * self.config.batch_size,
                                              result["diversity"], result["nn_ratio"])
        self.last = result
        append_json_line(self.path, jsonable(result))
        self.history.append((step, result["kd"]))
        best = self.store.index().get("best_kd")
        is_best = best is None or result["kd"] < best
        if is_best:
            self.store.mark_best(checkpoint, result["kd"])
        text = (f"epoch {epoch}: KD {result['kd']:.4f} ± {result['kd_std']:.4f} vs the training "
                f"set ({len(self.scorer.latents)} samples), diversity {result['diversity']:.2f}"
                + (" (best so far)" if is_best else ""))
        if result["collapse"] and not self.warned:
            self.warned = True
            text += (f"\nwarning: the samples have collapsed: near-copies of each other at "
                     f"the last {COLLAPSE_CHECKS} evaluations (--checkpoint best keeps the "
                     "best so far)")
            lr_g, lr_d = self.config.lr_g, self.config.lr_d
            if lr_g > lr_d:  # how the forced collapses of docs/health-calibration.md were made
                text += (f"; --lr_g {lr_g:g} is above --lr_d {lr_d:g}, a discriminator too slow "
                         "to keep the generator off a few images: train again with equal rates")
        return text
