"""Exporting a run's generator alone, for use outside this tool.

    keras       generator.keras            keras.models.load_model(path)(latents)
    savedmodel  generator_savedmodel/      tf.saved_model.load(path).serve(latents)
    tflite      generator.tflite           tf.lite.Interpreter(model_path=path)
    onnx        generator.onnx             onnxruntime.InferenceSession(path), input "z"

A conditional run's generator takes a second input, int32 (N,) class labels ("label" in
ONNX); generator.json lists the class names in label order.

Each export folder also holds generator.json: the format version, the run's configuration,
the checkpoint, and the input and output: float32 latents (N, latent_dim) from N(0, I) in,
float32 images (N, S, S, C) in [-1, 1] out (uint8 = round((x + 1) * 127.5)).
ONNX is converted by tf2onnx (opset 17) from the model's inference function.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
FILES = {"keras": "generator.keras", "savedmodel": "generator_savedmodel",
         "tflite": "generator.tflite", "onnx": "generator.onnx"}


def export(generator, fmt: str, out_dir: Path) -> Path:
    """Write `generator` (a gan.generate.Generator) in format `fmt` into `out_dir`, with
    generator.json beside it; returns the exported file's (or folder's) path."""
    from gan.config import FORMAT_VERSION

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILES[fmt]
    model = generator.model
    if fmt == "keras":
        model.save(path)
    elif fmt == "savedmodel":
        model.export(str(path), format="tf_saved_model", verbose=False)
    elif fmt == "tflite":
        path.write_bytes(_tflite_bytes(model))
    else:
        path.write_bytes(_onnx_bytes(model, conditional=bool(generator.classes)))
    meta = {"format_version": FORMAT_VERSION, "format": fmt, "file": path.name,
            "checkpoint": str(generator.folder), "config": dataclasses.asdict(generator.config),
            "input": f"float32 (N, {generator.config.latent_dim}) latents from N(0, I)",
            "output": f"float32 (N, {', '.join(map(str, model.output_shape[1:]))}) in [-1, 1]"}
    if generator.classes:
        meta["labels"] = "int32 (N,) class indices, the second input"
        meta["classes"] = generator.classes
    (out_dir / "generator.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def _tflite_bytes(model) -> bytes:
    # from_keras_model: converting a tf.function of the model instead gave NaN outputs
    # (TF 2.21); this one matches Keras to 1e-9 and accepts any batch size after
    # Interpreter.resize_tensor_input.
    import contextlib
    import io

    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its temporary files
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _onnx_bytes(model, conditional: bool) -> bytes:
    import tensorflow as tf
    import tf2onnx

    latent_dim = model.input_shape[0][-1] if conditional else model.input_shape[-1]
    spec = (tf.TensorSpec((None, latent_dim), tf.float32, name="z"),)
    if conditional:
        spec += (tf.TensorSpec((None,), tf.int32, name="label"),)
    serve = tf.function(lambda *inputs: model(list(inputs) if conditional else inputs[0],
                                              training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=17)
    return proto.SerializeToString()
