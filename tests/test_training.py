import json
import dataclasses
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from gan import images
from gan.balance import Decision
from gan.model import GAN
from gan.training import train


def tiny_images(n=24, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# XLA compiling the three steps takes ~40 s: slow (-m slow).
@pytest.mark.parametrize("xla", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_three_compiled_steps_trace_once_each_over_100_mixed_decisions(tiny_config, xla):
    gan = GAN(dataclasses.replace(tiny_config, xla=xla))
    rng = np.random.default_rng(0)
    decisions = list(Decision)
    for i in range(100):
        size = 8 if i % 7 or xla else 5  # other sizes must not retrace (XLA would recompile)
        gan.step(tf.random.uniform((size, 32, 32, 3), -1, 1), tf.random.normal((size, 16)),
                 decisions[rng.integers(3)])
    assert gan.traces == 3


@pytest.mark.parametrize("decision", list(Decision))
def test_step_updates_only_the_chosen_networks(tiny_config, decision):
    gan = GAN(tiny_config)
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    out = gan.step(tf.random.uniform((8, 32, 32, 3), -1, 1), tf.random.normal((8, 16)),
                   decision)
    changed = lambda before, model: any(  # noqa: E731
        not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    assert changed(g_before, gan.generator) == decision.updates_g
    assert changed(d_before, gan.discriminator) == decision.updates_d
    loss_g, loss_d, d_real, d_fake, real_sign = out
    assert 0.3 < loss_g < 1.5 and 0.3 < loss_d < 1.5  # near ln 2 at initialisation
    assert 0 < d_real < 1 and 0 < d_fake < 1 and -1 <= real_sign <= 1


def test_r1_changes_only_the_discriminators_update(tiny_config):
    real, latents = tf.random.uniform((8, 32, 32, 3), -1, 1), tf.random.normal((8, 16))
    after = {}
    for gamma in (0.0, 10.0):
        gan = GAN(dataclasses.replace(tiny_config, r1_gamma=gamma))
        out = gan.step(real, latents, Decision.BOTH)
        after[gamma] = (out, [v.numpy() for v in gan.generator.trainable_variables],
                        [v.numpy() for v in gan.discriminator.trainable_variables])
    (out0, g0, d0), (out1, g1, d1) = after[0.0], after[10.0]
    np.testing.assert_allclose(out0, out1, rtol=1e-5)  # reported losses: adversarial only
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(g0, g1))
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(d0, d1))


def final_weights(run_dir):
    index = (run_dir / "checkpoints" / "index.json").read_text()
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" /
                                          json.loads(index)["latest"] / "ckpt"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


# The plain margin and simultaneous runs are subsumed by the two below (slow: -m slow).
@pytest.mark.parametrize("balance, extras", [
    pytest.param("margin", {}, marks=pytest.mark.slow),
    pytest.param("simultaneous", {}, marks=pytest.mark.slow),
    ("margin", {"augment": "color,translation,cutout", "ema_kimg": 0.05,
                "ada_target": 0.1, "ada_kimg": 0.05, "r1_gamma": 0.1}),
    ("ratio", {"loss": "wgan-gp"})])
def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path, tiny_config, balance,
                                                          extras):
    config = dataclasses.replace(tiny_config, balance=balance, margin=0.01, max_skip=2,
                                 lr_g=0.01, lr_d=0.01, loss_ema=0.5, **extras)
    images = tiny_images()
    straight, split = tmp_path / "straight", tmp_path / "split"
    for d in (straight, split):
        d.mkdir()
    assert train(config, straight, images).exit_code == 0
    assert train(dataclasses.replace(config, epochs=1), split, images).exit_code == 0
    assert train(config, split, images, resume=True).exit_code == 0

    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
    rows = lambda d: [line.split(",")[:5] for line in  # noqa: E731
                      (d / "losses.csv").read_text().splitlines()]
    assert rows(straight) == rows(split)
    if balance == "margin":
        decisions = {r[4] for r in rows(straight)[1:]}
        assert len(decisions) > 1, "the test should exercise more than one decision"
    if config.augment:
        index = json.loads((split / "checkpoints" / "index.json").read_text())
        state = json.loads((split / "checkpoints" / index["latest"] / "state.json").read_text())
        assert 0 < state["augment_strength"]["p"] < 1, "the test should exercise 0 < p < 1"


def test_run_writes_samples_plot_csv_and_checkpoints(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, epochs=3, save_every=2, sample_every=1)
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        f"epoch_{i:04d}.png" for i in range(4)]
    assert (tmp_path / "losses.png").stat().st_size > 1000
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    assert lines[0] == "epoch,step,loss_g,loss_d,decision,d_real,d_fake,seconds"
    assert len(lines) == 1 + 3 * 3
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch_0002", "epoch_0003", "index.json"]
    rows = [json.loads(line) for line in (tmp_path / "health.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(r["status"] in ("learning", "D winning", "G winning") for r in rows)


def test_short_epochs_do_the_epoch_end_jobs_every_few_thousand_images(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, epochs=3)  # 24 images: an epoch is 3 batches
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "epoch_0000.png", "epoch_0003.png"]  # the start and the end, none between
    index = json.loads((tmp_path / "checkpoints" / "index.json").read_text())
    assert index["latest"] == "epoch_0003" and index["kept"] == ["epoch_0003"]


def test_a_stop_between_saves_saves_the_latest_step(tmp_path, tiny_config, monkeypatch):
    real_step = GAN.step

    def interrupted_at_step_6(self, real, latents, decision, step_index, **kwargs):
        if step_index == 5:  # the last batch of epoch 2, where no save is due
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, real, latents, decision, step_index, **kwargs)
    monkeypatch.setattr(GAN, "step", interrupted_at_step_6)
    outcome = train(dataclasses.replace(tiny_config, epochs=5), tmp_path, tiny_images())
    assert outcome.exit_code == 130
    index = json.loads((tmp_path / "checkpoints" / "index.json").read_text())
    assert index["latest"] == "epoch_0002"
    assert (outcome.stopped_by, outcome.checkpoint, outcome.epochs) == ("signal", "epoch_0002", 2)


def test_max_minutes_stops_mid_epoch_with_a_checkpoint_and_a_grid(tmp_path, tiny_config,
                                                                   capsys):
    config = dataclasses.replace(tiny_config, epochs=50, max_minutes=1e-6)
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    names = [p.name for p in (tmp_path / "checkpoints").iterdir()]
    assert "epoch_0000_plus_0001_batches" in names
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "epoch_0000.png", "epoch_0000_plus_0001_batches.png"]  # the untrained grid, then the last
    assert "preparing the G and D step (tracing; once per run)" in capsys.readouterr().out


def test_non_finite_loss_rolls_back_and_halves_learning_rates(tmp_path, tiny_config,
                                                               monkeypatch, capsys):
    calls = {"n": 0}
    real_step = GAN.step

    def flaky_step(self, real, latents, decision, step_index, **kwargs):
        calls["n"] += 1
        out = real_step(self, real, latents, decision, step_index, **kwargs)
        return out * np.nan if calls["n"] == 5 else out  # one NaN in epoch 2
    monkeypatch.setattr(GAN, "step", flaky_step)
    config = dataclasses.replace(tiny_config, sample_every=1)  # a save and a health row per epoch
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    err = capsys.readouterr().err
    assert "non-finite loss at step 5; rolled back to step 3" in err
    rows = [json.loads(line) for line in (tmp_path / "health.jsonl").read_text().splitlines()]
    assert [r["status"] == "diverged" for r in rows] == [False, True]  # epoch 2 rolled back
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    assert [int(line.split(",")[1]) for line in lines[1:]] == list(range(1, 7))
    weights = final_weights(tmp_path)
    for net in ("g", "d"):
        lr = weights[f"{net}_optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"]
        assert lr == pytest.approx(tiny_config.lr_g / 2)


def test_persistent_non_finite_losses_stop_training(tmp_path, tiny_config, monkeypatch):
    from gan.training import TrainingDiverged
    monkeypatch.setattr(GAN, "step", lambda self, *args, **kwargs: np.full(5, np.nan))
    with pytest.raises(TrainingDiverged, match="after 3 rollbacks"):
        train(tiny_config, tmp_path, tiny_images())


@pytest.mark.parametrize("balance, decisions", [
    ("alternate", {"d_only", "g_only"}), ("ratio", {"d_only", "both"}),
    ("threshold", {"both", "g_only"})])
def test_every_balance_strategy_trains(tmp_path, tiny_config, balance, decisions):
    config = dataclasses.replace(tiny_config, balance=balance, epochs=2, d_steps=2,
                                 d_threshold=10.0 if balance == "threshold" else 0.3)
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    rows = (tmp_path / "losses.csv").read_text().splitlines()[1:]
    seen = {row.split(",")[4] for row in rows}
    # threshold 10 nats: D is skipped after the first batch, whose losses are unknown
    assert seen == decisions, seen


def test_ema_generator_starts_as_a_copy_and_then_lags_behind_g(tiny_config):
    gan = GAN(dataclasses.replace(tiny_config, ema_kimg=10))
    assert gan.ema_beta(0) < 1e-6  # ramp-up: the first average is G itself
    betas = [gan.ema_beta(step) for step in (0, 10, 100, 10**4, 10**6)]
    assert betas == sorted(betas) and betas[-1] == pytest.approx(0.5 ** (8 / 10_000))
    real, latents = tf.random.uniform((8, 32, 32, 3), -1, 1), tf.random.normal((8, 16))
    gan.step(real, latents, Decision.BOTH, step_index=0)
    for average, weight in zip(gan.generator_ema.weights, gan.generator.weights):
        np.testing.assert_allclose(average.numpy(), weight.numpy(), rtol=1e-4, atol=1e-5)
    for step in range(1, 40):
        gan.step(real, latents, Decision.G_ONLY, step_index=step)
    lag = max(np.abs(a.numpy() - w.numpy()).max()
              for a, w in zip(gan.generator_ema.weights, gan.generator.weights))
    assert lag > 1e-6
    np.testing.assert_array_equal(  # samples come from the average
        gan.sample(latents.numpy()), images.to_uint8(gan.generator_ema(latents, training=False)))


def test_ema_run_generates_from_the_ema_weights(tmp_path, tiny_config):
    from gan.generate import load_generator
    config = dataclasses.replace(tiny_config, ema_kimg=0.1)
    config.save(tmp_path / "config.json")
    assert train(config, tmp_path, tiny_images()).exit_code == 0
    weights = final_weights(tmp_path)
    stored = lambda net: [v for k, v in weights.items() if k.startswith(net + "/")]  # noqa: E731
    loaded = [w.numpy() for w in load_generator(tmp_path).model.weights]
    found_in = lambda arrays: all(  # noqa: E731
        any(a.shape == b.shape and np.array_equal(a, b) for b in arrays) for a in loaded)
    assert found_in(stored("generator_ema")) and not found_in(stored("generator"))


def test_loss_log_totals_the_epochs_since_the_previous_health_row(tmp_path):
    from gan.losslog import LossLog
    log = LossLog(tmp_path / "losses.csv", keep_steps=0)
    for step, (epoch, decision, loss_g) in enumerate(
            [(1, "both", 9.0), (2, "g_only", 1.0), (2, "both", 2.0), (3, "g_only", 3.0)], 1):
        log.append(epoch, step, loss_g, 0.5, decision, 0.5, 0.5, float(step))
    stats = log.stats(range(2, 4))
    assert stats.counts == {"both": 1, "g_only": 2, "d_only": 0}
    assert stats.loss_g_sum == 6.0 and stats.loss_g == 3.0 and stats.batches == 3
    assert log.stats(range(5, 7)).batches == 0
    log.close()
