import json

import cv2
import numpy as np
import pytest

from gan import load_generator
from gan.cli import main
from gan.data import DEMO_PATH
from test_cli import error_line


def rgb(path):
    return cv2.imread(str(path))[..., ::-1]


@pytest.fixture
def photos(tmp_path):
    """Three demo faces, copied, and a file that is no image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(DEMO_PATH.glob("*.png"))[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_encode_writes_latents_reconstructions_grid_and_summary(trained_run, photos, capsys):
    out = photos.parent / "encoded"
    assert main(["--TYPE", "encode", "--images", str(photos), "--steps", "20", "--out",
                 str(out), "--runs_dir", str(trained_run.parent)]) == 0
    saved = np.load(out / "latents.npz")
    names = sorted(p.name for p in photos.iterdir())
    assert [p.split("/")[-1] for p in saved["names"]] == names
    assert saved["latents"].shape == (3, 16) and saved["latents"].dtype == np.float32
    recon = load_generator(trained_run).from_latents(saved["latents"])
    np.testing.assert_array_equal(rgb(out / "recon_0001.png"), recon[1])
    assert rgb(out / "grid.png").shape == (2 + 2 * 34, 2 + 3 * 34, 3)  # photos over recons
    summary = json.loads((out / "summary.json").read_text())
    errors = [row["mean_abs_error"] for row in summary["images"]]
    assert len(errors) == 3 and summary["steps"] == 20
    assert summary["mean_abs_error"] == pytest.approx(np.mean(errors), abs=0.01)
    assert 0 < summary["mean_abs_error"] < 128
    assert f"mean reconstruction error {summary['mean_abs_error']:.1f}" in capsys.readouterr().out


def test_interpolating_photos_starts_and_ends_at_their_reconstructions(trained_run, photos):
    a, b = sorted(photos.iterdir())[:2]
    runs = ["--runs_dir", str(trained_run.parent), "--steps", "20"]
    both = f"{a},{b}"
    assert main(["--TYPE", "encode", "--images", both, "--out", str(photos.parent / "e")]
                + runs) == 0
    assert main(["--TYPE", "interpolate", "--images", both, "--frames", "5", "--out",
                 str(photos.parent / "i")] + runs) == 0
    keyframes = rgb(photos.parent / "i" / "keyframes.png")
    for k in range(2):  # tiles after the 2 px gaps
        tile = keyframes[2:34, 2 + 34 * k:34 + 34 * k].astype(int)
        recon = rgb(photos.parent / "e" / f"recon_{k:04d}.png").astype(int)
        assert np.abs(tile - recon).max() <= 2
    assert (photos.parent / "i" / "interpolation.mp4").exists()


@pytest.mark.parametrize("argv, message", [
    (["--TYPE", "encode", "--images", "{tmp}/broken.jpg"], "broken.jpg: cannot be decoded"),
    (["--TYPE", "encode", "--images", "{tmp}/photos,{tmp}/nope.jpg"], "no such file"),
    (["--TYPE", "encode", "--images", "{tmp}/empty"], "no image files found"),
    (["--TYPE", "encode", "--images", "{tmp}/photos", "--steps", "0"], "--steps must be > 0"),
    (["--TYPE", "encode"], "--TYPE encode needs --images"),
    (["--TYPE", "encode", "--images", "{tmp}/photos", "--seeds", "1"], "--seeds has no effect"),
    (["--TYPE", "interpolate", "--images", "{tmp}/photos/{one}"], "at least two"),
    (["--TYPE", "interpolate", "--images", "{tmp}/photos", "--seeds", "1,2"],
     "--seeds or --images, one of them"),
    (["--TYPE", "interpolate"], "--seeds or --images, one of them"),
    (["--TYPE", "interpolate", "--seeds", "1,2", "--steps", "5"], "--steps has no effect"),
])
def test_bad_photos_and_steps_give_one_line_and_write_nothing(trained_run, photos, capsys,
                                                                argv, message):
    (photos.parent / "empty").mkdir()
    one = sorted(photos.iterdir())[0].name
    argv = [a.format(tmp=photos.parent, one=one) for a in argv]
    out = photos.parent / "out"
    before = sorted(trained_run.rglob("*"))
    assert message in error_line(capsys, argv + ["--out", str(out), "--runs_dir",
                                                 str(trained_run.parent)])
    assert not out.exists() and sorted(trained_run.rglob("*")) == before
