"""The --model choices: what is trained around the generator. Each is a `ModelKind` in
`MODELS`, owning its name, its one-line description for --help, the config flags that act
only with it, what it cannot be combined with, and how to build it (gan/model.py,
gan/vaegan.py). TensorFlow is imported only when a model is built: gan/config.py reads
this registry.
"""
from __future__ import annotations


class ModelKind:
    """One --model: `name`, `description`, its own `flags`, `refusal(config)` (why it cannot
    train this configuration, in words naming flags, or None), `build`, and `encode` (how a
    trained run puts real images into its latent space), and `encoder_means` when it has an
    encoder of its own (None when it has not)."""
    name: str
    description: str
    flags: tuple[str, ...] = ()
    encoder_means = None

    def refusal(self, config) -> str | None:
        return None

    def build(self, config, channels: int, strategy=None, num_classes: int = 0):
        """The model object (a gan.model.GAN) for `config`, in `strategy`'s scope."""
        raise NotImplementedError

    def encode(self, generator, images_uint8, steps: int):
        """float32 (N, latent_dim) latents of uint8 images (N, S, S, C) for a trained run's
        gan.generate.Generator: by optimisation (gan.projection), `steps` Adam steps."""
        from gan.projection import project
        return project(generator.model, images_uint8, steps).latents


class PlainGAN(ModelKind):
    name, description = "gan", "generator and discriminator"

    def build(self, config, channels: int, strategy=None, num_classes: int = 0):
        from gan.model import GAN
        return GAN(config, channels, strategy, num_classes)


class VAEGANKind(ModelKind):
    name = "vaegan"
    description = ("adds an encoder, G doubles as its decoder (Larsen et al. 2016), so real "
                   "photos can be encoded")
    flags = ("kl_weight", "recon_weight")

    def refusal(self, config) -> str | None:
        given = [flag for flag, on in (("--conditional", config.conditional),
                                       ("--loss wgan-gp", config.loss == "wgan-gp"),
                                       ("--r1_gamma", config.r1_gamma)) if on]
        if given:
            return (f"--model vaegan trains unconditional GANs with --loss bce or hinge and no "
                    f"--r1_gamma: remove {given[0]}")
        return None

    def build(self, config, channels: int, strategy=None, num_classes: int = 0):
        from gan.vaegan import VAEGAN
        return VAEGAN(config, channels, strategy, num_classes)

    def encode(self, generator, images_uint8, steps: int):
        """The encoder's means, refined by `steps` steps of projection: the means alone are
        far from the prior's typical norm early in a run, and G draws them near-black."""
        from gan.projection import project
        means = self.encoder_means(generator, images_uint8)
        return project(generator.model, images_uint8, steps, initial=means).latents

    @staticmethod
    def encoder_means(generator, images_uint8):
        """float32 (N, latent_dim): the run's encoder's means of uint8 images (N, S, S, C)."""
        from gan.vaegan import load_encoder
        encoder = load_encoder(generator.config, generator.folder)
        return encoder.predict_on_batch(images_uint8.astype("float32") / 127.5 - 1.0)[0]


# --model's choices, in the order --help lists them.
MODELS = {kind.name: kind for kind in (PlainGAN(), VAEGANKind())}
