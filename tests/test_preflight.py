import json

import cv2
import numpy as np

from gan import hardware
from gan.cli import main


def test_check_reports_formats_modes_skips_duplicates_and_speed(tmp_path, capsys, monkeypatch,
                                                                tmp_path_factory):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "a.png"), face)
    cv2.imwrite(str(folder / "copy.png"), face)  # pixel-identical to a.png
    cv2.imwrite(str(folder / "gray.jpg"), np.full((20, 20), 90, np.uint8))
    cv2.imwrite(str(folder / "rgba.png"), np.zeros((50, 50, 4), np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("hi")  # not an image: not mentioned
    (folder / "photo.heic").write_bytes(b"\0" * 16)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GAN_CACHE_DIR", str(cache))
    assert main(["--TYPE", "check", "--path", str(folder), "--img_size", "32", "--width", "8",
                 "--batch_size", "2", "--no-xla"]) == 0
    out = capsys.readouterr().out
    assert "4 images will be used" in out
    assert "formats: 1 jpg, 3 png" in out
    assert "modes:   2 RGB, 1 RGBA, 1 gray (" in out
    assert "2 centre-cropped" in out and "1 enlarged" in out
    assert "broken.jpg: cannot be decoded" in out and "photo.heic: an image format this tool cannot read" in out
    assert "notes.txt" not in out
    assert "a.png = " in out and "copy.png" in out
    assert "s per epoch (2 batches of 2)" in out
    assert "s to prepare (trace) the first training step" in out  # --no-xla: nothing to compile
    # --precision auto: both timed (the cache is empty), the faster chosen, as training would
    blocked = bool(hardware.bf16_blocked())  # an ISA cap leaves oneDNN no bf16 kernels
    assert f"measuring the training step in fp32{'' if blocked else ', bf16'} on this CPU" in out
    setting = next(line for line in out.splitlines() if line.startswith("  setting: "))
    if blocked:
        assert "the only setting open, measured on this CPU; bf16 left out" in setting
    else:
        assert setting.endswith("measured on this CPU)")
        assert "faster than" in setting or "as fast as" in setting
    assert "\n    fp32 " in out and ("\n    bf16 " in out) != blocked
    assert "steps/s, first step" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # a check writes nothing
    assert "fp32" in json.loads((cache / "autotune.json").read_text())["entries"].popitem()[1]


def test_check_on_a_folder_of_broken_images_fails_like_training(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    assert main(["--TYPE", "check", "--path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "none of its image files could be decoded (1 tried); check that they are" in err


def test_check_errors_are_one_line(tmp_path, capsys):
    assert main(["--TYPE", "check", "--path", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["--TYPE", "check", "--img_num", "3"]) == 2
    assert "no effect with --TYPE check" in capsys.readouterr().err


def test_training_summary_counts_formats_skips_and_duplicates(tmp_path):
    from gan.preflight import training_summary
    for name in ("a.png", "b.jpg", "c.jpeg", "broken.jpg"):
        (tmp_path / name).write_bytes(b"")
    images = np.zeros((3, 8, 8, 3), np.uint8)
    images[2] = 1
    text = training_summary(tmp_path, images, [str(tmp_path / "broken.jpg")])  # not counted
    assert text.startswith("data: 3 images used (2 jpg, 1 png), 1 file skipped, 1 identical "
                           "to another at 8x8")


def test_training_summary_counts_enlarged_images_and_quotes_the_path(tmp_path):
    import shlex

    from gan.preflight import training_summary
    folder = tmp_path / "my faces [1]"
    folder.mkdir()
    cv2.imwrite(str(folder / "dot.png"), np.zeros((1, 1, 3), np.uint8))      # 32x enlarged
    cv2.imwrite(str(folder / "small.png"), np.zeros((15, 20, 3), np.uint8))  # 2.1x
    cv2.imwrite(str(folder / "half.png"), np.zeros((16, 16, 3), np.uint8))   # 2x: not counted
    text = training_summary(folder, np.zeros((3, 32, 32, 3), np.uint8), [])
    assert "2 enlarged more than 2x to reach it (blurry)" in text
    from gan.cli import _command  # the CLI adds the details command to the summary
    hint = _command("--TYPE", "check", "--path", folder)
    assert shlex.split(hint) == ["python", "train.py", "--TYPE", "check", "--path", str(folder)]


def test_check_lists_the_classes_of_a_conditional_folder(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name, count in (("cats", 3), ("dogs", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"),
                        rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    flags = ["--img_size", "32", "--width", "8", "--batch_size", "2", "--no-xla"]
    assert main(["--TYPE", "check", "--path", str(tmp_path), "--conditional", *flags]) == 0
    assert "classes: cats (3), dogs (2)" in capsys.readouterr().out
    cv2.imwrite(str(tmp_path / "loose.png"), np.zeros((16, 16, 3), np.uint8))
    assert main(["--TYPE", "check", "--path", str(tmp_path), "--conditional", *flags]) == 2
    assert "lie directly in --path" in capsys.readouterr().err
