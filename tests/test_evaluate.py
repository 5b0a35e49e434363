import dataclasses
import json

import numpy as np

from gan.cli import main
from gan.training import train
from test_cli import copy_demo_images
from test_training import tiny_images


def test_training_scores_checkpoints_and_keeps_the_best(tmp_path, tiny_config, capsys):
    config = dataclasses.replace(tiny_config, epochs=2, eval_every=1, save_every=100)
    assert train(config, tmp_path, tiny_images(n=32)).exit_code == 0
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert all(np.isfinite(r["kd"]) and "collapse" in r for r in lines)
    index = json.loads((tmp_path / "checkpoints" / "index.json").read_text())
    best = min(lines, key=lambda r: r["kd"])
    assert index["best"] == best["checkpoint"] and index["best_kd"] == best["kd"]
    assert (tmp_path / "checkpoints" / index["best"] / "ckpt.index").exists()
    assert "KD" in capsys.readouterr().out  # tqdm.write prints to stdout


def test_evaluate_folders_prints_one_json_object(tmp_path, capsys):
    both = copy_demo_images(tmp_path / "all", n=80)
    train_dir, held_out, fake = tmp_path / "train", tmp_path / "held_out", tmp_path / "fake"
    for folder in (train_dir, held_out, fake):
        folder.mkdir()
    for i, p in enumerate(sorted(both.iterdir())):
        (train_dir if i % 2 else held_out).joinpath(p.name).write_bytes(p.read_bytes())
        if i % 2 and i < 32:  # copies of training images
            (fake / p.name).write_bytes(p.read_bytes())
    argv = ["--TYPE", "evaluate", "--images", str(fake), "--path", str(held_out), "--train",
            str(train_dir), "--json", "--img_size", "32", "--runs_dir", str(tmp_path / "runs")]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    for key in ("kd", "kd_std", "fd", "precision", "recall", "density", "coverage", "swd",
                "diversity", "collapse", "memorisation_ratio"):
        assert key in result, key
    assert result["memorisation_ratio"] < 0.5  # they are copies


def test_resumed_training_remembers_the_last_evaluation(tmp_path, tiny_config):
    from gan.evaluate import TrainingEvaluation
    rows = [{"epoch": 10, "step": 60, "kd": 0.5, "collapse": False, "diversity": 0.6},
            {"epoch": 20, "step": 120, "kd": 0.4, "collapse": True, "diversity": 0.3}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluation = TrainingEvaluation(tmp_path, None, tiny_images(n=8), tiny_config)
    assert evaluation.last["collapse"] and evaluation.warned  # health stays "collapsing"
    assert evaluation.history == [(60, 0.5), (120, 0.4)]


class BestStore:
    """The part of gan.checkpoints.CheckpointStore that TrainingEvaluation uses."""

    def __init__(self):
        self.best = {}

    def index(self) -> dict:
        return self.best

    def mark_best(self, name: str, kd: float) -> None:
        self.best = {"best": name, "best_kd": kd}


def test_the_collapse_warning_comes_once_and_advises_only_what_the_rates_call_for(
        tmp_path, tiny_config, monkeypatch):
    from gan.evaluate import TrainingEvaluation, TrainingScorer
    evaluation = TrainingEvaluation(tmp_path, BestStore(), tiny_images(n=8), tiny_config)
    for lr_g, advice in ((tiny_config.lr_d, False), (5e-3, True)):
        evaluation.config = dataclasses.replace(tiny_config, lr_g=lr_g)
        evaluation.rule, evaluation.warned = type(evaluation.rule)(), False
        texts = []
        for i, level in enumerate((0.3, 0.05, 0.04, 0.03)):  # a check every 3,200 images
            monkeypatch.setattr(TrainingScorer, "__call__", lambda self, sample, level=level: {
                "kd": 0.5, "kd_std": 0.01, "diversity": level, "nn_ratio": level})
            texts.append(evaluation(i + 1, 400 * (i + 1), f"epoch_{i + 1:04d}", None))
        assert ["warning" in t for t in texts] == [False, False, True, False]
        assert ("--lr_g 0.005 is above --lr_d" in texts[2]) == advice
        assert "--balance" not in texts[2] and "--margin" not in texts[2]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["collapse"] for r in rows[:4]] == [False, False, True, True]


def test_evaluate_errors(tmp_path, capsys):
    runs = ["--runs_dir", str(tmp_path)]
    assert main(["--TYPE", "evaluate", "--images", str(tmp_path / "nope"), "--path",
                 str(tmp_path)] + runs) == 2
    assert "--images " in capsys.readouterr().err  # names the flag that is wrong
    assert main(["--TYPE", "evaluate", "--images", str(tmp_path)] + runs) == 2
    assert "--images needs --path" in capsys.readouterr().err
    assert main(["--TYPE", "evaluate", "--epochs", "3"] + runs) == 2
    assert "no effect with --TYPE evaluate" in capsys.readouterr().err
    assert main(["--TYPE", "evaluate"] + runs) == 2
    assert "no training runs" in capsys.readouterr().err


def test_training_scorer_embeds_a_fixed_subset_of_a_large_training_set():
    from gan.evaluate import TrainingScorer
    images = tiny_images(n=40)
    a = TrainingScorer(images, latent_dim=16, num_fake=8, max_real=10)
    b = TrainingScorer(images, latent_dim=16, num_fake=8, max_real=10)
    assert a.real_features.shape == (10, 1280)
    np.testing.assert_array_equal(a.real_features, b.real_features)
    assert len(TrainingScorer(images[:6], latent_dim=16, num_fake=8,
                              max_real=10).real_features) == 6
