"""losses.csv: one row per training batch, its reader, and the per-epoch totals that the
progress bar, the health report and TensorBoard show."""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gan import images
from gan.balance import Decision
from gan.errors import printable

CSV_FIELDS = ("epoch", "step", "loss_g", "loss_d", "decision", "d_real", "d_fake", "seconds")


@dataclass
class EpochStats:
    """Running totals of one epoch's batches, for the progress bar and the health report."""
    counts: dict = field(default_factory=lambda: {d.value: 0 for d in Decision})
    gap_sum: float = 0.0     # sum of |loss_G - loss_D|
    loss_g_sum: float = 0.0
    loss_d_sum: float = 0.0
    loss_g: float = 0.0      # the last batch's
    loss_d: float = 0.0

    @property
    def batches(self) -> int:
        return sum(self.counts.values())

    def __add__(self, later: "EpochStats") -> "EpochStats":
        """The totals of both; the last batch's losses are `later`'s."""
        return EpochStats({k: n + later.counts[k] for k, n in self.counts.items()},
                          self.gap_sum + later.gap_sum, self.loss_g_sum + later.loss_g_sum,
                          self.loss_d_sum + later.loss_d_sum, later.loss_g, later.loss_d)


def read_loss_rows(path: Path) -> list[dict]:
    """The rows of losses.csv ([] when it does not exist), "epoch" and "step" as int; damaged
    rows are left out with one warning that counts them."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        text = f.read().replace("\0", "")
    lines = text.splitlines()
    # A header that is not ours, and a last row without its newline (cut short), are damaged.
    cut = len(lines) > 1 and not text.endswith("\n")
    rows, damaged = [], int(bool(lines) and lines[0].split(",") != list(CSV_FIELDS)) + cut
    if cut:
        lines.pop()
    for row in csv.DictReader(lines[1:], fieldnames=CSV_FIELDS):
        try:
            row["epoch"], row["step"] = int(row["epoch"]), int(row["step"])
            float(row["loss_g"]), float(row["loss_d"]), float(row["seconds"])
            Decision(row["decision"])
            if None in row or None in row.values():
                raise ValueError("wrong number of fields")
        except (TypeError, ValueError):
            damaged += 1
            continue
        rows.append(row)
    if damaged:
        print(f"warning: {printable(str(path))}: {damaged} damaged rows left out of the loss "
              "history", file=sys.stderr)
    return rows


class LossLog:
    """losses.csv, one row per batch, plus the in-memory history the plot is drawn from.

    On resume, rows after the checkpoint's step (work lost since it was saved) are dropped,
    and damaged rows (a crash cuts the last one) are left out with a warning.
    """

    def __init__(self, path: Path, keep_steps: int):
        self.rows = [r for r in read_loss_rows(path) if r["step"] <= keep_steps]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(self.rows)
        self.file.flush()
        self._epoch_stats: dict[int, EpochStats] = {}
        for r in self.rows:
            self._count(r["epoch"], r["decision"], float(r["loss_g"]), float(r["loss_d"]))

    def append(self, epoch: int, step: int, loss_g: float, loss_d: float, decision: str,
               d_real: float, d_fake: float, seconds: float) -> None:
        row = {"epoch": epoch, "step": step, "loss_g": f"{loss_g:.5f}",
               "loss_d": f"{loss_d:.5f}", "decision": decision, "d_real": f"{d_real:.4f}",
               "d_fake": f"{d_fake:.4f}", "seconds": f"{seconds:.3f}"}
        self.rows.append(row)
        self.writer.writerow(row)
        self._count(epoch, decision, loss_g, loss_d)

    def _count(self, epoch: int, decision: str, loss_g: float, loss_d: float) -> None:
        stats = self._epoch_stats.setdefault(epoch, EpochStats())
        stats.counts[decision] += 1
        stats.gap_sum += abs(loss_g - loss_d)
        stats.loss_g_sum += loss_g
        stats.loss_d_sum += loss_d
        stats.loss_g, stats.loss_d = loss_g, loss_d

    def epoch_summary(self, epoch: int) -> str:
        """Last losses, the decision counts and the mean |loss_G - loss_D| of `epoch`."""
        stats = self._epoch_stats[epoch]
        return (f"loss_G {stats.loss_g:.3f} loss_D {stats.loss_d:.3f} | both "
                f"{stats.counts['both']} G-only {stats.counts['g_only']} D-only "
                f"{stats.counts['d_only']} | mean|gap| {stats.gap_sum / stats.batches:.3f}")

    def stats(self, epochs: range) -> EpochStats:
        """The totals over `epochs` (those with batches logged)."""
        return sum((self._epoch_stats[e] for e in epochs if e in self._epoch_stats),
                   EpochStats())

    def plot(self, path: Path, kd_points: list[tuple[int, float]]) -> None:
        """Redraw losses.png; `kd_points` are (step, KD) pairs from evaluations."""
        history = {key: [r[key] for r in self.rows] for key in ("loss_g", "loss_d", "decision")}
        ends = [i + 1 for i in range(len(self.rows) - 1)
                if self.rows[i]["epoch"] != self.rows[i + 1]["epoch"]] + [len(self.rows)]
        images.plot_losses(history, path, ends, kd_points)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()
