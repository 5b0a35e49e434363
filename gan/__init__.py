"""dcgan-margin: a DCGAN trainer with margin-gated G/D balance (see README.md).

Public API: `load_generator(run_dir, checkpoint="latest")` -> gan.generate.Generator.
Imported lazily, so `import gan` loads neither TensorFlow nor any training code.
"""


def __getattr__(name):
    if name == "load_generator":
        from gan.generate import load_generator
        return load_generator
    raise AttributeError(f"module 'gan' has no attribute {name!r}")
