"""--TYPE evaluate on tiny and degenerate image sets: finite numbers or one line, never a
traceback, NaN or infinity, for every count of {1, 2, 5, 20} x {identical, different} images
on either side."""
import itertools
import json
import math

import numpy as np
import pytest

from gan import metrics
from gan.cli import main
from gan.errors import TooFewImages
from test_cli import copy_demo_images

COUNTS = (1, 2, 5, 20)
KINDS = ("identical", "different")
SETS = list(itertools.product(COUNTS, KINDS))


@pytest.fixture(scope="module")
def extractor():
    from gan.features import FeatureExtractor
    return FeatureExtractor()


@pytest.fixture(autouse=True)
def one_extractor(monkeypatch, extractor):
    """Every evaluate in this module reuses the one loaded network."""
    monkeypatch.setattr("gan.features.FeatureExtractor", lambda *args: extractor)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{(count, kind): a folder of `count` PNGs, copies of one demo face or different ones}."""
    root = tmp_path_factory.mktemp("sets")
    faces = sorted(copy_demo_images(root / "demo", n=max(COUNTS)).iterdir())
    out = {}
    for count, kind in SETS:
        folder = root / f"{count}-{kind}"
        folder.mkdir()
        for i in range(count):
            source = faces[0] if kind == "identical" else faces[i]
            (folder / f"{i:02d}.png").write_bytes(source.read_bytes())
        out[count, kind] = folder
    return out


def finite_json(text: str) -> dict:
    def refuse(name):
        raise AssertionError(f"{name} in {text}")
    result = json.loads(text, parse_constant=refuse)
    for key, value in result.items():
        assert not isinstance(value, complex), key
        assert value is None or not isinstance(value, float) or math.isfinite(value), key
    return result


def expected_refusal(real: tuple, fake: tuple | None = None) -> str | None:
    """What the error line says, counts checked first (reference, then samples)."""
    for (count, _), flag in ((real, "--path"), (fake, "--images")):
        if count < metrics.EVALUATE_MIN_IMAGES:
            return f"{flag} has {count} image"
    return "--path: each of its" if real[1] == "identical" else None


@pytest.mark.parametrize("fake", SETS, ids=lambda s: f"samples{s[0]}{s[1][0]}")
@pytest.mark.parametrize("real", SETS, ids=lambda s: f"reference{s[0]}{s[1][0]}")
def test_evaluate_folders_of_any_size(tmp_path, folders, capsys, fake, real):
    argv = ["--TYPE", "evaluate", "--images", str(folders[fake]), "--path", str(folders[real]),
            "--img_size", "32", "--json", "--runs_dir", str(tmp_path)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    refusal = expected_refusal(real, fake)
    if refusal:
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
        assert refusal in err
        if "image" in refusal and "each" not in refusal:
            assert f"at least {metrics.EVALUATE_MIN_IMAGES}" in err
    else:
        assert code == 0, err
        result = finite_json(out)
        assert result["collapse"] == (fake[1] == "identical")
        if fake[1] == "identical":
            assert result["diversity"] == pytest.approx(0, abs=1e-6)


def test_a_runs_samples_against_a_tiny_or_degenerate_reference(run_dir, folders, capsys):
    for count, kind in SETS:
        code = main(["--TYPE", "evaluate", "--runs_dir", str(run_dir.parent), "--img_num", "8",
                     "--path", str(folders[count, kind]), "--json"])
        out, err = capsys.readouterr()
        refusal = expected_refusal((count, kind), (8, "different"))
        if refusal:
            assert code == 2 and refusal in err and len(err.strip().splitlines()) == 1, err
        else:
            assert code == 0, err
            finite_json(out)


def test_the_run_training_set_as_reference_is_named(tmp_path, tiny_config, folders, capsys):
    from gan.checkpoints import CheckpointStore, checkpoint_name
    from gan.model import GAN
    import dataclasses
    config = dataclasses.replace(tiny_config, path=str(folders[5, "different"]))
    run = tmp_path / "runs" / "00000-five"
    run.mkdir(parents=True)
    config.save(run / "config.json")
    CheckpointStore(run / "checkpoints", **GAN(config).trackables()).save(
        checkpoint_name(0, 0), {})
    assert main(["--TYPE", "evaluate", "--runs_dir", str(run.parent), "--img_num", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the run's training images has 5 images") and "at least 6" in err


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 20])
def test_each_metric_gives_finite_values_or_says_how_many_it_needs(n):
    rng = np.random.default_rng(n)
    different, same = rng.standard_normal((n, 16)), np.ones((n, 16))
    for fake in (different, same):
        for name, metric, needed in (
                ("kd", lambda: metrics.kd(different, fake), 4),
                ("fd", lambda: metrics.fd(different, fake), 2),
                ("prdc", lambda: metrics.precision_recall_density_coverage(different, fake),
                 metrics.PRDC_K + 1),
                ("diversity", lambda: metrics.diversity_stats(fake, different), 2)):
            if n < needed:
                with pytest.raises(TooFewImages) as error:
                    metric()
                assert error.value.needed == needed and error.value.count == n, name
                continue
            values = metric()
            values = values.values() if isinstance(values, dict) else np.atleast_1d(values)
            assert all(np.isfinite(float(v)) for v in values), name
        mem = metrics.memorisation(fake, different, different[:1])
        assert mem["ratio"] is None  # the held-out image is a training image
        assert np.isfinite(metrics.memorisation(fake, different, same[:1])["ratio"])
    if n >= 2:
        with pytest.raises(TooFewImages) as error:
            metrics.diversity_stats(different, same)  # an all-identical reference
        assert error.value.distinct and error.value.role == "real"


def test_training_on_a_tiny_or_uniform_set_goes_on_without_evaluations(tmp_path, tiny_config,
                                                                       capsys):
    import dataclasses

    from gan.training import train
    from test_training import tiny_images
    config = dataclasses.replace(tiny_config, epochs=1, eval_every=1)
    for name, images in (("three", tiny_images(n=3)),
                         ("copies", np.repeat(tiny_images(n=1), 8, axis=0))):
        (tmp_path / name).mkdir()
        assert train(config, tmp_path / name, images).exit_code == 0
        assert "training goes on without evaluations" in capsys.readouterr().err
        assert not (tmp_path / name / "metrics.jsonl").exists()
