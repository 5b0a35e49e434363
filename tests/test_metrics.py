"""Metrics: known answers on synthetic data (fast, NumPy only), then behaviour on real faces
through EfficientNet-Lite0 (real vs real, degradations, collapse, copies, timing)."""
import time

import cv2
import numpy as np
import pytest

from conftest import SHARED
from gan import metrics as M


def gaussian(n, d, seed, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).normal(shift, scale, (n, d))


# ------------------------------------------------------------------ KD

def test_kd_of_one_distribution_is_zero_within_its_std():
    x, y = gaussian(600, 32, 1), gaussian(600, 32, 2)
    mean, std = M.kd(x, y)
    assert std > 0
    assert abs(mean) < std


def test_kd_grows_with_the_mean_shift():
    x = gaussian(400, 16, 1)
    values = [M.kd(x, gaussian(400, 16, 2, shift=s))[0] for s in (0.0, 0.2, 0.5)]
    assert values[0] < values[1] < values[2]
    mean, std = M.kd(x, gaussian(400, 16, 2, shift=0.5))
    assert mean > 10 * std


def test_kd_known_answer_for_point_masses():
    # Every subset of a point mass is the same, so the unbiased MMD^2 is exactly
    # k(a, a) + k(b, b) - 2 k(a, b) with k(x, y) = (x.y / d + 1)^3.
    a, b = np.array([1.0, 2.0, 0.0, -1.0]), np.array([0.5, 0.0, 1.0, 1.0])
    k = lambda u, v: (u @ v / 4 + 1) ** 3  # noqa: E731
    mean, std = M.kd(np.tile(a, (20, 1)), np.tile(b, (30, 1)), num_subsets=5)
    assert mean == pytest.approx(k(a, a) + k(b, b) - 2 * k(a, b), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kd_is_unbiased_unlike_the_plain_mmd():
    # Unbiased: no positive offset at small subset sizes, averaged over many subsets.
    x, y = gaussian(400, 8, 3), gaussian(400, 8, 4)
    mean, std = M.kd(x, y, num_subsets=400, subset_size=10)
    assert abs(mean) < 3 * std / np.sqrt(400) * 3


def test_kd_subset_size_is_limited_to_half_the_smaller_set():
    x, y = gaussian(100, 4, 1), gaussian(40, 4, 2)
    M.kd(x, y, subset_size=20)
    with pytest.raises(ValueError, match="half"):
        M.kd(x, y, subset_size=21)
    with pytest.raises(ValueError):
        M.kd(x, gaussian(40, 5, 2))


# ------------------------------------------------------------------ FD

def random_spd(d, seed):
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fd_closed_form_for_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)


def test_fd_closed_form_for_scaled_full_covariances():
    # S2 = c^2 S1  =>  FD = |dmu|^2 + (1 - c)^2 tr(S1), for any (non-diagonal) S1.
    s1 = random_spd(20, 5)
    mu1, mu2 = np.zeros(20), np.full(20, 0.5)
    got = M.frechet_distance(mu1, s1, mu2, 9.0 * s1)
    assert got == pytest.approx(20 * 0.25 + 4 * np.trace(s1), rel=1e-9)
    assert M.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fd_matches_scipy_sqrtm_for_non_commuting_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    s1, s2 = random_spd(12, 1), random_spd(12, 2)
    mu1, mu2 = np.arange(12.0) / 10, np.zeros(12)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fd_from_samples_approaches_the_population_value():
    rng = np.random.default_rng(0)
    s1, s2 = random_spd(4, 3), random_spd(4, 4)
    mu1, mu2 = np.zeros(4), np.array([1.0, 0.0, -1.0, 0.5])
    x = rng.multivariate_normal(mu1, s1, 40000)
    y = rng.multivariate_normal(mu2, s2, 40000)
    assert M.fd(x, y) == pytest.approx(M.frechet_distance(mu1, s1, mu2, s2), rel=0.03)


def test_fd_is_stable_for_rank_deficient_covariances():
    x = gaussian(50, 300, 1)            # 50 samples in 300 dimensions: rank 49
    assert M.fd(x, x) == pytest.approx(0.0, abs=1e-6)
    value = M.fd(x, gaussian(50, 300, 2))
    assert np.isfinite(value) and value > 0


# ------------------------------------------------------------------ precision / recall

def test_prdc_of_one_distribution_is_high():
    r = M.precision_recall_density_coverage(gaussian(800, 8, 1), gaussian(800, 8, 2))
    assert r["precision"] > 0.7 and r["recall"] > 0.7
    assert 0.8 < r["density"] < 1.2
    assert r["coverage"] > 0.9


def test_prdc_of_far_shifted_clouds_is_zero():
    r = M.precision_recall_density_coverage(gaussian(300, 8, 1), gaussian(300, 8, 2, shift=10))
    assert r == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_tells_fidelity_from_diversity():
    real = gaussian(1000, 8, 1)
    # fakes from the core of the real distribution: faithful but not diverse
    narrow = M.precision_recall_density_coverage(real, gaussian(1000, 8, 2, scale=0.3))
    assert narrow["precision"] > 0.95 and narrow["recall"] < 0.2
    # fakes spread far wider than the reals: diverse but mostly unrealistic
    wide = M.precision_recall_density_coverage(real, gaussian(1000, 8, 2, scale=3.0))
    assert wide["precision"] < 0.2 and wide["recall"] > 0.95
    # a small shift lowers both, a larger one lowers them much more
    small = M.precision_recall_density_coverage(real, gaussian(1000, 8, 2, shift=0.5))
    large = M.precision_recall_density_coverage(real, gaussian(1000, 8, 2, shift=1.5))
    assert 0.5 < small["precision"] < 0.95 and 0.5 < small["recall"] < 0.95
    assert large["precision"] < 0.4 and large["recall"] < 0.4


def test_prdc_of_a_collapsed_set_has_zero_recall():
    real = gaussian(300, 8, 1)
    collapsed = np.tile(real[:1], (300, 1))
    r = M.precision_recall_density_coverage(real, collapsed)
    assert r["recall"] <= 1 / 300 and r["coverage"] < 0.05   # only real[0] itself is recalled


def test_prdc_subsamples_the_larger_set_and_needs_more_than_k():
    r = M.precision_recall_density_coverage(gaussian(1000, 4, 1), gaussian(100, 4, 2))
    assert 0 <= r["precision"] <= 1
    with pytest.raises(ValueError):
        M.precision_recall_density_coverage(gaussian(5, 4, 1), gaussian(100, 4, 2), k=5)


# ------------------------------------------------------------------ SWD

def textures(n, seed, size=64, blur=0.0):
    """Random smooth colour images: upsampled 8x8 noise plus fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, 3)).astype(np.float32)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = cv2.resize(coarse[i], (size, size), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 20, img.shape).astype(np.float32)
        if blur:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        out[i] = np.clip(img, 0, 255)
    return out


def test_swd_of_identical_sets_is_zero_and_grows_with_blur():
    a = textures(200, 1)
    assert M.swd(a, a, n_descriptors=4096) == 0.0
    same = M.swd(a, textures(200, 2), n_descriptors=4096)
    blur1 = M.swd(a, textures(200, 2, blur=1.0), n_descriptors=4096)
    blur2 = M.swd(a, textures(200, 2, blur=2.0), n_descriptors=4096)
    assert 0 < same < blur1 < blur2
    assert blur1 > 1.5 * same


def test_swd_per_level_and_shape_checks():
    a, b = textures(50, 1), textures(80, 2)
    levels = M.swd(a, b, n_descriptors=1024, per_level=True)
    assert len(levels) == 3  # 64, 32, 16 px
    assert M.swd(a, b, n_descriptors=1024) == pytest.approx(np.mean(levels))
    with pytest.raises(ValueError):
        M.swd(a, textures(10, 3, size=32))


def test_swd_is_fast_for_1000_against_400_images():
    real, fake = textures(400, 1), textures(1000, 2)
    start = time.perf_counter()
    M.swd(real, fake)
    assert time.perf_counter() - start < 15  # ~3 s on 2 busy cores


# ------------------------------------------------------------------ memorisation

def test_memorisation_of_copies_and_of_fresh_samples():
    train, heldout = gaussian(300, 16, 1), gaussian(300, 16, 2)
    copies = train[::-1] + 1e-6
    mem = M.memorisation(copies, train, heldout)
    assert mem["ratio"] < 0.01
    assert np.array_equal(mem["nearest_train_index"], np.arange(300)[::-1])
    assert mem["copy_fraction"] == 1.0
    fresh = M.memorisation(gaussian(500, 16, 3), train, heldout)
    assert 0.9 < fresh["ratio"] < 1.1
    assert fresh["copy_fraction"] < 0.05
    assert fresh["fake_distance"].shape == (500,) and fresh["nearest_train_index"].dtype == np.int64


def test_nearest_grid_pairs_each_fake_with_its_training_image(tmp_path):
    fake = textures(6, 1, size=32)
    train = textures(10, 2, size=48)
    nearest = np.array([3, 1, 4, 1, 5, 9])
    dist = np.array([5.0, 0.5, 3.0, 4.0, 1.0, 2.0])
    path = tmp_path / "nearest.png"
    grid = M.write_nearest_grid(path, fake, train, nearest, dist, count=4, pairs_per_row=2)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, grid)
    assert grid.shape == (2 * 34 + 2, 4 * 34 + 2, 3)  # 2 rows of 2 pairs, 2 px gaps
    # closest first: fake 1 (0.5) beside train 1, then fake 4 (1.0) beside train 5
    assert np.array_equal(grid[2:34, 2:34], fake[1])
    assert np.array_equal(grid[2:34, 36:68], cv2.resize(train[1], (32, 32),
                                                        interpolation=cv2.INTER_AREA))
    assert np.array_equal(grid[2:34, 70:102], fake[4])


# ------------------------------------------------------------------ diversity

def test_diversity_and_collapse_on_synthetic_features():
    real = gaussian(400, 16, 1)
    fresh = M.diversity_stats(gaussian(400, 16, 2), real)
    assert 0.9 < fresh["diversity"] < 1.1 and 0.8 < fresh["nn_ratio"] < 1.2
    assert not fresh["collapsed"]
    one = M.diversity_stats(np.tile(real[:1], (400, 1)), real)
    assert one["diversity"] == pytest.approx(0.0, abs=1e-6) and one["collapsed"]
    five = M.diversity_stats(np.tile(gaussian(5, 16, 3), (80, 1)), real)
    assert five["diversity"] > 0.5   # the pairwise ratio alone misses a few repeated images
    assert five["nn_ratio"] < 0.01 and five["collapsed"]
    assert M.diversity(gaussian(400, 16, 2), real) == pytest.approx(fresh["diversity"])


# ------------------------------------------------------------------ evaluate (plumbing)

class PixelFeatures:
    """A stand-in extractor: 8x8 thumbnails as 192-dim features (no TensorFlow)."""

    def embed(self, images):
        return np.stack([cv2.resize(i, (8, 8), interpolation=cv2.INTER_AREA).ravel()
                         for i in images]).astype(np.float32) / 255.0


def test_evaluate_returns_every_metric():
    real, fake, train = textures(100, 1), textures(150, 2), textures(60, 3)
    r = M.evaluate(real, fake, train_images=train, extractor=PixelFeatures(),
                   swd_descriptors=1024)
    keys = {"kd", "kd_std", "fd", "precision", "recall", "density", "coverage", "swd",
            "diversity", "nn_ratio", "collapse", "memorisation_ratio", "copy_fraction",
            "n_real", "n_fake", "seconds"}
    assert keys <= set(r)
    assert isinstance(r["collapse"], bool) and not r["collapse"]
    assert all(np.isfinite(r[k]) for k in keys - {"collapse"})
    assert "memorisation_ratio" not in M.evaluate(real, fake, extractor=PixelFeatures(),
                                                  swd_descriptors=1024)
    copied = M.evaluate(real, train[:50], train_images=train, extractor=PixelFeatures(),
                        swd_descriptors=1024)
    assert copied["memorisation_ratio"] < 0.01


def test_evaluate_resizes_real_images_for_swd():
    r = M.evaluate(textures(40, 1, size=64), textures(40, 2, size=32),
                   extractor=PixelFeatures(), swd_descriptors=1024)
    assert np.isfinite(r["swd"])


# ------------------------------------------------------------------ real faces, real features

def _pick(folder, count, seed, size=64):
    from gan.data import find_images, read_image
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    files = find_images(folder)
    order = np.random.default_rng(seed).permutation(len(files))[:count]
    return np.stack([read_image(files[i], size) for i in order])


def _degrade(images, kind, strength):
    if kind == "blur":
        return np.stack([cv2.GaussianBlur(i, (0, 0), strength) for i in images])
    if kind == "noise":
        noise = np.random.default_rng(7).normal(0, strength, images.shape)
        return np.clip(images + noise, 0, 255).astype(np.uint8)
    shift = np.array([strength, 0, -strength])        # colour: red up, blue down
    return np.clip(images.astype(np.int16) + shift, 0, 255).astype(np.uint8)


DEGRADATIONS = {"blur": (1.0, 2.0), "noise": (12, 35), "colour": (20, 50)}


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    import os
    from gan.features import CACHE_ENV, FeatureExtractor
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))
    try:
        ex = FeatureExtractor()
        ex.embed(np.zeros((1, 64, 64, 3), np.uint8))   # converts and loads the weights now
        yield ex
    finally:
        if old is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = old


def _faces(extractor, n):
    """Two disjoint sets of n faces from faces-9k, n training faces from faces-400, features."""
    images = _pick(SHARED / "faces-9k", 2 * n, seed=0)
    train = _pick(SHARED / "faces-400", n, seed=1)
    a, b = images[:n], images[n:]
    return {"a": a, "b": b, "train": train, "fa": extractor.embed(a),
            "fb": extractor.embed(b), "ftrain": extractor.embed(train)}


@pytest.fixture(scope="module")
def faces_small(extractor):
    return dict(_faces(extractor, 100), extractor=extractor)


@pytest.fixture(scope="module")
def faces_big(extractor):
    return dict(_faces(extractor, 400), extractor=extractor)


def check_real_vs_real(f, min_pr):
    mean, std = M.kd(f["fa"], f["fb"])
    assert abs(mean) < std, (mean, std)
    r = M.precision_recall_density_coverage(f["fa"], f["fb"])
    assert r["precision"] > min_pr and r["recall"] > min_pr, r
    assert r["coverage"] > 0.8, r
    assert not M.diversity_stats(f["fb"], f["fa"])["collapsed"]


def check_collapse(f):
    n = len(f["fa"])
    for name, count in (("one image", 1), ("five images", 5)):
        fake = np.resize(f["b"][:count], (n,) + f["b"].shape[1:])   # repeated to n images
        fake_f = f["extractor"].embed(fake)
        r = M.precision_recall_density_coverage(f["fa"], fake_f)
        assert r["recall"] < 0.02, (name, r)
        assert M.diversity_stats(fake_f, f["fa"])["collapsed"], name


def check_copies(f):
    copies = f["extractor"].embed(f["train"][::-1])   # embedded again, in another order
    mem = M.memorisation(copies, f["ftrain"], f["fa"])
    assert mem["ratio"] < 0.01, mem["ratio"]
    assert np.array_equal(mem["nearest_train_index"], np.arange(len(copies))[::-1])
    held = M.memorisation(f["fb"], f["ftrain"], f["fa"])
    assert 0.85 < held["ratio"] < 1.15, held["ratio"]


def check_degradations(f, kinds):
    base = M.kd(f["fa"], f["fb"])[0]
    for kind in kinds:
        values = [M.kd(f["fa"], f["extractor"].embed(_degrade(f["b"], kind, s)))[0]
                  for s in DEGRADATIONS[kind]]
        assert base < values[0] < values[1], (kind, base, values)


def test_real_faces_against_real_faces(faces_small):
    check_real_vs_real(faces_small, min_pr=0.6)


def test_collapsed_faces_have_no_recall(faces_small):
    check_collapse(faces_small)


def test_copied_training_faces_are_memorised(faces_small):
    check_copies(faces_small)


def test_blur_worsens_kd_monotonically(faces_small):
    check_degradations(faces_small, ["blur"])


@pytest.mark.slow
def test_degradations_worsen_kd_monotonically_400(faces_big):
    check_degradations(faces_big, DEGRADATIONS)


@pytest.mark.slow
def test_real_collapsed_and_copied_faces_400(faces_big):
    check_real_vs_real(faces_big, min_pr=0.7)
    check_collapse(faces_big)
    check_copies(faces_big)


@pytest.mark.slow
def test_evaluate_1000_generated_against_400_real_in_time(extractor):
    images = _pick(SHARED / "faces-9k", 1400, seed=2)
    start = time.perf_counter()
    r = M.evaluate(images[:400], images[400:], extractor=extractor)
    seconds = time.perf_counter() - start
    print(f"evaluate 1000 vs 400 at 64 px: {seconds:.1f} s; {r}")
    assert abs(r["kd"]) < 3 * r["kd_std"] and not r["collapse"]
    assert seconds < 240
