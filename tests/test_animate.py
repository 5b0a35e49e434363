import numpy as np
import pytest
from PIL import Image

from gan import animate, images
from gan.cli import main


def video_frames(path) -> int:
    import cv2
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    return count


def test_slerp_ends_at_the_keys_and_keeps_the_norm_between_orthogonal_latents():
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    np.testing.assert_allclose(animate.slerp(a, b, 0), a, atol=1e-6)
    np.testing.assert_allclose(animate.slerp(a, b, 1), b, atol=1e-6)
    assert np.linalg.norm(animate.slerp(a, b, 0.5)) == pytest.approx(1.0)
    np.testing.assert_allclose(animate.slerp(a, a, 0.3), a)  # parallel: no division by 0


def test_interpolation_passes_through_every_key_in_order():
    keys = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    path = animate.interpolation_latents(keys, 9, loop=False)
    assert path.shape == (9, 8)
    np.testing.assert_allclose(path[[0, 4, 8]], keys, atol=1e-5)
    looped = animate.interpolation_latents(keys, 12, loop=True)
    np.testing.assert_allclose(looped[[0, 4, 8]], keys, atol=1e-5)  # and back toward key 0


def test_cli_interpolate_writes_a_gif_and_the_key_frames(run_dir, capsys):
    from gan import load_generator
    out = run_dir.parent / "walk"
    assert main(["--TYPE", "interpolate", "--seeds", "1,7", "--frames", "6", "--out", str(out),
                 "--runs_dir", str(run_dir.parent)]) == 0
    gif = Image.open(out / "interpolation.gif")
    assert gif.n_frames == 6 and gif.size == (32 * 2, 32 * 2)
    first_seed = load_generator(run_dir).generate([1])[0]
    keyframes = np.asarray(Image.open(out / "keyframes.png").convert("RGB"))
    np.testing.assert_array_equal(keyframes[2:34, 2:34], first_seed)  # after the 2 px gap
    assert "interpolation.gif" in capsys.readouterr().out
    assert video_frames(out / "interpolation.mp4") == 6


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "3"], "at least two different seeds"),
    (["--seeds", "3,3"], "at least two different seeds"),
    (["--seeds", "1,2,3", "--frames", "2"], "--frames must be at least"),
    (["--seeds", "1,2", "--img_num", "5"], "no effect with --TYPE interpolate"),
])
def test_cli_interpolate_errors(run_dir, capsys, argv, message):
    assert main(["--TYPE", "interpolate", "--runs_dir", str(run_dir.parent)] + argv) == 2
    assert message in capsys.readouterr().err


def test_timelapse_labels_evenly_spaced_grids(run_dir, capsys, monkeypatch):
    runs = ["--TYPE", "timelapse", "--runs_dir", str(run_dir.parent)]
    assert main(runs) == 2
    assert "no sample grids yet" in capsys.readouterr().err
    (run_dir / "samples").mkdir()
    for epoch in range(5):
        grid = np.full((8, 32, 32, 3), epoch * 50, np.uint8)
        images.write_png(run_dir / "samples" / f"epoch_{epoch:04d}.png",
                         images.make_grid(grid, cols=4))
    monkeypatch.setattr(animate, "TIMELAPSE_FRAMES", 3)
    assert main(runs) == 0
    gif = Image.open(run_dir / "timelapse.gif")
    assert gif.n_frames == 3  # epochs 0, 2 and 4
    gif.seek(2)
    last = np.asarray(gif.convert("RGB"))
    assert last[30, 10].tolist() == [200, 200, 200]  # epoch 4's grey, below the label band
    assert last[:22].min() < 100  # the label text is drawn in the band
    assert video_frames(run_dir / "timelapse.mp4") == 3
