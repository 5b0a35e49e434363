"""Sample-quality metrics for a GAN, on image features or on pixels.

NumPy only (no SciPy); OpenCV builds the image pyramids of `swd`.

Feature-space metrics take float arrays (N, D), normally `gan.features.FeatureExtractor`
embeddings (EfficientNet-Lite0, D = 1280). Because the features are not Inception-v3's, the
numbers are *not* comparable with published FID/KID values: they are called FD and KD here.

- `kd`: kernel distance, the KID estimator (Binkowski et al. 2018): unbiased MMD^2 with the
  cubic polynomial kernel, averaged over random subsets.
- `fd`: Frechet distance between Gaussian fits (the FID formula, Heusel et al. 2017).
- `precision_recall_density_coverage`: k-NN manifold estimates (Kynkaanniemi et al. 2019;
  Naeem et al. 2020).
- `swd`: sliced Wasserstein distance of Laplacian-pyramid patches, in pixel space
  (Karras et al. 2018, progressive GAN).
- `memorisation`: how much closer generated samples are to the training set than held-out
  real images are; `write_nearest_grid` shows generated images beside their nearest
  training image.
- `diversity`: spread of generated samples relative to real ones, with a collapse decision.
- `evaluate`: all of the above from uint8 images.

Minimum set sizes (`gan.errors.TooFewImages` below them): KD 4 images per set (two random
halves of at least 2), FD 2 (a covariance), precision/recall/density/coverage k + 1 = 6 (each
image's k-th neighbour in its own set), diversity and collapse 2 per set, SWD and memorisation
1; `evaluate` takes the largest, EVALUATE_MIN_IMAGES = 6. Degenerate sets (all images
identical) give finite values as samples (KD, FD and the diversity ratios measure exactly that);
as the reference, the diversity ratios would divide by zero, so they raise TooFewImages too.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from gan.errors import TooFewImages
from gan.health import COLLAPSE_LEVEL

# Collapse decision (see `diversity_stats`): both ratios measured on EfficientNet-Lite0
# features of 64 px faces, 400 against 400 real ones from faces-9k:
#                                  nn_ratio  pairwise
#   real (disjoint half)             1.02      1.04
#   blur, noise, colour (2 levels)  0.89-1.02  0.89-1.02   (degraded, not collapsed)
#   100 faces x 4 near-copies        0.28      1.08   (flip, 2 px shift, +8 brightness)
#   50 images x 8, 5 x 80, 2 x 200   0.00      1.05, 0.79, 0.51
#   1 image x 400                    0.00      0.00
# Exact duplicates show in the nearest-neighbour ratio, which the pairwise ratio misses; the
# pairwise ratio catches collapse onto one or two points. Samples of healthy generators score
# 0.13-0.5 on both while they learn (docs/health-calibration.md), so a set is called collapsed
# below gan.health.COLLAPSE_LEVEL (0.15), where only exact copies and forced collapses fall.
PRDC_K = 5  # neighbours of precision/recall/density/coverage (Kynkaanniemi et al., Naeem et al.)
EVALUATE_MIN_IMAGES = PRDC_K + 1  # the largest minimum of the metrics `evaluate` runs


def _need(x: np.ndarray, role: str, needed: int, why: str) -> None:
    if len(x) < needed:
        raise TooFewImages(role, len(x), needed, why)


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected features (N, D) with N > 0, got shape {x.shape}")
    return x


def _pair(real_f, fake_f) -> tuple[np.ndarray, np.ndarray]:
    x, y = _features(real_f, "real_f"), _features(fake_f, "fake_f")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature widths differ: {x.shape[1]} vs {y.shape[1]}")
    return x, y


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances float64 (len(a), len(b)) between the rows of a (N, D) and b (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, chunk: int = 2048):
    """For each row of query (N, D): (distance float64 (N,), index int64 (N,)) of its nearest
    row in reference (M, D), computed in chunks of `chunk` query rows."""
    query = _features(query, "query")
    reference = _features(reference, "reference")
    dist = np.empty(len(query))
    index = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        d = pairwise_distances(query[start:start + chunk], reference)
        j = d.argmin(1)
        index[start:start + chunk] = j
        dist[start:start + chunk] = d[np.arange(len(d)), j]
    return dist, index


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[np.sort(rng.choice(len(x), n, replace=False))]


# ------------------------------------------------------------------ KD (KID estimator)

def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kd(real_f, fake_f, num_subsets: int = 50, subset_size: int | None = None,
       seed: int = 0) -> tuple[float, float]:
    """Kernel distance: (mean, std) over subsets of the unbiased MMD^2 estimate.

    real_f (N, D), fake_f (M, D) float features. Kernel k(x, y) = (x.y / D + 1)^3 (KID's).
    Each subset draws `subset_size` rows without replacement from each set; the default and
    the largest allowed size is half the smaller set (capped at 1000), so that subsets
    differ. The mean is ~0 (and can be slightly negative) for samples of one distribution;
    `std` is the spread of single-subset estimates, the usual KID error bar.
    """
    x, y = _pair(real_f, fake_f)
    half = min(len(x), len(y)) // 2
    m = min(half, 1000) if subset_size is None else int(subset_size)
    if m > half:
        raise ValueError(f"subset_size {m} is more than half the smaller set ({half})")
    for role, z in (("real", x), ("fake", y)):
        _need(z, role, 4, "KD compares random halves of at least 2")
    rng = np.random.default_rng(seed)
    precompute = max(len(x), len(y)) <= 5000  # full kernel matrices fit in memory
    if precompute:
        kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    values = np.empty(num_subsets)
    for s in range(num_subsets):
        ix = rng.choice(len(x), m, replace=False)
        iy = rng.choice(len(y), m, replace=False)
        if precompute:
            a, b, c = kxx[np.ix_(ix, ix)], kyy[np.ix_(iy, iy)], kxy[np.ix_(ix, iy)]
        else:
            xs, ys = x[ix], y[iy]
            a, b, c = _poly_kernel(xs, xs), _poly_kernel(ys, ys), _poly_kernel(xs, ys)
        values[s] = ((a.sum() - np.trace(a)) / (m * (m - 1))
                     + (b.sum() - np.trace(b)) / (m * (m - 1))
                     - 2.0 * c.mean())
    return float(values.mean()), float(values.std())


# ------------------------------------------------------------------ FD

def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), float.

    Both square roots come from symmetric eigen-decompositions with negative eigenvalues
    (rounding noise of rank-deficient covariances) clipped to 0, which stays real and
    stable where scipy.linalg.sqrtm(S1 S2) can return complex values or NaN.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((m + m.T) / 2.0)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean, 0.0))


def fd(real_f, fake_f) -> float:
    """Frechet distance between Gaussians fitted (mean, covariance with ddof=1) to real_f
    (N, D) and fake_f (M, D). Biased upwards for small N (like FID): compare values only
    at equal sample counts."""
    x, y = _pair(real_f, fake_f)
    _need(x, "real", 2, "FD fits a covariance")
    _need(y, "fake", 2, "FD fits a covariance")
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False),
                            y.mean(0), np.cov(y, rowvar=False))


# ------------------------------------------------------------------ precision, recall, ...

def precision_recall_density_coverage(real_f, fake_f, k: int = PRDC_K, seed: int = 0,
                                      max_samples: int = 5000) -> dict:
    """k-NN manifold metrics of fake_f (M, D) against real_f (N, D), all floats.

    Both sets are subsampled (without replacement, `seed`) to min(N, M, max_samples) rows,
    as the estimates depend on the sample count (and memory grows with its square). Each
    sample's radius is the distance to its k-th nearest neighbour in its own set (itself
    excluded).
      precision: share of fakes inside some real sample's ball (fidelity), in [0, 1];
      recall:    share of reals inside some fake sample's ball (diversity), in [0, 1];
      density:   mean number of real balls holding a fake, over k (~1 for equal
                 distributions, can exceed 1);
      coverage:  share of reals whose ball holds at least one fake, in [0, 1].
    """
    x, y = _pair(real_f, fake_f)
    for role, z in (("real", x), ("fake", y)):
        _need(z, role, k + 1, f"precision and recall use each image's {k} nearest neighbours")
    n = min(len(x), len(y), max_samples)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, n, rng), _subsample(y, n, rng)
    r_real = np.partition(pairwise_distances(x, x), k, axis=1)[:, k]  # [:, 0] is the self
    r_fake = np.partition(pairwise_distances(y, y), k, axis=1)[:, k]
    d = pairwise_distances(x, y)                      # (real, fake)
    in_real = d <= r_real[:, None]                    # fake j inside real i's ball
    return {
        "precision": float(in_real.any(0).mean()),
        "recall": float((d <= r_fake[None, :]).any(1).mean()),
        "density": float(in_real.sum() / (k * n)),
        "coverage": float(in_real.any(1).mean()),
    }


# ------------------------------------------------------------------ SWD

def _laplacian_pyramid(images: np.ndarray, min_res: int) -> list[np.ndarray]:
    """uint8 (N, H, W, 3) -> float32 levels, finest first: band-passes down to `min_res`,
    then the low-pass residual at `min_res` (5-tap binomial filter, cv2.pyrDown/pyrUp)."""
    levels, current = [], images.astype(np.float32)
    while current.shape[1] > min_res and current.shape[2] > min_res:
        down = np.stack([cv2.pyrDown(im) for im in current])
        up = np.stack([cv2.pyrUp(im, dstsize=(current.shape[2], current.shape[1]))
                       for im in down])
        levels.append(current - up)
        current = down
    levels.append(current)
    return levels


def _patches(level: np.ndarray, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random size x size patches of level (N, H, W, C) -> float32 (count, size*size*C),
    each channel standardised by the mean and std over all patches (as Karras et al.)."""
    n, h, w, c = level.shape
    img = rng.integers(0, n, count)
    top = rng.integers(0, h - size + 1, count)
    left = rng.integers(0, w - size + 1, count)
    off = np.arange(size)
    desc = level[img[:, None, None], (top[:, None] + off)[:, :, None],
                 (left[:, None] + off)[:, None, :]]           # (count, size, size, C)
    mean = desc.mean(axis=(0, 1, 2), dtype=np.float64)
    std = desc.std(axis=(0, 1, 2), dtype=np.float64)
    desc = (desc - mean.astype(np.float32)) / (std + 1e-12).astype(np.float32)
    return desc.reshape(count, -1)


def swd(real_imgs_uint8, fake_imgs_uint8, n_descriptors: int = 16384, patch_size: int = 7,
        min_res: int = 16, n_directions: int = 512, seed: int = 0,
        per_level: bool = False):
    """Sliced Wasserstein distance between Laplacian-pyramid patches of two image sets.

    real (N, H, W, 3) and fake (M, H, W, 3) uint8 RGB of one size (H, W >= min_res).
    Per pyramid level (H px down to `min_res`, e.g. 64, 32, 16): `n_descriptors` random
    7x7x3 patches from each set, each set standardised per channel by its own statistics;
    the 1-D Wasserstein-1 distance (mean |difference| of the sorted projections) averaged
    over `n_directions` random unit directions. Returns the average over levels times 1e3,
    the unit of Karras et al. 2018, Table 1 (or, with per_level, the list finest first).
    Identical sets give exactly 0 (both draw patches from the same random stream); two
    disjoint samples of one distribution give the sampling noise, ~15-20 for 400 faces at
    64 px. The per-set standardisation makes it blind to a global colour or brightness
    shift, as in the original.
    """
    real = np.asarray(real_imgs_uint8)
    fake = np.asarray(fake_imgs_uint8)
    if real.shape[1:] != fake.shape[1:] or real.ndim != 4:
        raise ValueError(f"image shapes differ: {real.shape[1:]} vs {fake.shape[1:]}")
    if min(real.shape[1:3]) < max(min_res, patch_size):
        raise ValueError(f"images of {real.shape[1:3]} are smaller than min_res {min_res}")
    dims = patch_size * patch_size * real.shape[3]
    directions = np.random.default_rng([seed, 0]).standard_normal((dims, n_directions))
    directions = (directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype(np.float32)
    results = []
    levels = zip(_laplacian_pyramid(real, min_res), _laplacian_pyramid(fake, min_res))
    for i, (lr, lf) in enumerate(levels):
        # the same random stream for both sets: patch positions coincide where the sets
        # have the same size, so identical sets give exactly 0
        pr = _patches(lr, n_descriptors, patch_size, np.random.default_rng([seed, 1, i]))
        pf = _patches(lf, n_descriptors, patch_size, np.random.default_rng([seed, 1, i]))
        pr, pf = np.sort(pr @ directions, axis=0), np.sort(pf @ directions, axis=0)
        results.append(float(np.abs(pr - pf).mean(dtype=np.float64)) * 1e3)
    return results if per_level else float(np.mean(results))


# ------------------------------------------------------------------ memorisation

def memorisation(fake_f, train_f, heldout_f) -> dict:
    """Are generated samples closer to the training set than unseen real images are?

    fake_f (M, D), train_f (T, D), heldout_f (H, D): features of generated, training and
    held-out real images (held-out: real, never trained on). Returns
      ratio: mean nearest-training distance of fakes / that of held-out images (float;
             ~1 no copying, << 1 the generator reproduces training images, > 1 fakes lie
             farther from the data than real images do, as poor samples do; None when
             every held-out image is also a training image, so that nothing is held out);
      fake_distance float64 (M,), nearest_train_index int64 (M,): per generated sample;
      heldout_mean_distance, fake_mean_distance: the two means (float);
      copy_fraction: share of fakes nearer to their training neighbour than the closest 1%
             of held-out images are to theirs (~0.01 without copying).
    """
    fake_d, fake_i = nearest_neighbours(fake_f, train_f)
    held_d, _ = nearest_neighbours(heldout_f, train_f)
    held_mean = float(held_d.mean())
    return {
        "ratio": float(fake_d.mean() / held_mean) if held_mean > 0 else None,
        "fake_distance": fake_d,
        "nearest_train_index": fake_i,
        "heldout_mean_distance": held_mean,
        "fake_mean_distance": float(fake_d.mean()),
        "copy_fraction": float((fake_d < np.quantile(held_d, 0.01)).mean()),
    }


def write_nearest_grid(path: Path, fake_images, train_images, nearest_train_index,
                       fake_distance=None, count: int = 32, pairs_per_row: int = 4) -> np.ndarray:
    """PNG of generated images, each followed by its nearest training image; returns it.

    fake_images (M, h, w, 3) and train_images (T, H, W, 3) uint8 RGB; nearest_train_index
    (M,) and fake_distance (M,) from `memorisation`. With distances, the `count` closest
    pairs (the likeliest copies) are shown, closest first; otherwise the first `count`.
    Training images are resized to the generated size. Rows of `pairs_per_row` pairs.
    """
    from gan.features import resize_images
    from gan.images import make_grid, write_png

    fake = np.asarray(fake_images)
    order = (np.argsort(fake_distance, kind="stable") if fake_distance is not None
             else np.arange(len(fake)))[:count]
    nearest = resize_images(np.asarray(train_images)[np.asarray(nearest_train_index)[order]],
                            fake.shape[1])
    tiles = np.empty((2 * len(order),) + fake.shape[1:], dtype=np.uint8)
    tiles[0::2], tiles[1::2] = fake[order], nearest
    grid = make_grid(tiles, cols=2 * pairs_per_row)
    write_png(Path(path), grid)
    return grid


# ------------------------------------------------------------------ diversity

def _mean_pairwise(x: np.ndarray) -> float:
    d = pairwise_distances(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def _mean_nn(x: np.ndarray) -> float:
    d = pairwise_distances(x, x)
    np.fill_diagonal(d, np.inf)
    return float(d.min(1).mean())


def diversity_stats(fake_f, real_f, max_samples: int = 1000, seed: int = 0) -> dict:
    """Spread of fake_f (M, D) relative to real_f (N, D), on equal-size subsamples
    (min(M, N, max_samples) rows each) so that nearest-neighbour distances are comparable.
      diversity:  mean pairwise distance of fakes / that of reals (~1 for equal spread);
      nn_ratio:   mean nearest-neighbour distance of fakes / that of reals (~1; 0 when
                  every fake has an exact duplicate, e.g. a few images repeated);
      collapsed:  nn_ratio or diversity below gan.health.COLLAPSE_LEVEL.
    TooFewImages below 2 images per set, or when each real image has an identical copy in
    real_f (the ratios would divide by 0).
    """
    x, y = _pair(real_f, fake_f)
    for role, z in (("real", x), ("fake", y)):
        _need(z, role, 2, "diversity compares distances between images")
    n = min(len(x), len(y), max_samples)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, n, rng), _subsample(y, n, rng)
    pair_real, nn_real = _mean_pairwise(x), _mean_nn(x)
    # Identical images can embed a rounding error apart; a spread this far below the
    # features' scale is none.
    if nn_real <= 1e-6 * np.linalg.norm(x, axis=1).mean():
        raise TooFewImages("real", len(x), 2, "diversity divides by the distance from each "
                           "real image to its nearest other one, here 0", distinct=True)
    div = _mean_pairwise(y) / pair_real
    nn_ratio = _mean_nn(y) / nn_real
    return {"diversity": float(div), "nn_ratio": float(nn_ratio),
            "collapsed": bool(min(nn_ratio, div) < COLLAPSE_LEVEL)}


def diversity(fake_f, real_f, max_samples: int = 1000, seed: int = 0) -> float:
    """Mean pairwise feature distance of fake_f (M, D) / that of real_f (N, D): ~1 when
    the generated samples are as spread out as real ones, -> 0 under mode collapse.
    See `diversity_stats` for the collapse decision."""
    return diversity_stats(fake_f, real_f, max_samples, seed)["diversity"]


# ------------------------------------------------------------------ everything at once

def evaluate(real_images, fake_images, train_images=None, extractor=None,
             seed: int = 0, swd_descriptors: int = 16384) -> dict:
    """All metrics of fake_images against real_images; uint8 (N, H, W, 3) RGB arrays.

    real_images should be held out from training when train_images (the generator's
    training set) is given: they are the reference for `memorisation_ratio`. Feature
    metrics use `extractor` (a `gan.features.FeatureExtractor` by default; anything with
    `embed(images) -> (N, D)` works). SWD runs on pixels; real images are resized to the
    generated size when they differ; `swd_descriptors` patches per level and set (fewer is
    faster and noisier). `seed` fixes every random subsample. Returns floats (collapse a
    bool, n_real and n_fake ints) under the keys kd, kd_std, fd, precision, recall, density,
    coverage, swd, diversity, nn_ratio,
    collapse, n_real, n_fake, seconds; and memorisation_ratio (None when every real image is a
    training image), copy_fraction with train. TooFewImages when either set has fewer than
    EVALUATE_MIN_IMAGES images, or when all real images are identical (checked before any
    image is embedded, but for identical ones).
    """
    start = time.perf_counter()
    real = np.asarray(real_images)
    fake = np.asarray(fake_images)
    why = f"precision and recall use each image's {PRDC_K} nearest neighbours in its own set"
    _need(real, "real", EVALUATE_MIN_IMAGES, why)
    _need(fake, "fake", EVALUATE_MIN_IMAGES, why)
    if extractor is None:
        from gan.features import FeatureExtractor
        extractor = FeatureExtractor()
    real_f = extractor.embed(real)
    fake_f = extractor.embed(fake)
    div = diversity_stats(fake_f, real_f, seed=seed)  # first: it refuses identical real images
    kd_mean, kd_std = kd(real_f, fake_f, seed=seed)
    result = {"kd": kd_mean, "kd_std": kd_std, "fd": fd(real_f, fake_f)}
    result.update(precision_recall_density_coverage(real_f, fake_f, seed=seed))
    if real.shape[1:3] != fake.shape[1:3]:
        from gan.features import resize_images
        if fake.shape[1] != fake.shape[2]:
            raise ValueError(f"generated images must be square, got {fake.shape[1:3]}")
        real = resize_images(real, fake.shape[1])
    result["swd"] = swd(real, fake, n_descriptors=swd_descriptors, seed=seed)
    result.update(diversity=div["diversity"], nn_ratio=div["nn_ratio"],
                  collapse=div["collapsed"])
    if train_images is not None:
        mem = memorisation(fake_f, extractor.embed(np.asarray(train_images)), real_f)
        result.update(memorisation_ratio=mem["ratio"], copy_fraction=mem["copy_fraction"])
    result.update(n_real=len(real), n_fake=len(fake), seconds=time.perf_counter() - start)
    return result
