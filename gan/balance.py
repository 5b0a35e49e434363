"""Balance controllers: which network to update on the next batch.

Plain Python with no TensorFlow, so the rule is easy to test and to replace. The training loop
asks `decide(loss_g, loss_d)` before every batch, passing the losses measured on the previous
batch (both are computed in one forward pass, before that batch's update), or None for the
first batch of a run. The answer selects one of three compiled training steps.

Both losses are binary cross-entropies in nats (except with a loss whose scores have no such
scale, gan/losses.py): loss_D is the mean over the discriminator's real and fake samples,
loss_G the non-saturating generator loss, so both sit near ln 2 ~ 0.69 at equilibrium and
their difference is meaningful.

Each rule is one class, registered in `BALANCE_RULES` under its --balance name; the command
line's choices and help, the flags that act only with a rule, its start-up summary and the
refusal of rules that need nats all come from the class (gan/config.py, gan/cli.py).
"""
from __future__ import annotations

import enum


class Decision(str, enum.Enum):
    """Which networks a training step updates; the value is what losses.csv records."""
    BOTH = "both"
    G_ONLY = "g_only"
    D_ONLY = "d_only"

    @property
    def description(self) -> str:
        """How people read the value: "G and D", "G-only", "D-only"."""
        return {"both": "G and D", "g_only": "G-only", "d_only": "D-only"}[self.value]

    @property
    def updates_g(self) -> bool:
        return self is not Decision.D_ONLY

    @property
    def updates_d(self) -> bool:
        return self is not Decision.G_ONLY


class BalanceRule:
    """What the rest of the tool knows of a rule: its --balance `name`, a one-line
    `description` for --help, the config `flags` that act only with it (its constructor's
    arguments, in order), whether it compares the losses' values in nats (`needs_nats`) and
    whether it reacts to the losses at all (`reacts_to_losses`: a fixed schedule does not)."""
    name: str
    description: str
    flags: tuple[str, ...] = ()
    needs_nats = False
    reacts_to_losses = False

    @classmethod
    def from_config(cls, config) -> "BalanceRule":
        """The controller with its settings from `config` (a TrainConfig)."""
        return cls(*(getattr(config, flag) for flag in cls.flags))

    @classmethod
    def describe(cls, config) -> str:
        """Its settings in `config`, for the start-up line: "margin 0.5, max_skip 2, ..."
        ("" when it has none)."""
        return ", ".join(f"{flag} {_number(getattr(config, flag))}" for flag in cls.flags)


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Stateless:
    """A controller whose decision depends on the latest losses only: nothing to save."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _Counting:
    """A controller that follows a fixed schedule: it saves how many batches it has seen."""

    def __init__(self):
        self.batches = 0

    def state_dict(self) -> dict:
        return {"batches": self.batches}

    def load_state_dict(self, state: dict) -> None:
        self.batches = state["batches"]


class SimultaneousController(BalanceRule, _Stateless):
    """The textbook GAN step: update both networks on every batch."""
    name, description = "simultaneous", "both every batch"

    def decide(self, loss_g: float | None, loss_d: float | None) -> Decision:
        return Decision.BOTH


class MarginController(BalanceRule):
    """Margin-gated alternation: keep |loss_G - loss_D| within a margin e.

    If loss_D - loss_G > e the discriminator is losing, so only D is updated; if
    loss_G - loss_D > e only G is updated; otherwise both are. Neither network is skipped more
    than `max_skip` consecutive batches: when the rule would skip it once more, both are
    updated instead (the 2016 original's unbounded catch-up loops could run forever).

    Args:
        margin: e, in nats, >= 0.
        max_skip: largest number of consecutive batches a network may be skipped, >= 1.
        loss_ema: weight of the past in an exponential moving average of the losses the rule
            compares; 0 compares the last batch's losses only.
    """
    name = "margin"
    description = "update only the network that is behind when |loss_G - loss_D| > --margin"
    flags = ("margin", "max_skip", "loss_ema")
    needs_nats = reacts_to_losses = True

    def __init__(self, margin: float, max_skip: int, loss_ema: float = 0.0):
        self.margin = margin
        self.max_skip = max_skip
        self.loss_ema = loss_ema
        self.avg_g: float | None = None
        self.avg_d: float | None = None
        self.skipped_g = 0  # consecutive batches without a G update
        self.skipped_d = 0

    def decide(self, loss_g: float | None, loss_d: float | None) -> Decision:
        if loss_g is not None and loss_d is not None:
            self._average(loss_g, loss_d)
        decision = self._rule()
        if decision is Decision.D_ONLY and self.skipped_g >= self.max_skip:
            decision = Decision.BOTH
        if decision is Decision.G_ONLY and self.skipped_d >= self.max_skip:
            decision = Decision.BOTH
        self.skipped_g = 0 if decision.updates_g else self.skipped_g + 1
        self.skipped_d = 0 if decision.updates_d else self.skipped_d + 1
        return decision

    def _average(self, loss_g: float, loss_d: float) -> None:
        if self.avg_g is None:
            self.avg_g, self.avg_d = loss_g, loss_d
        else:
            k = self.loss_ema
            self.avg_g = k * self.avg_g + (1 - k) * loss_g
            self.avg_d = k * self.avg_d + (1 - k) * loss_d

    def _rule(self) -> Decision:
        if self.avg_g is None:
            return Decision.BOTH
        gap = self.avg_g - self.avg_d
        if gap > self.margin:
            return Decision.G_ONLY
        if -gap > self.margin:
            return Decision.D_ONLY
        return Decision.BOTH

    def state_dict(self) -> dict:
        return {"avg_g": self.avg_g, "avg_d": self.avg_d,
                "skipped_g": self.skipped_g, "skipped_d": self.skipped_d}

    def load_state_dict(self, state: dict) -> None:
        self.avg_g, self.avg_d = state["avg_g"], state["avg_d"]
        self.skipped_g, self.skipped_d = state["skipped_g"], state["skipped_d"]


class AlternateController(BalanceRule, _Counting):
    """Strict alternation, D then G, one network per batch."""
    name, description = "alternate", "D, G, D, G ..."

    def decide(self, loss_g: float | None, loss_d: float | None) -> Decision:
        self.batches += 1
        return Decision.D_ONLY if self.batches % 2 else Decision.G_ONLY


class ThresholdController(BalanceRule, _Stateless):
    """Skip D's update while the last batch's loss_D is below `d_threshold` nats (the GAN
    courses' rule: a discriminator that is already sure of itself waits for G)."""
    name, description = "threshold", "skip D while loss_D < --d_threshold"
    flags = ("d_threshold",)
    needs_nats = reacts_to_losses = True

    def __init__(self, d_threshold: float):
        self.d_threshold = d_threshold

    def decide(self, loss_g: float | None, loss_d: float | None) -> Decision:
        if loss_d is not None and loss_d < self.d_threshold:
            return Decision.G_ONLY
        return Decision.BOTH


class RatioController(BalanceRule, _Counting):
    """`d_steps` D updates per G update, as WGAN trains its critic: d_steps - 1 batches
    update D only, then one batch updates both."""
    name, description = "ratio", "--d_steps D updates per G update"
    flags = ("d_steps",)

    def __init__(self, d_steps: int):
        super().__init__()
        self.d_steps = d_steps

    def decide(self, loss_g: float | None, loss_d: float | None) -> Decision:
        self.batches += 1
        return Decision.BOTH if self.batches % self.d_steps == 0 else Decision.D_ONLY


# --balance's choices, in the order --help lists them.
BALANCE_RULES = {rule.name: rule for rule in (MarginController, SimultaneousController,
                                              AlternateController, ThresholdController,
                                              RatioController)}


def make_controller(config) -> BalanceRule:
    """The controller named by `config.balance` (a TrainConfig), with its settings."""
    return BALANCE_RULES[config.balance].from_config(config)
