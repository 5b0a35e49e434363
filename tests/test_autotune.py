"""The measured choice of precision and XLA: the choice logic on injected timings, the
cache, and one real measurement that must leave the run it precedes unchanged."""
import dataclasses
import json

import keras
import numpy as np
import pytest

from gan import autotune, hardware
from gan.autotune import Timing, choose

FP32, BF16 = Timing("fp32", False, 5.0, 0.100), Timing("bf16", False, 5.0, 0.076)
BF16_BLOCKED = bool(hardware.bf16_blocked())  # this process runs under an ISA cap


@pytest.fixture(autouse=True)
def no_isa_cap(monkeypatch):
    """Each test sees an uncapped oneDNN unless it sets a cap itself (the suite may run
    under ONEDNN_MAX_CPU_ISA to time a slower CPU)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)


def test_the_faster_precision_is_chosen_and_named_with_its_gain():
    chosen, reason = choose([FP32, BF16], steps=3000)
    assert chosen == BF16
    assert reason.startswith("1.30x faster than fp32") and reason.endswith("measured on this CPU")
    slow_bf16 = Timing("bf16", False, 5.0, 0.190)  # emulated, as under an AVX2 cap
    assert choose([FP32, slow_bf16], steps=3000)[0] == FP32


def test_a_budget_shorter_than_every_first_call_chooses_fp32_without_failing():
    # --max_minutes 0.01: no setting gets a step done once its first calls are paid
    chosen, reason = choose([FP32, BF16, Timing("fp32", True, 30.0, 0.05)], steps=3000,
                            budget_seconds=0.6)
    assert chosen == FP32 and reason.startswith("as fast as bf16")


def test_a_tie_goes_to_fp32():
    chosen, reason = choose([FP32, Timing("bf16", False, 5.0, 0.098)], steps=3000)
    assert chosen == FP32 and reason.startswith("as fast as bf16, and exact")


def test_xla_must_earn_back_its_compiling_over_the_run():
    plain, xla = Timing("fp32", False, 10.0, 0.40), Timing("fp32", True, 30.0, 0.30)
    # 3 variants x 20 s more to prepare, 0.1 s saved per step: even after 600 steps
    assert choose([plain, xla], steps=400)[0] == plain
    chosen, reason = choose([plain, xla], steps=400)
    assert "XLA's ~60 s of compiling would not pay back" in reason and "1.33x" in reason
    chosen, reason = choose([plain, xla], steps=5000)
    assert chosen == xla and reason.startswith("1.28x faster with XLA than without")
    # the clock ends the run: 1.5 minutes is too short, 10 minutes is not
    assert choose([plain, xla], steps=10**6, budget_seconds=90)[0] == plain
    assert choose([plain, xla], steps=10**6, budget_seconds=600)[0] == xla


def test_the_first_timed_setting_pays_no_start_up_penalty():
    # fp32 was timed first and its first call also paid TensorFlow's start-up
    first = Timing("fp32", False, 25.0, 0.100)
    assert choose([first, Timing("bf16", False, 5.0, 0.101)], steps=200)[0] == first


def test_all_four_settings():
    timings = [FP32, Timing("fp32", True, 20.0, 0.12), BF16, Timing("bf16", True, 20.0, 0.2)]
    chosen, reason = choose(timings, steps=3000)
    assert chosen == BF16 and reason.startswith("1.30x faster than fp32, ")
    assert "faster than with XLA" in reason


def test_a_faster_step_that_loses_over_the_run_is_named_with_why():
    # bf16+XLA steps 2% faster than fp32's, but its compiling costs more than that saves
    fastest = Timing("bf16", True, 12.0, 0.098)
    timings = [FP32, Timing("fp32", True, 12.0, 0.11), Timing("bf16", False, 5.0, 0.2), fastest]
    chosen, reason = choose(timings, steps=3000)
    assert chosen == FP32
    assert "bf16+XLA's steps are 1.02x faster, but not over this run, its ~36 s" in reason
    slow_xla = Timing("fp32", True, 40.0, 0.098)  # its neighbour comparison says it already
    assert "fp32+XLA's steps" not in choose([FP32, slow_xla], steps=3000)[1]


def test_a_setting_whose_step_failed_is_never_chosen_and_is_named():
    failed = Timing("bf16", True, float("inf"), float("inf"))
    xla = Timing("fp32", True, 20.0, 0.06)
    chosen, reason = choose([FP32, xla, BF16, failed], steps=30000)
    assert chosen == xla and reason.endswith("the step failed in bf16+XLA, measured on this CPU")
    assert "bf16" not in reason.split(", the step failed")[0]  # no speed ratio against it
    assert choose([FP32, failed], steps=3000, budget_seconds=600)[0] == FP32
    assert choose([failed], steps=3000)[0] == failed  # forced, e.g. --precision bf16 --xla


@pytest.mark.parametrize("precision, xla, expected", [
    ("auto", None, autotune.SETTINGS),
    ("auto", False, (("fp32", False), ("bf16", False))),
    ("fp32", None, (("fp32", False), ("fp32", True))),
    ("bf16", True, (("bf16", True),)),
])
def test_candidates_are_the_settings_left_open(tiny_config, precision, xla, expected):
    config = dataclasses.replace(tiny_config, precision=precision, xla=xla)
    assert tuple(autotune.candidates(config)) == expected


@pytest.fixture
def fake_measure():
    """A stand-in for autotune.measure with fixed timings, recording what it was asked."""
    calls = []

    def measure(config, settings, batch_size, channels, num_classes):
        calls.append(list(settings))
        return [Timing(p, x, 1.0, 0.05 if p == "bf16" else 0.1) for p, x in settings]
    measure.calls = calls
    return measure


def test_timings_are_cached_per_shape_and_isa_cap(tiny_config, tmp_path, monkeypatch,
                                                  fake_measure):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    config = dataclasses.replace(tiny_config, xla=False)
    first = autotune.timings(config, 8, measure_fn=fake_measure)
    assert [t.name for t in first] == ["fp32", "bf16"] and len(fake_measure.calls) == 1
    assert autotune.timings(config, 8, measure_fn=fake_measure) == first
    assert len(fake_measure.calls) == 1  # from the cache
    autotune.timings(dataclasses.replace(config, xla=None), 8, measure_fn=fake_measure)
    assert fake_measure.calls[-1] == [("fp32", True), ("bf16", True)]  # only what is missing
    autotune.timings(dataclasses.replace(config, width=16), 8, measure_fn=fake_measure)
    assert len(fake_measure.calls) == 3  # another network
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    autotune.timings(config, 8, measure_fn=fake_measure)
    assert len(fake_measure.calls) == 4  # capped kernels are timed apart
    entries = json.loads((tmp_path / "autotune.json").read_text())["entries"]
    assert len(entries) == 3


@pytest.mark.parametrize("damage", ["{not json", '{"version": 1, "entries": []}', "[]",
                                    '{"version": 1, "entries": {"KEY": {"fp32": {"x": 1}}}}'])
def test_a_damaged_cache_is_measured_again_and_rewritten(tiny_config, tmp_path, monkeypatch,
                                                         fake_measure, damage):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    config = dataclasses.replace(tiny_config, xla=False)
    key = autotune.cache_key(config, 8, 3, 0)
    (tmp_path / "autotune.json").write_text(damage.replace('"KEY"', json.dumps(key)))
    timings = autotune.timings(config, 8, measure_fn=fake_measure)
    assert len(fake_measure.calls) == 1 and [t.name for t in timings] == ["fp32", "bf16"]
    cache = json.loads((tmp_path / "autotune.json").read_text())
    assert set(cache["entries"][key]) == {"fp32", "bf16"}


@pytest.mark.slow  # two short runs and a measurement: about a minute on 2 busy cores
@pytest.mark.skipif(BF16_BLOCKED, reason="oneDNN capped below its bf16 kernels")
def test_measuring_leaves_the_run_as_if_its_setting_were_given(tiny_config, tmp_path,
                                                             monkeypatch):
    """The real step, timed at tiny size; then a run trains bit for bit as one that never
    measured, and Keras' dtype policy is as it was."""
    from gan.training import train
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    config = dataclasses.replace(tiny_config, xla=False, epochs=1)
    explicit = dataclasses.replace(config, precision="bf16")  # the setting that changes most

    def losses(run):
        run.mkdir()
        assert train(explicit, run, images).exit_code == 0
        rows = (run / "losses.csv").read_text().splitlines()
        return [row.rsplit(",", 1)[0] for row in rows]  # all but the seconds
    before = losses(tmp_path / "plain")
    keras.config.set_dtype_policy("float32")
    measured = autotune.measure(config, autotune.candidates(config), 8, round_seconds=0.05)
    assert [t.name for t in measured] == ["fp32", "bf16"]
    assert all(t.prepare_seconds > 0 and 0 < t.step_seconds < t.prepare_seconds
               for t in measured)
    assert keras.config.dtype_policy().name == "float32"
    assert losses(tmp_path / "after") == before
    keras.config.set_dtype_policy("float32")


def test_a_setting_that_fails_to_run_is_timed_as_failed_and_cached(tiny_config, tmp_path,
                                                                   monkeypatch):
    """A step that raises in one setting (as XLA did compiling one network under bf16) costs
    that setting, not the run; the failure is cached like a timing."""
    import tensorflow as tf
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    caller = autotune._caller

    def failing_in_bf16(gan, *args):
        step = caller(gan, *args)
        if gan.generator.dtype_policy.compute_dtype == "float32":
            return step

        def fail():
            raise tf.errors.InvalidArgumentError(None, None, "cannot compile")
        return fail
    monkeypatch.setattr(autotune, "_caller", failing_in_bf16)
    config = dataclasses.replace(tiny_config, precision="auto", xla=False)
    timings = autotune.timings(config, 8, measure_fn=lambda *a: autotune.measure(
        *a, round_seconds=0.01))
    assert [(t.name, t.failed) for t in timings] == [("fp32", False), ("bf16", True)]
    assert autotune.choose(timings, steps=100)[0].precision == "fp32"
    assert autotune.timings(config, 8, measure_fn=None) == timings  # from the cache
    with pytest.raises(tf.errors.InvalidArgumentError):  # nothing runs: the run's error
        autotune.measure(dataclasses.replace(config, precision="bf16"), [("bf16", False)], 8)
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("cap, bf16", [("AVX2", False), ("avx512_core", False),
                                       ("AVX512_CORE_BF16", True), (None, True)])
def test_bf16_is_left_out_where_onednn_is_capped_below_its_kernels(tiny_config, monkeypatch,
                                                                   cap, bf16):
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    settings = autotune.candidates(dataclasses.replace(tiny_config, precision="auto", xla=None))
    assert (("bf16", False) in settings) is bf16 and ("fp32", True) in settings


def test_xla_is_not_tried_in_a_run_too_short_to_pay_back_its_compiling(tiny_config, tmp_path,
                                                                       monkeypatch, fake_measure):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    config = dataclasses.replace(tiny_config, precision="auto", xla=None)
    # 0.1 s steps, 1 s first calls: 3 variants x 1 s against at most half of 50 x 0.1 s
    choice = autotune.tune(config, 8, steps=50, measure_fn=fake_measure)
    assert fake_measure.calls == [[("fp32", False), ("bf16", False)]]
    assert not choice.xla and "XLA not tried" in choice.reason
    # long enough to pay: the XLA settings are measured too (the others come from the cache)
    choice = autotune.tune(config, 8, steps=5000, measure_fn=fake_measure)
    assert fake_measure.calls[1] == [("fp32", True), ("bf16", True)]
    assert "XLA not tried" not in choice.reason
