"""Damaged run folders, resumes that must not start over, and paths TensorFlow reads as
patterns: each case runs the command line in-process on a copy of one tiny trained run."""
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from gan.cli import main
from test_cli import TINY, copy_demo_images

RUN = "r"
CHECKPOINTS = ("epoch_0001", "epoch_0002", "epoch_0003")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """runs/r: 3 epochs on 16 images, a kept checkpoint and a sample grid after each."""
    root = tmp_path_factory.mktemp("trained")
    data = copy_demo_images(root / "faces", n=16)
    assert main(["--path", str(data), "--epochs", "3", "--runs_dir", str(root / "runs"),
                 "--name", RUN, "--save_every", "1", "--sample_every", "1", "--eval_every",
                 "0", *TINY]) == 0
    checkpoints = root / "runs" / RUN / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("epoch_*")) == list(CHECKPOINTS)
    return root


@pytest.fixture
def runs(trained, tmp_path):
    """A copy of the trained runs folder (data cache included) of this test's own."""
    shutil.copytree(trained / "runs", tmp_path / "runs", symlinks=True)
    return tmp_path / "runs"


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"half": data[:len(data) // 2], "empty": b"",
                      "garbage": bytes(range(256)) * 3}[how])


def snapshot(folder: Path) -> dict:
    """Every file under `folder` with its modification time and content hash."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, argv) -> str:
    """Run the CLI; assert exit 2 with one error line and no traceback; return the line."""
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def warned(capsys, argv) -> tuple[str, str]:
    """Run the CLI; assert exit 0; return stdout and stderr (its warnings)."""
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out, captured.err


def generate(runs, out, *extra):
    return ["--TYPE", "generate", "--img_num", "2", "--out", str(out), "--runs_dir", str(runs),
            *extra]


HOWS = ("half", "empty", "garbage")


@pytest.mark.parametrize("how", HOWS)
def test_a_damaged_config_json_is_one_line_for_every_command(capsys, runs, tmp_path, how):
    damage(runs / RUN / "config.json", how)
    before = snapshot(runs / RUN)
    commands = [generate(runs, tmp_path / "g"),
                ["--TYPE", "interpolate", "--seeds", "1,2", "--frames", "2", "--out",
                 str(tmp_path / "i"), "--runs_dir", str(runs)],
                ["--TYPE", "export", "--format", "keras", "--out", str(tmp_path / "e"),
                 "--runs_dir", str(runs)],
                ["--TYPE", "evaluate", "--img_num", "8", "--runs_dir", str(runs)],
                ["--resume", "--epochs", "4", "--runs_dir", str(runs)]]
    for argv in commands:
        line = refused(capsys, argv)
        assert f"{runs / RUN / 'config.json'} is damaged" in line and "restore it" in line
    assert snapshot(runs / RUN) == before
    assert not any((tmp_path / name).exists() for name in "gie")


@pytest.mark.parametrize("how", HOWS)
def test_a_damaged_index_is_rebuilt_from_the_checkpoint_folders(capsys, runs, tmp_path, how):
    damage(runs / RUN / "checkpoints" / "index.json", how)
    before = snapshot(runs / RUN)
    _, err = warned(capsys, generate(runs, tmp_path / "g"))
    assert err.count("index.json is damaged; using the checkpoint folders instead (latest: "
                     "epoch_0003)") == 1
    assert (tmp_path / "g" / "grid.png").exists() and snapshot(runs / RUN) == before


def test_resume_rewrites_a_damaged_index_and_keeps_every_checkpoint(capsys, runs):
    damage(runs / RUN / "checkpoints" / "index.json", "half")
    out, err = warned(capsys, ["--resume", "--epochs", "4", "--runs_dir", str(runs)])
    assert "index.json is damaged" in err and "resuming at epoch 4 (step" in out
    index = json.loads((runs / RUN / "checkpoints" / "index.json").read_text())
    assert index["latest"] == "epoch_0004"  # rewritten whole; the older ones all kept
    assert set(CHECKPOINTS) <= {p.name for p in (runs / RUN / "checkpoints").iterdir()}


@pytest.mark.parametrize("file, how", [
    ("state.json", "half"), ("state.json", "garbage"), ("ckpt.index", "empty"),
    ("ckpt.index", "garbage"), ("ckpt.data-00000-of-00001", "half"),
    ("ckpt.data-00000-of-00001", "empty")])
def test_a_damaged_checkpoint_falls_back_or_is_named(capsys, runs, tmp_path, file, how):
    latest = runs / RUN / "checkpoints" / "epoch_0003"
    damage(latest / file, how)
    # --checkpoint latest goes on with the newest readable one, saying so
    out, err = warned(capsys, generate(runs, tmp_path / "g"))
    assert f"{latest}/" in err and "is damaged" in err and "instead of epoch_0003" in err
    assert "wrote 2 images" in out
    # by name it is refused, naming the file
    before = snapshot(runs / RUN)
    line = refused(capsys, generate(runs, tmp_path / "g2", "--checkpoint", "epoch_0003"))
    assert f"{latest}/" in line and "is damaged" in line and "--checkpoint" in line
    line = refused(capsys, ["--TYPE", "export", "--format", "keras", "--checkpoint",
                            "epoch_0003", "--out", str(tmp_path / "e"), "--runs_dir", str(runs)])
    assert "is damaged" in line
    assert snapshot(runs / RUN) == before and not (tmp_path / "g2").exists()


@pytest.mark.slow
def test_resume_falls_back_to_an_older_checkpoint_with_a_warning(capsys, runs):
    damage(runs / RUN / "checkpoints" / "epoch_0003" / "ckpt.data-00000-of-00001", "half")
    out, err = warned(capsys, ["--resume", "--epochs", "4", "--runs_dir", str(runs)])
    assert "instead of epoch_0003" in err
    assert "resuming at epoch 3 (step" in out


def test_damaged_logs_and_cache_are_left_out_with_a_warning(capsys, runs):
    damage(runs / RUN / "losses.csv", "half")
    damage(next((runs / ".cache").glob("*.npy")), "garbage")
    damage(runs / RUN / "samples" / "epoch_0002.png", "empty")
    _, err = warned(capsys, ["--TYPE", "timelapse", "--runs_dir", str(runs)])
    assert "left out 1 damaged sample grids" in err
    _, err = warned(capsys, ["--resume", "--epochs", "4", "--runs_dir", str(runs)])
    assert "image cache" in err and "is damaged; decoding the images again" in err
    assert "losses.csv: 1 damaged rows left out" in err
    rows = (runs / RUN / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,") and all(r.count(",") == 7 for r in rows)
    assert [r.split(",")[1] for r in rows[1:]] == ["4"]  # rows 1-3 were in the damaged half
    np_files = list((runs / ".cache").glob("*.npy"))
    assert len(np_files) == 1 and np_files[0].stat().st_size > 1000  # rebuilt


@pytest.mark.parametrize("how", HOWS)
def test_loss_rows_of_a_damaged_losses_csv(trained, tmp_path, capsys, how):
    from gan.losslog import read_loss_rows
    path = tmp_path / "losses.csv"
    shutil.copy(trained / "runs" / RUN / "losses.csv", path)
    damage(path, how)
    rows = read_loss_rows(path)
    assert rows == []  # half: the header and the first row cut short
    assert ("damaged rows left out" in capsys.readouterr().err) == (how != "empty")


def test_json_lines_keep_their_complete_rows(tmp_path, capsys):
    from gan.files import append_json_line, read_json_lines
    path = tmp_path / "metrics.jsonl"
    append_json_line(path, {"step": 1})
    append_json_line(path, {"step": 2})
    path.write_bytes(path.read_bytes()[:-5])  # the second line cut
    append_json_line(path, {"step": 3})
    assert read_json_lines(path) == [{"step": 1}, {"step": 3}]
    assert "1 damaged lines left out" in capsys.readouterr().err


@pytest.mark.parametrize("how", HOWS)
def test_a_damaged_classes_json_is_one_line(capsys, runs, tmp_path, how):
    (runs / RUN / "classes.json").write_text('{"classes": ["a", "b"]}\n')
    damage(runs / RUN / "classes.json", how)
    line = refused(capsys, generate(runs, tmp_path / "g"))
    assert "classes.json is damaged" in line


# -- resume never starts over -------------------------------------------------------------

@pytest.mark.parametrize("loss", ["folder", "all_state", "all_data"])
def test_resume_refuses_a_trained_run_without_a_readable_checkpoint(capsys, runs, loss):
    checkpoints = runs / RUN / "checkpoints"
    if loss == "folder":
        shutil.rmtree(checkpoints)
    for name in CHECKPOINTS if loss != "folder" else ():
        damage(checkpoints / name / ("state.json" if loss == "all_state" else
                                     "ckpt.data-00000-of-00001"), "half")
    before = snapshot(runs / RUN)
    line = refused(capsys, ["--resume", "--epochs", "4", "--runs_dir", str(runs)])
    assert "resume" in line and "new run" in line
    if loss != "all_data":
        assert "it has trained" in line
        assert ("checkpoints/ folder is gone" if loss == "folder" else
                "no complete, readable checkpoint") in line
    else:
        assert "no readable checkpoint" in line and "could not be loaded" in line
    assert snapshot(runs / RUN) == before


@pytest.mark.slow
def test_a_run_stopped_before_its_first_checkpoint_restarts_and_says_so(capsys, runs):
    run = runs / RUN
    for name in ("checkpoints", "samples"):
        shutil.rmtree(run / name)
    (run / "losses.csv").unlink()
    assert main(["--resume", "--epochs", "1", "--runs_dir", str(runs)]) == 0
    assert "stopped before its first checkpoint and training step: starting it again" in \
        capsys.readouterr().out
    assert (run / "checkpoints" / "epoch_0001").is_dir()


# -- paths with [ ] * ? ---------------------------------------------------------------------

def test_a_run_under_a_pattern_folder_generates(capsys, trained, tmp_path):
    runs = tmp_path / "runs[1]*?"
    shutil.copytree(trained / "runs", runs)
    assert main(generate(runs, tmp_path / "out[2]*?")) == 0
    assert (tmp_path / "out[2]*?" / "grid.png").exists()


@pytest.mark.slow
def test_runs_dir_run_name_and_out_with_pattern_characters(capsys, trained, tmp_path):
    runs = tmp_path / "runs[1]*?"
    data = copy_demo_images(tmp_path / "faces [a]*?", n=16)
    base = ["--runs_dir", str(runs)]
    assert main(["--path", str(data), "--epochs", "1", "--name", "r[0]?", "--eval_every", "0",
                 *TINY] + base) == 0
    out = capsys.readouterr().out
    assert f"--runs_dir '{runs}'" in out  # the printed command pastes into a shell
    assert main(generate(runs, tmp_path / "out[2]*", "--run", "r[0]?")) == 0
    assert len(list((tmp_path / "out[2]*").iterdir())) == 3
    assert main(["--resume", "r[0]?", "--epochs", "2"] + base) == 0
    assert "resuming at epoch 2" in capsys.readouterr().out
    for fmt in ("keras", "savedmodel"):
        out_dir = tmp_path / f"export[{fmt}]?"
        assert main(["--TYPE", "export", "--format", fmt, "--out", str(out_dir)] + base) == 0
        assert (out_dir / "generator.json").exists()
    import keras
    model = keras.models.load_model(tmp_path / "export[keras]?" / "generator.keras")
    assert model.output_shape[1:] == (32, 32, 3)
    assert (tmp_path / "export[savedmodel]?" / "generator_savedmodel" / "saved_model.pb").exists()
