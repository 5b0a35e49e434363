import os

import pytest

from gan.cli import explain
from gan.errors import RunExists, UsageError
from gan.runs import Run


def test_numbered_names_never_reuse_a_folder(tmp_path):
    assert Run.create(tmp_path, None, "faces").name == "00000-faces"
    (tmp_path / "00007-old").mkdir()
    assert Run.create(tmp_path, None, "my faces!").name == "00008-my-faces"


def test_existing_name_is_refused(tmp_path):
    Run.create(tmp_path, "mine", "x")
    with pytest.raises(RunExists, match="already exists") as caught:
        Run.create(tmp_path, "mine", "x")
    assert "continue it with --resume mine or choose another --name" in explain(caught.value)
    with pytest.raises(UsageError, match="plain folder name"):
        Run.create(tmp_path, "a/b", "x")


def test_find_run_picks_latest_or_named(tmp_path):
    for i, name in enumerate(["00000-a", "zz-custom", "00001-b"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        os.utime(tmp_path / name / "config.json", ns=(i * 10**9, i * 10**9))
    (tmp_path / "00005-no-config").mkdir()  # not a run
    assert Run.find(tmp_path, None).name == "00001-b"
    assert Run.find(tmp_path, "zz-custom").name == "zz-custom"
    with pytest.raises(UsageError, match="no such run.*00000-a"):
        Run.find(tmp_path, "00005-no-config")
    for i in range(2, 6):
        (tmp_path / f"0000{i}-c").mkdir()
        (tmp_path / f"0000{i}-c" / "config.json").write_text("{}")
    with pytest.raises(UsageError, match="runs there: .*zz-custom and 2 older"):
        Run.find(tmp_path, "nope")


def test_no_runs_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no training runs"):
        Run.find(tmp_path / "nothing", None)


def test_run_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path):
    import subprocess
    with Run(tmp_path).lock():
        assert (tmp_path / "lock").read_text() == str(os.getpid())
        with pytest.raises(UsageError, match="in use by process"):
            Run(tmp_path).lock().__enter__()
    assert not (tmp_path / "lock").exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "lock").write_text(str(dead.pid))
    with Run(tmp_path).lock():
        assert (tmp_path / "lock").read_text() == str(os.getpid())


def test_low_disk_warning(tmp_path, capsys):
    from gan.runs import warn_if_low_disk
    warn_if_low_disk(tmp_path, needed_bytes=2**62)
    assert "MB free" in capsys.readouterr().err
    warn_if_low_disk(tmp_path, needed_bytes=1)
    assert capsys.readouterr().err == ""


def test_run_owns_the_layout_of_a_run_folder(tmp_path):
    run = Run.create(tmp_path, None, "faces")
    assert run.config_file == run.folder / "config.json"
    assert run.sample_grid("epoch_0003") == run.folder / "samples" / "epoch_0003.png"
    assert [run.output_dir().name, run.output_dir("exported").name] == ["0000", "0000"]
    (run.folder / "generated" / "0000").mkdir()
    assert run.output_dir().name == "0001"
    run.save_classes(["cats", "dogs"])
    assert Run(run.folder).load_classes() == ["cats", "dogs"]
    run.record_skipped(["a.jpg"])
    assert run.skipped_list.read_text() == "a.jpg\n"
    with pytest.raises(UsageError, match="not a run folder"):
        run.load_config()
