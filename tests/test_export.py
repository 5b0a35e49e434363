import json

import numpy as np
import pytest
import tensorflow as tf

from gan import images
from gan.cli import main
from gan.export import FORMATS


def run_exported(fmt: str, path, latents: np.ndarray) -> np.ndarray:
    """uint8 images from an exported generator, loaded the way a user would load it."""
    if fmt == "keras":
        import keras
        out = keras.models.load_model(path)(latents, training=False)
    elif fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))  # held: its variables die with it
        out = loaded.serve(tf.constant(latents))
    elif fmt == "onnx":
        import onnxruntime
        out = onnxruntime.InferenceSession(str(path)).run(None, {"z": latents})[0]
    else:
        interpreter = tf.lite.Interpreter(model_path=str(path))
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, latents.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, latents)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return images.to_uint8(out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_generator_gives_the_same_pixels(run_dir, fmt, capsys):
    from gan import load_generator
    out = run_dir.parent / f"export-{fmt}"
    assert main(["--TYPE", "export", "--format", fmt, "--out", str(out), "--runs_dir",
                 str(run_dir.parent)]) == 0
    meta = json.loads((out / "generator.json").read_text())
    assert meta["format_version"] == 1 and meta["config"]["img_size"] == 32
    generator = load_generator(run_dir)
    latents = generator.latents([1, 2, 3, 4])
    expected = generator.from_latents(latents)
    got = run_exported(fmt, out / meta["file"], latents)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2


def test_export_needs_a_format_and_a_new_folder(run_dir, capsys):
    runs = ["--TYPE", "export", "--runs_dir", str(run_dir.parent)]
    assert main(runs) == 2
    assert "needs --format" in capsys.readouterr().err
    taken = run_dir.parent / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    assert main(runs + ["--format", "keras", "--out", str(taken)]) == 2
    assert (taken / "mine.txt").read_text() == "keep"


def test_a_run_from_a_newer_format_is_refused_with_one_line(run_dir, capsys):
    config = json.loads((run_dir / "config.json").read_text())
    config["format_version"] = 99
    (run_dir / "config.json").write_text(json.dumps(config))
    assert main(["--TYPE", "generate", "--runs_dir", str(run_dir.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "format 99" in err[0] and "reads format 1" in err[0]


def test_a_checkpoint_from_a_newer_format_is_refused(run_dir):
    from gan import load_generator
    from gan.errors import UsageError
    state = next((run_dir / "checkpoints").glob("epoch_*")) / "state.json"
    state.write_text(json.dumps({"format_version": 2}))
    with pytest.raises(UsageError, match="format 2"):
        load_generator(run_dir)
