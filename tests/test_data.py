from pathlib import Path

import cv2
import numpy as np
import pytest

from gan.data import (epoch_dataset, epoch_order, find_images, load_image_set, load_images,
                      read_image)
from gan.errors import UsageError


def write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix.lower(), image)  # imwrite can't take odd names
    assert ok
    path.write_bytes(encoded.tobytes())


@pytest.fixture
def folder(tmp_path):
    """Six images: colour JPG, upper-case PNG, gray, RGBA, a wide one in a subfolder; one
    corrupt file and one non-image."""
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    write(root / "a.jpg", rng.integers(0, 255, (50, 50, 3), dtype=np.uint8))
    write(root / "B.PNG", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    write(root / "gray.png", np.full((30, 30), 100, np.uint8))
    rgba = np.zeros((20, 20, 4), np.uint8)  # fully transparent -> white
    write(root / "rgba.png", rgba)
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, 20:40] = (255, 0, 0)  # blue centre square in BGR
    write(root / "sub" / "wide.jpeg", wide)
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("hello")
    return root


def test_find_images_is_recursive_sorted_and_case_insensitive(folder):
    names = [p.relative_to(folder).as_posix() for p in find_images(folder)]
    assert names == ["B.PNG", "a.jpg", "broken.jpg", "gray.png", "rgba.png", "sub/wide.jpeg"]


def test_read_image_converts_to_rgb_square(folder):
    assert read_image(folder / "gray.png", 16).shape == (16, 16, 3)
    assert read_image(folder / "rgba.png", 16).min() == 255  # alpha over white
    centre = read_image(folder / "sub" / "wide.jpeg", 8)
    assert centre[4, 4, 2] > 200 and centre[4, 4, 0] < 50  # centre crop, BGR -> RGB
    assert read_image(folder / "broken.jpg", 16) is None


def test_load_images_skips_undecodable_files_with_one_warning(folder, capsys):
    images = load_images(folder, 32)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 1 of 6 files" in err[0]  # notes.txt is not an image
    assert "1 could not be decoded as images (broken.jpg)" in err[0]


@pytest.mark.parametrize("kind, message", [("missing", "no such folder"),
                                           ("file", "not a folder"), ("empty", "no image files found")])
def test_bad_folders_raise_usage_errors(tmp_path, kind, message):
    target = tmp_path / kind
    if kind == "file":
        target.write_bytes(b"x")
    if kind == "empty":
        target.mkdir()
    with pytest.raises(UsageError, match=message):
        load_images(target, 32)


def test_only_corrupt_files_is_an_error(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="could be decoded"):
        load_images(tmp_path, 32)


def test_cache_is_used_and_invalidated_by_changes(folder, tmp_path):
    cache = tmp_path / "cache"
    first = load_images(folder, 32, cache)
    assert len(list(cache.glob("*.npy"))) == 1
    np.testing.assert_array_equal(load_images(folder, 32, cache), first)
    again, skipped = load_image_set(folder, 32, cache)  # the cache remembers skipped files
    assert [Path(f).name for f in skipped] == ["broken.jpg"]
    write(folder / "new.png", np.zeros((10, 10, 3), np.uint8))
    assert len(load_images(folder, 32, cache)) == 6
    assert len(list(cache.glob("*.npy"))) == 2
    assert len(load_images(folder, 16, cache)) == 6  # the size is part of the key


def test_epoch_order_depends_only_on_seed_and_epoch():
    a, fa = epoch_order(50, seed=1, epoch=3, flip=True)
    b, fb = epoch_order(50, seed=1, epoch=3, flip=True)
    c, _ = epoch_order(50, seed=1, epoch=4, flip=True)
    assert (a == b).all() and (fa == fb).all() and not (a == c).all()
    assert sorted(a) == list(range(50)) and 0 < fa.sum() < 50
    assert not epoch_order(50, 1, 3, flip=False)[1].any()


def test_epoch_dataset_batches_scaled_images_and_resumes_mid_epoch():
    import tensorflow as tf
    images = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    batches = [(b.numpy(), z.numpy())
               for b, z in epoch_dataset(tf.constant(images), 4, 3, 0, 0, flip=False)]
    assert [len(b) for b, _ in batches] == [4, 4]  # the incomplete last batch is dropped
    assert [z.shape for _, z in batches] == [(4, 3), (4, 3)]
    assert [len(b) for b, _ in epoch_dataset(tf.constant(images), 64, 3, 0, 0, False)] == [10]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.float32
    order, _ = epoch_order(10, 0, 0, flip=False)
    np.testing.assert_allclose(batches[0][0][:, 0, 0, 0], order[:4] / 127.5 - 1, atol=1e-6)
    resumed = [(b.numpy(), z.numpy())
               for b, z in epoch_dataset(tf.constant(images), 4, 3, 0, 0, False, 1)]
    np.testing.assert_array_equal(resumed[0][0], batches[1][0])
    np.testing.assert_array_equal(resumed[0][1], batches[1][1])


def test_faces_400_loads_at_64(faces_400):
    images = load_images(faces_400, 64)
    assert images.shape == (400, 64, 64, 3)


def test_odd_file_names_and_unreadable_files(tmp_path, capsys):
    import os
    root = tmp_path / "odd"
    root.mkdir()
    write(root / "with space.png", np.zeros((8, 8, 3), np.uint8))
    odd = os.fsdecode(b"caf\xe9.png")  # not valid UTF-8
    write(root / odd, np.zeros((8, 8, 3), np.uint8))
    (root / os.fsdecode(b"bad\xff.jpg")).write_bytes(b"")  # zero bytes
    images = load_images(root, 16)
    assert len(images) == 2
    err = capsys.readouterr().err
    assert "bad\\xff.jpg" in err  # printed, not crashed on


def test_symlinked_folders_are_followed_and_a_loop_ends(tmp_path):
    root = tmp_path / "loop"
    write(root / "a" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (root / "a" / "back").symlink_to(root)
    assert len(find_images(root)) == 1
    write(tmp_path / "elsewhere" / "y.png", np.zeros((8, 8, 3), np.uint8))
    (root / "linked").symlink_to(tmp_path / "elsewhere")  # e.g. a class folder kept elsewhere
    assert [p.relative_to(root).as_posix() for p in find_images(root)] == ["a/x.png",
                                                                           "linked/y.png"]


def test_unusual_but_valid_images_are_read(tmp_path, capsys):
    root = tmp_path / "unusual"
    write(root / "deep.png", np.full((20, 20, 3), 65535, np.uint16))  # 16-bit
    write(root / "tiny.png", np.full((1, 1, 3), 7, np.uint8))  # 1x1
    write(root / "photo.webp", np.full((20, 20, 3), 200, np.uint8))
    write(root / "huge.jpg", np.full((12000, 12000, 3), 90, np.uint8))
    pil = pytest.importorskip("PIL.Image")
    frames = [pil.new("RGB", (8, 8), (i, i, i)) for i in (0, 255)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    images = load_images(root, 16)
    assert images.shape == (4, 16, 16, 3)
    by_name = dict(zip(["deep", "huge", "photo", "tiny"], images))
    assert by_name["deep"].min() == 255 and by_name["tiny"].max() == 7
    assert abs(int(by_name["huge"].mean()) - 90) <= 2 and by_name["photo"].min() >= 195
    assert "1 are in formats this tool cannot read (anim.gif)" in capsys.readouterr().err


def test_huge_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    write(tmp_path / "huge.jpg", np.zeros((4000, 3000, 3), np.uint8))
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda raw, flag: decoded.append(
        real_imdecode(raw, flag).shape) or real_imdecode(raw, flag))
    assert read_image(tmp_path / "huge.jpg", 64).shape == (64, 64, 3)
    assert decoded == [(500, 375, 3)]  # 1/8 scale: still >= 2 x 64 on the short side


def test_jpeg_exif_orientation_is_applied(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    image = pil.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # left half red, right half blue
    exif = pil.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "rotated.jpg", 20)
    assert upright[2, 10, 0] > 200 and upright[2, 10, 2] < 60   # red now on top
    assert upright[17, 10, 2] > 200 and upright[17, 10, 0] < 60  # blue at the bottom


def test_truncated_jpeg_is_skipped(tmp_path, capsys):
    ok, encoded = cv2.imencode(".jpg", np.random.default_rng(0).integers(
        0, 255, (64, 64, 3), dtype=np.uint8))
    write(tmp_path / "good.jpg", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "cut.jpg").write_bytes(encoded.tobytes()[:len(encoded) // 2])
    assert len(load_images(tmp_path, 8)) == 1
    assert "skipped 1 of 2 files" in capsys.readouterr().err


def test_cmyk_jpeg_is_converted(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    root = tmp_path / "cmyk"
    root.mkdir()
    pil.new("CMYK", (24, 24), (0, 255, 255, 0)).save(root / "red.jpg")  # pure red in CMYK
    image = load_images(root, 8)[0]
    assert image[4, 4, 0] > 200 and image[4, 4, 1] < 60 and image[4, 4, 2] < 60


def test_unreadable_folder_is_a_usage_error(tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("root can read any folder")
    root = tmp_path / "locked"
    write(root / "inner" / "a.png", np.zeros((8, 8, 3), np.uint8))
    (root / "inner").chmod(0)
    try:
        with pytest.raises(UsageError, match="permission denied"):
            load_images(root, 8)
    finally:
        (root / "inner").chmod(0o755)
