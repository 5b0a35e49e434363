import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT
from gan.cli import main, parse_seeds
from gan.errors import UsageError


def test_a_seed_gives_the_same_pixels_whatever_else_is_generated(run_dir):
    from gan import load_generator
    g = load_generator(run_dir)
    alone = g.generate([3, 7])
    shuffled = g.generate([7, 1, 3])
    many = g.generate(range(0, 70))  # crosses a batch boundary
    np.testing.assert_array_equal(alone[0], shuffled[2])
    np.testing.assert_array_equal(alone[1], shuffled[0])
    np.testing.assert_array_equal(alone[0], many[3])
    np.testing.assert_array_equal(alone[1], many[7])
    assert alone.dtype == np.uint8 and alone.shape == (2, 32, 32, 3)
    assert not np.array_equal(alone[0], alone[1])


def test_truncation_scales_the_latents_toward_the_mean(run_dir):
    from gan import load_generator
    g = load_generator(run_dir)
    np.testing.assert_allclose(g.latents([5], truncation=0.5), 0.5 * g.latents([5]), rtol=1e-6)


def test_cli_seeds_match_the_api_and_img_num_counts_up_from_seed(run_dir, capsys):
    from gan import load_generator
    runs = ["--runs_dir", str(run_dir.parent)]
    out = run_dir.parent / "by_seed"
    assert main(["--TYPE", "generate", "--seeds", "2-3,9", "--out", str(out)] + runs) == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "seed0002.png",
                                                     "seed0003.png", "seed0009.png"]
    seed9 = cv2.imread(str(out / "seed0009.png"))[..., ::-1]
    np.testing.assert_array_equal(seed9, load_generator(run_dir).generate([9])[0])
    counted = run_dir.parent / "counted"
    assert main(["--TYPE", "generate", "--img_num", "2", "--seed", "8", "--out",
                 str(counted)] + runs) == 0
    np.testing.assert_array_equal(cv2.imread(str(counted / "img_0001.png")),
                                  cv2.imread(str(out / "seed0009.png")))
    assert "seeds 8-9" in capsys.readouterr().out


@pytest.mark.parametrize("text, seeds", [("0-3,42", [0, 1, 2, 3, 42]), ("5", [5]),
                                         ("2,2,1", [2, 1])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "3-x", "-1", "1,,2"])
def test_bad_seeds_are_usage_errors(text):
    with pytest.raises(UsageError, match="--seeds"):
        parse_seeds(text)
    with pytest.raises(UsageError, match="the range 5-1 runs backwards; write 1-5"):
        parse_seeds("0,5-1")


def test_seeds_with_img_num_or_bad_truncation_are_refused(run_dir, capsys):
    runs = ["--runs_dir", str(run_dir.parent)]
    assert main(["--TYPE", "generate", "--seeds", "1", "--img_num", "4"] + runs) == 2
    assert "give --seeds or --img_num, not both" in capsys.readouterr().err
    assert main(["--TYPE", "generate", "--truncation", "0"] + runs) == 2
    assert "--truncation must be in (0, 1]" in capsys.readouterr().err
    assert not (run_dir / "generated").exists()


def test_api_import_needs_no_tensorflow_until_a_generator_is_loaded():
    code = ("import sys, gan; f = gan.load_generator; "
            "print('tensorflow' in sys.modules, 'gan.training' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_loading_a_folder_that_is_not_a_run_is_a_usage_error(tmp_path):
    from gan import load_generator
    with pytest.raises(UsageError, match="not a run folder"):
        load_generator(tmp_path)
