"""A plain-language health report of a training run, one row per sample grid.

Plain Python, no TensorFlow. The rules, checked in this order, the first that holds wins:

| status | when |
|---|---|
| diverged | a loss became non-finite since the previous row and the run was rolled back |
| collapsing | `CollapseRule` held at the last evaluation: samples near-copies of each other at two consecutive evaluations |
| D winning | G was updated alone in >= 50% of the batches since the previous row (margin or threshold balance), or the mean loss_D < 0.1 while the mean loss_G > 3 (D rejects the fakes with certainty) |
| G winning | D was updated alone in >= 50% of the batches (margin or threshold balance), or the mean loss_D > 1.0 while the mean loss_G < 0.5 |
| learning | none of the above |

The shares count only where a controller reacts to the losses (a fixed schedule such as
--balance ratio updates D alone by design); the loss values count only where they are
cross-entropies in nats (not --loss wgan-gp).

Thresholds: ln 2 = 0.69 is the loss of a D that cannot tell real from fake; loss_D = 0.1 means
D gives real images ~0.9 and fakes ~0.1 on average; a share of 50% means the controller had to
hold one network back in most batches.
"""
from __future__ import annotations

from pathlib import Path

from gan.balance import BALANCE_RULES
from gan.files import append_json_line
from gan.losses import LOSSES

ONE_SIDED_SHARE = 0.5
D_WINS = (0.1, 3.0)   # mean loss_D below, mean loss_G above
G_WINS = (1.0, 0.5)   # mean loss_D above, mean loss_G below


def assess(counts: dict, loss_g: float, loss_d: float, collapse: bool | None = None,
           diversity: float | None = None, rolled_back: bool = False,
           balance: str = "margin", loss: str = "bce") -> tuple[str, str]:
    """(status, sentence) for the batches since the previous assessment.

    counts: batches per decision {"both", "g_only", "d_only"}; loss_g, loss_d: their
    mean losses the controller compared; collapse, diversity: from the latest evaluation, if
    any; balance, loss: the run's --balance and --loss.
    """
    batches = max(sum(counts.values()), 1)
    g_only, d_only = counts.get("g_only", 0) / batches, counts.get("d_only", 0) / batches
    if not BALANCE_RULES[balance].reacts_to_losses:
        g_only = d_only = 0.0
    if not LOSSES[loss].in_nats:  # the value rules below are in nats
        d_wins = g_wins = False
    else:
        d_wins = loss_d < D_WINS[0] and loss_g > D_WINS[1]
        g_wins = loss_d > G_WINS[0] and loss_g < G_WINS[1]
    if rolled_back:
        return "diverged", "diverged (non-finite loss), rolled back to the last checkpoint"
    if collapse:
        return "collapsing", ("samples losing variety"
                              + (f" (diversity {diversity:.2f} of real)" if diversity else ""))
    if g_only >= ONE_SIDED_SHARE or d_wins:
        return "D winning", (f"D is winning (G updated alone in {g_only:.0%} of batches, "
                             f"loss_D {loss_d:.2f}, loss_G {loss_g:.2f})")
    if d_only >= ONE_SIDED_SHARE or g_wins:
        return "G winning", (f"G is winning (D updated alone in {d_only:.0%} of batches, "
                             f"loss_D {loss_d:.2f}, loss_G {loss_g:.2f})")
    return "learning", f"learning (loss_D {loss_d:.2f}, loss_G {loss_g:.2f})"


def record(path: Path, epoch: int, step: int, status: str, sentence: str,
           augment_p: float | None = None) -> str:
    """Append one row to health.jsonl (with `augment_p`, adaptive augmentation's probability,
    when there is one); returns the line to print."""
    row = {"epoch": epoch, "step": step, "status": status, "sentence": sentence}
    if augment_p is not None:
        row["augment_p"] = round(augment_p, 4)
        sentence += f"; augmentation p {augment_p:.2f}"
    append_json_line(path, row)  # a line cut by a crash stays alone in its damage
    return f"epoch {epoch}: {sentence}"


# Collapse of generated samples, calibrated by benchmarks/collapse_calibration.py on healthy
# and forced-collapse runs (docs/health-calibration.md). A check's diversity and nn_ratio
# (gan.metrics.diversity_stats: spread of 256 samples relative to the training images) start
# low in every run (0.13-0.2 at 2,000 images) and rise in a healthy one; under forced
# collapse they fall below 0.11 by the second check and stay there.
COLLAPSE_LEVEL = 0.15      # a check is low when diversity or nn_ratio is below this
COLLAPSE_CHECKS = 2        # consecutive low checks for a verdict
COLLAPSE_WARMUP = 3_000    # images seen before any verdict


class CollapseRule:
    """Mode-collapse verdicts along one run, fed its evaluations in order.

    A verdict needs COLLAPSE_CHECKS consecutive checks with diversity or nn_ratio below
    COLLAPSE_LEVEL, the last at COLLAPSE_WARMUP images seen or later.
    """

    def __init__(self):
        self.low_checks = 0

    def update(self, images: int, diversity: float, nn_ratio: float | None = None) -> bool:
        """Add one evaluation (images seen so far, its diversity and nn_ratio, floats; None
        where an older metrics.jsonl lacks it); True when the samples have collapsed."""
        level = diversity if nn_ratio is None else min(diversity, nn_ratio)
        self.low_checks = self.low_checks + 1 if level < COLLAPSE_LEVEL else 0
        return images >= COLLAPSE_WARMUP and self.low_checks >= COLLAPSE_CHECKS
