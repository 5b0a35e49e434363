"""dcgan-margin: a DCGAN trainer with margin-gated G/D balance (see README.md).

Public API: `load_generator(run_dir, checkpoint="latest")` -> gan.generate.Generator.
Imported lazily, so `import gan` loads neither TensorFlow nor any training code.

Where each concept lives:

    configuration   config (TrainConfig: every hyper-parameter, saved as config.json)
    variants        balance (balance rules), losses (adversarial losses), networks
                    (architectures), models (GAN or VAE-GAN): one registry
                    each; a variant is one object owning its flags, defaults and checks
    the algorithm   model (GAN: networks, optimizers, the compiled step), vaegan (its
                    encoder), augment + ada (DiffAugment and its adaptive strength),
                    training (Trainer, its TrainingState, the loop and its epoch-end Schedule)
    a run's files   runs (Run: the folder's layout, creation, lookup, lock), checkpoints,
                    losslog (losses.csv), health, summaries (TensorBoard), files (readers)
    data            data (reading and caching a folder of images), preflight (--TYPE check)
    speed           hardware (precision, XLA), autotune (measured choice), distribute
    scoring         metrics, features (the KD/FD feature network), evaluate
    outputs         generate (Generator), projection + encode (real photos into the latent
                    space), animate, export, images
    command line    cli (the only module that words errors as flags and commands), quiet
"""


def __getattr__(name):
    if name == "load_generator":
        from gan.generate import load_generator
        return load_generator
    raise AttributeError(f"module 'gan' has no attribute {name!r}")
