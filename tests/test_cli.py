import json
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT
from gan import hardware
from gan.cli import main

TRAIN = [sys.executable, str(ROOT / "train.py")]
TINY = ["--img_size", "32", "--width", "16", "--latent_dim", "32", "--batch_size", "16",
        "--no-xla"]  # compiling costs more than it saves at this size


def error_line(capsys, argv) -> str:
    """Run the CLI in-process; assert exit 2 and one line on stderr; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("argv, expected", [
    (["--TYPE", "fly"], "invalid choice: 'fly'"),
    (["--epochs", "0"], "--epochs must be > 0"),
    (["--batch_size", "-4"], "--batch_size must be > 0"),
    (["--img_size", "48"], "invalid choice: 48"),
    (["--margin", "-0.1"], "--margin must be >= 0"),
    (["--epochs", "ten"], "invalid int value: 'ten'"),
    (["--TYPE", "generate", "--img_num", "0"], "--img_num must be > 0"),
    (["--TYPE", "generate", "--epochs", "3"], "--epochs has no effect with --TYPE generate"),
    (["--TYPE", "train", "--img_num", "3"], "--img_num has no effect with --TYPE train"),
])
def test_bad_flags_give_one_line_and_exit_2(capsys, tmp_path, argv, expected):
    assert expected in error_line(capsys, argv + ["--runs_dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()  # nothing created


def test_bad_paths_give_one_line_and_create_no_run(capsys, tmp_path):
    runs = str(tmp_path / "runs")
    assert "no such folder" in error_line(capsys, ["--path", str(tmp_path / "nope"),
                                                   "--runs_dir", runs])
    (tmp_path / "notes.txt").write_text("x")
    assert "not a folder" in error_line(capsys, ["--path", str(tmp_path / "notes.txt"),
                                                 "--runs_dir", runs])
    assert "no image files found" in error_line(capsys, ["--path", str(tmp_path), "--runs_dir", runs])
    assert not (tmp_path / "runs").exists() or not [
        p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]


def test_generate_and_resume_without_runs(capsys, tmp_path):
    runs = ["--runs_dir", str(tmp_path)]
    assert "no training runs" in error_line(capsys, ["--TYPE", "generate"] + runs)
    assert "no training runs" in error_line(capsys, ["--resume"] + runs)
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "config.json").write_text(json.dumps({"img_size": 32}))
    assert "--run nope: no such run" in error_line(capsys, ["--TYPE", "generate", "--run",
                                                            "nope"] + runs)
    assert error_line(capsys, ["--TYPE", "generate", "--run", "nope"] + runs).endswith(
        "(runs there: r1); give one of those, or leave --run out for the latest")
    assert error_line(capsys, ["--resume", "nope"] + runs).endswith(
        "give one of those, or --resume without a name for the latest")


def copy_demo_images(folder, n=40):
    """A few dozen real images (the bundled Twemoji faces) in a folder of their own."""
    folder.mkdir()
    for path in sorted((ROOT / "data" / "demo-faces").glob("*.png"))[:n]:
        shutil.copy(path, folder)
    return folder


@pytest.fixture
def small_folder(tmp_path):
    return copy_demo_images(tmp_path / "faces")


def run_cli(*args, check=True):
    result = subprocess.run(TRAIN + list(args), capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_train_generate_resume_end_to_end(tmp_path, small_folder):
    runs = tmp_path / "runs"
    out = run_cli("--path", str(small_folder), "--TYPE", "train", "--epochs", "2",
                  "--runs_dir", str(runs), *TINY)
    run = runs / "00000-faces"
    assert f"run {run}" in out.stdout and "; model gan, arch skip; balance margin" in out.stdout
    # --precision auto (--no-xla): fp32 and bf16 timed (fp32 alone under an ISA cap), or read
    # from the cache, and the choice named with its measured reason in the start-up line
    assert re.search(r"; (fp32|bf16) \([^;]*(faster than|as fast as) (bf16|fp32)[^;]*, measured "
                     r"on this CPU\); strategy none", out.stdout) or \
        hardware.bf16_blocked() and "; fp32 (the only setting open, measured on this CPU; bf16 " \
        "left out" in out.stdout, out.stdout
    for name in ("config.json", "losses.csv", "losses.png", "samples/epoch_0000.png",
                 "samples/epoch_0002.png",
                 "checkpoints/index.json", "checkpoints/epoch_0002/ckpt.index"):
        assert (run / name).is_file(), name
    # A small set's epochs are short: by default grids come every ~2,000 images, and the last
    assert not (run / "samples/epoch_0001.png").exists()
    assert "both" in out.stderr and "G-only" in out.stderr  # the per-epoch decision counts
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["path"] == str(small_folder.resolve())

    shutil.rmtree(small_folder)  # generating needs neither the data nor D
    out = run_cli("--TYPE", "generate", "--img_num", "5", "--runs_dir", str(runs),
                  "--seed", "7")
    folder = run / "generated" / "0000"
    assert f"wrote 5 images and grid.png to {folder}" in out.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["grid.png"] + [
        f"img_{i:04d}.png" for i in range(5)]
    image = cv2.imread(str(folder / "img_0000.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (32, 32, 3)
    run_cli("--TYPE", "generate", "--img_num", "5", "--runs_dir", str(runs), "--seed", "7")
    again = cv2.imread(str(run / "generated" / "0001" / "img_0000.png"), cv2.IMREAD_UNCHANGED)
    assert (again == image).all()  # same seed, same image; and a new folder, not overwritten

    bad = run_cli("--resume", "--runs_dir", str(runs), "--lr_d", "0.1", check=False)
    assert bad.returncode == 2 and "conflicts" in bad.stderr
    copy_demo_images(small_folder)  # resuming needs the data
    run_cli("--resume", "--epochs", "3", "--runs_dir", str(runs))
    assert (run / "samples" / "epoch_0003.png").is_file()
    assert json.loads((run / "config.json").read_text())["epochs"] == 3
    rows = (run / "losses.csv").read_text().splitlines()
    assert rows[-1].startswith("3,") and len(rows) == 1 + 3 * 2  # 40 images, batches of 16


def test_max_minutes_ends_a_run_with_its_pictures_and_both_next_commands(tmp_path,
                                                                         small_folder):
    runs = tmp_path / "runs"
    out = run_cli("--path", str(small_folder), "--epochs", "500", "--max_minutes", "0.001",
                  "--precision", "fp32", "--runs_dir", str(runs), *TINY)
    run = runs / "00000-faces"
    assert "stopped after --max_minutes 0.001 with" in out.stdout
    assert f"timelapse.gif and checkpoints are in {run}" in out.stdout
    assert ("generate with: python train.py --TYPE generate --run 00000-faces --runs_dir "
            f"{runs}; train on with: python train.py --TYPE train --resume 00000-faces "
            f"--runs_dir {runs}") in out.stdout
    assert (run / "timelapse.gif").is_file()


def test_existing_run_name_is_refused_and_kept(tmp_path, small_folder):
    runs = tmp_path / "runs"
    (runs / "mine").mkdir(parents=True)
    (runs / "mine" / "keep.txt").write_text("precious")
    result = run_cli("--path", str(small_folder), "--name", "mine", "--runs_dir", str(runs),
                     *TINY, check=False)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (runs / "mine" / "keep.txt").read_text() == "precious"


def test_ctrl_c_saves_and_exits_130(tmp_path, small_folder):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(TRAIN + ["--path", str(small_folder), "--epochs", "500",
                                     "--runs_dir", str(runs), *TINY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv_path = runs / "00000-faces" / "losses.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (
            not csv_path.exists() or len(csv_path.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "resume with: python train.py --TYPE train --resume 00000-faces" in err
    index = json.loads((runs / "00000-faces" / "checkpoints" / "index.json").read_text())
    assert index["latest"] is not None
    assert f"(checkpoint {index['latest']})" in err  # the one it saved, named


@pytest.mark.parametrize("default_runs_dir", [False, True])
def test_ctrl_c_while_measuring_the_step_names_the_resume_command(monkeypatch, capsys,
                                                                    tmp_path, small_folder,
                                                                    default_runs_dir):
    import gan.cli

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(gan.cli, "_speed_choice", interrupted)
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    given = [] if default_runs_dir else ["--runs_dir", str(runs)]
    assert main(["--path", str(small_folder), *given, *TINY]) == 130
    err = capsys.readouterr().err
    # --runs_dir is named only where it is not the default
    assert "interrupted before the first training step; resume with: python train.py " \
        "--TYPE train --resume 00000-faces" + (f" --runs_dir {runs}" * (not default_runs_dir)) \
        + "\n" in err
    assert (runs / "00000-faces" / "config.json").is_file()  # the run it names exists


def test_generate_refuses_bad_out_and_broken_checkpoints(capsys, tmp_path):
    from gan.checkpoints import CheckpointStore
    from gan.config import TrainConfig
    from gan.model import GAN
    config = TrainConfig(img_size=32, width=8, latent_dim=16, xla=False)
    run = tmp_path / "r"
    run.mkdir()
    config.save(run / "config.json")
    CheckpointStore(run / "checkpoints", **GAN(config).trackables()).save("epoch_0001", {})
    runs = ["--TYPE", "generate", "--runs_dir", str(tmp_path)]
    (tmp_path / "file.png").write_text("x")
    assert "not an empty folder" in error_line(capsys, runs + ["--out", str(tmp_path / "file.png")])
    assert "--checkpoint epoch_0009: no checkpoint there" in error_line(
        capsys, runs + ["--checkpoint", "epoch_0009"])
    data = next((run / "checkpoints" / "epoch_0001").glob("ckpt.data*"))
    data.write_bytes(data.read_bytes()[:100])  # truncated
    assert "could not be loaded" in error_line(capsys, runs)
    other = TrainConfig(img_size=64, width=8, latent_dim=16)  # another architecture
    other.save(run / "config.json")
    assert "could not be loaded" in error_line(capsys, runs)


def test_readme_documents_every_flag():
    from gan.cli import build_parser
    readme = (ROOT / "README.md").read_text()
    flags = [opt for action in build_parser()._actions for opt in action.option_strings
             if opt.startswith("--") and opt not in ("--help", "--type")]
    missing = [f for f in flags if f"`{f}" not in readme and f"{f}`" not in readme
               and f"/ `{f}" not in readme]
    assert not missing, f"README lacks {missing}"


def test_resume_without_more_epochs_is_refused(capsys, tmp_path):
    run = tmp_path / "r"
    (run / "checkpoints" / "epoch_0003").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": 3, "path": str(tmp_path)}))
    (run / "checkpoints" / "index.json").write_text(json.dumps({"latest": "epoch_0003"}))
    (run / "checkpoints" / "epoch_0003" / "state.json").write_text(
        json.dumps({"progress": {"epoch": 3, "batch": 0, "step": 9, "seconds": 1.0}}))
    for name in ("ckpt.index", "ckpt.data-00000-of-00001"):  # a complete checkpoint's files
        (run / "checkpoints" / "epoch_0003" / name).write_bytes(b"")
    line = error_line(capsys, ["--resume", "r", "--epochs", "3", "--runs_dir", str(tmp_path)])
    assert "already trained 3 epochs" in line


def test_disk_full_at_a_save_gives_one_line_and_keeps_the_last_checkpoint(
        capsys, tmp_path, small_folder, monkeypatch):
    import tensorflow as tf
    write = tf.train.Checkpoint.write
    calls = []

    def fill_up(self, prefix, *args, **kwargs):  # the start, epoch 1, then the disk is full
        calls.append(prefix)
        if len(calls) > 2:
            raise tf.errors.ResourceExhaustedError(None, None, (  # as TensorFlow words it
                "{{function_node __wrapped__SaveV2_dtypes_10_device_/job:localhost/replica:0/"
                "task:0/device:CPU:0}} ckpt_temp/part-00000.tempstate1; No space left on device "
                "[Op:SaveV2]"))
        return write(self, prefix, *args, **kwargs)
    monkeypatch.setattr(tf.train.Checkpoint, "write", fill_up)
    runs = tmp_path / "runs"
    argv = ["--path", str(small_folder), "--epochs", "3", "--runs_dir", str(runs),
            "--eval_every", "0", "--sample_every", "1", *TINY]  # a save every epoch
    assert main(argv) == 1
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.strip() and not line.startswith("epoch ")]  # not the progress bars
    assert len(err) == 1 and err[0].startswith("error: could not write checkpoint"), err
    assert "No space left on device" in err[0] and "epoch_0001, is intact" in err[0]
    assert "{{" not in err[0] and "[Op:" not in err[0]  # not TensorFlow's internals
    checkpoints = runs / "00000-faces" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_0001", "index.json"]
    monkeypatch.setattr(tf.train.Checkpoint, "write", write)
    assert main(["--resume", "--runs_dir", str(runs)]) == 0  # and the run goes on


def test_unwritable_runs_dir_is_a_usage_error(capsys, tmp_path, small_folder):
    (tmp_path / "file").write_text("not a folder")
    line = error_line(capsys, ["--path", str(small_folder), "--runs_dir",
                               str(tmp_path / "file" / "runs"), *TINY])
    assert "choose a writable folder with --runs_dir" in line
    assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("argv, flag", [
    (["--TYPE", "train", "--format", "keras"], "--format"),
    (["--TYPE", "check", "--runs_dir", "x"], "--runs_dir"),
    (["--TYPE", "generate", "--frames", "3"], "--frames"),
    (["--TYPE", "evaluate", "--truncation", "0.5"], "--truncation"),
    (["--TYPE", "timelapse", "--seeds", "1"], "--seeds"),
    (["--TYPE", "export", "--format", "keras", "--img_num", "4"], "--img_num"),
    (["--TYPE", "interpolate", "--seeds", "1,2", "--epochs", "4"], "--epochs"),
])
def test_every_type_refuses_flags_it_would_ignore(capsys, argv, flag):
    line = error_line(capsys, argv)
    assert f"{flag} has no effect with --TYPE {argv[1]}" in line


def test_grayscale_trains_generates_and_evaluates_in_one_channel(tmp_path, capsys):
    gray = tmp_path / "gray"
    gray.mkdir()
    for path in sorted((ROOT / "data" / "demo-faces").glob("*.png"))[:24]:
        image = cv2.imread(str(path))
        cv2.imwrite(str(gray / path.name), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    runs = ["--runs_dir", str(tmp_path / "runs")]
    assert main(["--path", str(gray), "--epochs", "2", "--eval_every", "1", *TINY] + runs) == 0
    assert "every image is gray; --channels 1" in capsys.readouterr().out  # suggested
    assert main(["--path", str(gray), "--channels", "1", "--epochs", "2", "--eval_every", "1",
                 "--name", "gray1", *TINY] + runs) == 0
    out = tmp_path / "generated"
    assert main(["--TYPE", "generate", "--run", "gray1", "--img_num", "3", "--seed", "0",
                 "--out", str(out)] + runs) == 0
    picture = cv2.imread(str(out / "img_0000.png"), cv2.IMREAD_UNCHANGED)
    assert picture.shape == (32, 32)  # one channel on disk
    assert main(["--TYPE", "evaluate", "--run", "gray1", "--img_num", "8", "--json"] + runs) == 0
    assert '"kd"' in capsys.readouterr().out


@pytest.mark.parametrize("option", [
    ["--loss", "hinge"], ["--loss", "wgan-gp"], ["--augment", "color,translation,cutout"],
    ["--ema_kimg", "1.5"]] + [
    # every rule also trains in tests/test_training.py: these CLI runs are slow (-m slow)
    pytest.param(["--balance", rule], marks=pytest.mark.slow)
    for rule in ("simultaneous", "alternate", "threshold", "ratio")])
def test_each_option_trains_an_epoch_of_real_faces_and_generates(tmp_path, faces_400, option):
    runs = ["--runs_dir", str(tmp_path / "runs")]
    assert main(["--path", str(faces_400), "--epochs", "1", *TINY, *option] + runs) == 0
    saved = json.loads(next((tmp_path / "runs").glob("*/config.json")).read_text())
    assert str(saved[option[0][2:]]) == option[1]
    out = tmp_path / "generated"
    assert main(["--TYPE", "generate", "--img_num", "4", "--out", str(out)] + runs) == 0
    pictures = [cv2.imread(str(out / f"img_{i:04d}.png")) for i in range(4)]
    assert all(p.shape == (32, 32, 3) for p in pictures) and np.std(pictures) > 1


def class_folders(root, faces_400, per_class=16):
    """root/color/ (real faces) and root/gray/ (other faces in gray): two classes."""
    files = sorted(faces_400.glob("*.jpg"))
    for k, name in enumerate(("color", "gray")):
        (root / name).mkdir(parents=True)
        for path in files[k * per_class:(k + 1) * per_class]:
            image = cv2.imread(str(path))
            if name == "gray":
                image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(root / name / path.name), image)
    return root


def test_conditional_trains_on_class_subfolders_and_generates_each_class(tmp_path, faces_400,
                                                                       capsys):
    data = class_folders(tmp_path / "data", faces_400)
    runs = ["--runs_dir", str(tmp_path / "runs")]
    assert main(["--path", str(data), "--conditional", "--epochs", "1", "--loss", "hinge",
                 *TINY] + runs) == 0
    assert "conditional: 2 classes: color (16), gray (16)" in capsys.readouterr().out
    run = next((tmp_path / "runs").glob("*-data"))
    assert json.loads((run / "classes.json").read_text())["classes"] == ["color", "gray"]
    out = tmp_path / "all"
    assert main(["--TYPE", "generate", "--img_num", "3", "--seed", "0", "--out", str(out)]
                + runs) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "color/img_0000.png", "color/img_0001.png", "color/img_0002.png", "gray/img_0000.png",
        "gray/img_0001.png", "gray/img_0002.png", "grid.png"]
    assert cv2.imread(str(out / "grid.png")).shape[:2] == (2 * 34 + 2, 3 * 34 + 2)  # a row each
    one = tmp_path / "gray_only"
    assert main(["--TYPE", "generate", "--img_num", "3", "--seed", "0", "--label", "gray",
                 "--out", str(one)] + runs) == 0
    np.testing.assert_array_equal(cv2.imread(str(one / "img_0000.png")),
                                  cv2.imread(str(out / "gray" / "img_0000.png")))
    assert not np.array_equal(cv2.imread(str(out / "color" / "img_0000.png")),
                              cv2.imread(str(out / "gray" / "img_0000.png")))
    assert "--label dogs: not a class of this run; its classes are color, gray" in error_line(
        capsys, ["--TYPE", "generate", "--label", "dogs"] + runs)
    assert main(["--TYPE", "interpolate", "--seeds", "1,2", "--frames", "4", "--label", "gray",
                 "--out", str(tmp_path / "walk")] + runs) == 0
    assert main(["--TYPE", "export", "--format", "onnx", "--out", str(tmp_path / "onnx")]
                + runs) == 0
    import onnxruntime
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "generator.onnx"))
    pictures = session.run(None, {"z": np.zeros((2, 32), np.float32),
                                  "label": np.array([0, 1], np.int32)})[0]
    assert pictures.shape == (2, 32, 32, 3) and not np.allclose(pictures[0], pictures[1])


def test_conditional_refuses_loose_images_one_class_and_changed_classes(tmp_path, faces_400,
                                                                       capsys):
    data = class_folders(tmp_path / "data", faces_400, per_class=8)
    runs = ["--runs_dir", str(tmp_path / "runs")]
    shutil.copy(next((data / "color").iterdir()), data / "loose.jpg")
    assert "1 images lie directly in --path" in error_line(
        capsys, ["--path", str(data), "--conditional"] + runs)
    (data / "loose.jpg").unlink()
    shutil.copytree(data / "gray", tmp_path / "one" / "gray")
    assert "needs at least two class subfolders" in error_line(
        capsys, ["--path", str(tmp_path / "one"), "--conditional"] + runs)
    assert not (tmp_path / "runs").exists() or not any(
        p for p in (tmp_path / "runs").iterdir() if p.name != ".cache")
    assert main(["--path", str(data), "--conditional", "--epochs", "1", *TINY] + runs) == 0
    capsys.readouterr()
    (data / "gray").rename(data / "grey")
    assert "now has the classes color, grey" in error_line(
        capsys, ["--resume", "--epochs", "2"] + runs)
