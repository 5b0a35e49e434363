import os

import pytest

from gan.errors import UsageError
from gan.runs import find_run, new_run_dir


def test_numbered_names_never_reuse_a_folder(tmp_path):
    assert new_run_dir(tmp_path, None, "faces").name == "00000-faces"
    (tmp_path / "00007-old").mkdir()
    assert new_run_dir(tmp_path, None, "my faces!").name == "00008-my-faces"


def test_existing_name_is_refused(tmp_path):
    new_run_dir(tmp_path, "mine", "x")
    with pytest.raises(UsageError, match="already exists.*--resume mine"):
        new_run_dir(tmp_path, "mine", "x")
    with pytest.raises(UsageError, match="plain folder name"):
        new_run_dir(tmp_path, "a/b", "x")


def test_find_run_picks_latest_or_named(tmp_path):
    for i, name in enumerate(["00000-a", "zz-custom", "00001-b"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        os.utime(tmp_path / name / "config.json", ns=(i * 10**9, i * 10**9))
    (tmp_path / "00005-no-config").mkdir()  # not a run
    assert find_run(tmp_path, None).name == "00001-b"
    assert find_run(tmp_path, "zz-custom").name == "zz-custom"
    with pytest.raises(UsageError, match="no such run.*00000-a"):
        find_run(tmp_path, "00005-no-config")
    for i in range(2, 6):
        (tmp_path / f"0000{i}-c").mkdir()
        (tmp_path / f"0000{i}-c" / "config.json").write_text("{}")
    with pytest.raises(UsageError, match="runs there: .*zz-custom and 2 older"):
        find_run(tmp_path, "nope")


def test_no_runs_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no training runs"):
        find_run(tmp_path / "nothing", None)


def test_run_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path):
    import subprocess
    from gan.runs import RunLock
    with RunLock(tmp_path):
        assert (tmp_path / "lock").read_text() == str(os.getpid())
        with pytest.raises(UsageError, match="in use by process"):
            RunLock(tmp_path).__enter__()
    assert not (tmp_path / "lock").exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "lock").write_text(str(dead.pid))
    with RunLock(tmp_path):
        assert (tmp_path / "lock").read_text() == str(os.getpid())


def test_low_disk_warning(tmp_path, capsys):
    from gan.runs import warn_if_low_disk
    warn_if_low_disk(tmp_path, needed_bytes=2**62)
    assert "MB free" in capsys.readouterr().err
    warn_if_low_disk(tmp_path, needed_bytes=1)
    assert capsys.readouterr().err == ""
