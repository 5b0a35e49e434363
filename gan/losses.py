"""The adversarial losses: --loss bce (default), hinge, wgan-gp. Each is a `Loss` object in
`LOSSES`, computing a pair of scalar float32 losses from D's logits (D's raw scores: no
sigmoid), and telling the rest of the tool what it needs to know: its one-line description
for --help, the flags that act only with it, the defaults it changes, and whether its losses
are in nats, its logits' signs mean real or fake, and R1 may be added.

bce       Goodfellow et al. 2014, with the non-saturating G loss -log D(G(z)); optional
          one-sided label smoothing (Salimans et al. 2016).
hinge     Lim & Ye 2017 / Miyato et al. 2018: D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],
          G: -E[D(G(z))].
wgan-gp   Gulrajani et al. 2017: the critic D estimates the Wasserstein distance,
          D: E[D(G(z))] - E[D(x)] + gp_weight * E[(|grad D(x_hat)| - 1)^2] on random points
          x_hat between real and fake images, G: -E[D(G(z))].

The balance controllers compare losses in nats of binary cross-entropy, near ln 2 ~ 0.69
when D cannot tell real from fake: `Loss.compared` measures them from the logits whatever loss
trains the networks, so the margin means the same with bce and hinge. A WGAN critic's scores
have no such scale (adding a constant changes nothing), so with wgan-gp the controllers see
the Wasserstein losses and the rules that need nats are refused (gan/config.py).

TensorFlow is imported inside the functions that compute, not at the top: gan/config.py reads
the registry, and loading it must not load TensorFlow (`import gan` stays light, and the
command line sets TensorFlow's log level before it loads).
"""
from __future__ import annotations


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """Mean BCE over the real and the fake samples together (a scalar, float32).

    Real images are labelled 1 - label_smoothing (one-sided smoothing), fakes 0.
    """
    import tensorflow as tf
    real = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(real_logits), 1.0 - label_smoothing), logits=real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(fake_logits), logits=fake_logits)
    return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))


def generator_loss(fake_logits):
    """The non-saturating generator loss, -log D(G(z)), averaged (a scalar, float32)."""
    import tensorflow as tf
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.ones_like(fake_logits), logits=fake_logits))


def hinge_discriminator_loss(real_logits, fake_logits):
    import tensorflow as tf
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + \
        tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """The critic's loss without its gradient penalty: E[D(G(z))] - E[D(x)]."""
    import tensorflow as tf
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def score_generator_loss(fake_logits):
    """G's loss for hinge and wgan-gp: -E[D(G(z))]."""
    import tensorflow as tf
    return -tf.reduce_mean(fake_logits)


def gradient_penalty(critic, real, fake, mix):
    """E[(|grad_x D(x_hat)|_2 - 1)^2] at x_hat = mix * real + (1 - mix) * fake.

    critic: images -> scores (B, 1); real, fake: float32 (B, S, S, C); mix: float32
    (B, 1, 1, 1) from U(0, 1).
    """
    import tensorflow as tf
    x_hat = mix * real + (1.0 - mix) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = tf.cast(critic(x_hat), tf.float32)
    grads = tf.cast(tape.gradient(scores, x_hat), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(tape, real_logits, real):
    """R1 (Mescheder et al. 2018): E[|grad_x D(x)|_2^2] over the real images x D scored,
    a float32 scalar; D's loss adds r1_gamma / 2 times it (StyleGAN2-ADA's form).

    tape: a GradientTape that watched `real`, float32 (B, S, S, C), while D computed
    `real_logits` (B, 1) from it; called inside the tape of D's loss, so that the penalty
    is differentiated too (a double backward pass).
    """
    import tensorflow as tf
    grads = tf.cast(tape.gradient(real_logits, real), tf.float32)  # of the logits' sum
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))


class Loss:
    """One --loss: its `name`; a one-line `description` for --help; the config `flags` that
    act only with it; the `defaults` it changes for the flags not given; whether the losses
    it reports (`compared`) are cross-entropies in nats (`in_nats`: the margin and threshold
    rules and the health report's loss values need that); whether the sign of D's logits
    says real or fake (`signs_meaningful`: adaptive augmentation reads it); why R1 may not be
    added to it (`r1_refusal`, None where it may); and `scores`, what D outputs, in words,
    for messages."""
    name: str
    description: str
    flags: tuple[str, ...] = ()
    defaults: dict = {}
    in_nats = False
    signs_meaningful = True
    r1_refusal: str | None = None
    scores = "D's logits"

    @property
    def allows_r1(self) -> bool:
        return self.r1_refusal is None

    def losses(self, real_logits, fake_logits, config):
        """(loss_G, loss_D) that train the networks, scalar float32, from D's logits
        (B, 1) on real and fake images; `config` is the run's TrainConfig."""
        raise NotImplementedError

    def penalty(self, discriminate, real, fake, seed, config):
        """A term D's loss adds (float32 scalar, or 0.0 for none), computed from
        `discriminate` (images -> logits), the real and fake images and a stateless
        random `seed` (2,)."""
        return 0.0

    def compared(self, real_logits, fake_logits, loss_g, loss_d):
        """The (loss_G, loss_D) the balance controllers and the health report read, given
        the training losses with D's penalty: those, unless the loss measures others."""
        return loss_g, loss_d


class BinaryCrossEntropy(Loss):
    name, description = "bce", "binary cross-entropy"
    flags = ("label_smoothing",)
    in_nats = True

    def losses(self, real_logits, fake_logits, config):
        return generator_loss(fake_logits), discriminator_loss(real_logits, fake_logits,
                                                               config.label_smoothing)


class Hinge(Loss):
    name, description = "hinge", ""
    in_nats = True  # what it compares

    def losses(self, real_logits, fake_logits, config):
        return score_generator_loss(fake_logits), hinge_discriminator_loss(real_logits,
                                                                           fake_logits)

    def compared(self, real_logits, fake_logits, loss_g, loss_d):
        """Binary cross-entropies in nats measured from the logits (module docstring)."""
        return generator_loss(fake_logits), discriminator_loss(real_logits, fake_logits)


class WassersteinGP(Loss):
    name, description = "wgan-gp", "Wasserstein critic with gradient penalty"
    flags = ("gp_weight",)
    # WGAN-GP's own recipe (Gulrajani et al. 2017, Algorithm 1: 5 critic steps per G step,
    # Adam lr 1e-4, beta1 0, beta2 0.9), and no augmentation, or no adaptive one, which reads
    # the sign of D's logits (a critic's has no meaning).
    defaults = {"balance": "ratio", "d_steps": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0,
                "beta2": 0.9, "augment": "", "ada_target": 0.0}
    signs_meaningful = False
    r1_refusal = "WGAN-GP has its own gradient penalty (--gp_weight)"
    scores = "a WGAN critic's scores"

    def losses(self, real_logits, fake_logits, config):
        return score_generator_loss(fake_logits), wasserstein_discriminator_loss(real_logits,
                                                                                 fake_logits)

    def penalty(self, discriminate, real, fake, seed, config):
        import tensorflow as tf
        mix = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], seed)
        return config.gp_weight * gradient_penalty(discriminate, real, fake, mix)


# --loss's choices, in the order --help lists them.
LOSSES = {loss.name: loss for loss in (BinaryCrossEntropy(), Hinge(), WassersteinGP())}
