"""`pip install .`: the pins agree with requirements.txt, and the installed package (command,
API, bundled demo set) works from a folder outside the repository."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _requirement_lines(text: str) -> set[str]:
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return {re.sub(r"\s+", " ", line) for line in lines if line}


def test_pyproject_pins_what_requirements_txt_pins():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    assert {re.sub(r"\s+", " ", p) for p in pinned} == _requirement_lines(
        (ROOT / "requirements.txt").read_text())
    assert project["scripts"]["dcgan-margin"] == "gan.cli:main"


@pytest.mark.slow
def test_installed_package_works_from_another_folder(tmp_path):
    # --no-build-isolation builds with this environment's setuptools (and wheel, which
    # setuptools before 70.1 needs), so that nothing is downloaded.
    pytest.importorskip("setuptools", reason="building the package needs setuptools")
    if importlib.util.find_spec("wheel") is None and importlib.util.find_spec(
            "setuptools.command.bdist_wheel") is None:
        pytest.skip("building the package needs wheel (or setuptools >= 70.1)")
    # Build from a copy, so the build leaves no build/ or *.egg-info in the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache", "venv", ".venv",
        ".ci"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    # The test's own environment (TensorFlow and the rest) is visible to the new one behind
    # its own site-packages, so nothing is downloaded; `gan` must come from the install.
    new_site = subprocess.run([str(python), "-c", "import sysconfig; "
                               "print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    Path(new_site, "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", str(source)], check=True)

    elsewhere = tmp_path / "elsewhere"
    photos = elsewhere / "photos"
    photos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            photos / f"{k}.png")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"

    def run(*args):
        return subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=600)

    command = str(bin_dir / "dcgan-margin")
    trained = run(command, "--TYPE", "train", "--path", "photos", "--epochs", "1",
                  "--img_size", "32", "--width", "8", "--no-xla", "--runs_dir", "runs")
    assert trained.returncode == 0, trained.stderr[-3000:]
    (run_folder,) = (p for p in (elsewhere / "runs").iterdir() if not p.name.startswith("."))
    assert (run_folder / "config.json").is_file()

    refused = run(command, "--TYPE", "train", "--path", "no_such_folder")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("error: ")

    api = run(str(python), "-c", (
        "import sys, gan\n"
        "from gan import load_generator\n"
        "from gan.data import DEMO_PATH\n"
        "assert gan.__file__.startswith(sys.prefix), gan.__file__\n"
        "assert DEMO_PATH.is_dir() and str(DEMO_PATH).startswith(sys.prefix), DEMO_PATH\n"
        "assert any(p.suffix == '.png' for p in DEMO_PATH.iterdir())\n"
        f"images = load_generator({str(run_folder)!r}).generate(seeds=[1, 2])\n"
        "assert images.shape == (2, 32, 32, 3) and images.dtype.name == 'uint8'\n"))
    assert api.returncode == 0, api.stderr[-3000:]
