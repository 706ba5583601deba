"""Tests of the actor policies in tfrl.policies: categorical with temperature, Gaussian, mode, from a model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrl.errors import UnsupportedSpaceError
from tfrl.networks import actor_critic
from tfrl.policies import CategoricalPolicy, GaussianPolicy, ModePolicy, Policy, actor_policy_from_model
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((3,), np.float32)
LOGITS = np.array([1.0, 2.5, 0.0, -1.0], np.float32)  # argmax 1
ACTIONS = BoundedArraySpec((), np.int64, 0, 3)
BOX = BoundedArraySpec((2,), np.float32, [-1.0, -2.0], [1.0, 0.5])


def softmax(x):
    z = np.exp(x - x.max())
    return z / z.sum()


def constant_logits_model(logits=LOGITS) -> keras.Model:
    """An actor whose logits are ``logits`` for every observation (zero kernel, bias = logits)."""
    inputs = keras.Input(OBS.shape, dtype="float32")
    dense = keras.layers.Dense(len(logits), name="logits")
    model = keras.Model(inputs, {"logits": dense(inputs)})
    dense.set_weights([np.zeros((3, len(logits)), np.float32), logits])
    return model


def constant_gaussian_model(mean, log_std, spec=BOX) -> keras.Model:
    """An ``actor_critic`` Box model whose mean is ``mean`` and log std ``log_std`` for every observation."""
    model = actor_critic(OBS, spec, hidden_sizes=(4,), seed=0)
    dim = spec.shape[0]
    model.get_layer("mean").set_weights([np.zeros((4, dim), np.float32), np.asarray(mean, np.float32)])
    model.get_layer("log_std").set_weights([np.asarray(log_std, np.float32)])
    return model


def observations(batch=64, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 3)).astype(np.float32)


def zeros(batch):
    return np.zeros((batch, 3), np.float32)


# --------------------------------------------------------------------------- categorical


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 4.0])
def test_categorical_policy_is_gumbel_max_of_its_seeded_noise(temperature, jit_compile):
    logits = np.array([0.3, -0.2, 1.1, 0.0], np.float32)
    policy = CategoricalPolicy(
        constant_logits_model(logits), OBS, ACTIONS, temperature=temperature, seed=7, jit_compile=jit_compile
    )
    rng = np.random.default_rng(7)
    for batch in (200, 1, 33):
        u = rng.random((batch, 4), dtype=np.float32)
        expected = np.argmax(logits / temperature - np.log(-np.log(u)), axis=-1)
        actions = policy.action(zeros(batch))
        np.testing.assert_array_equal(actions, expected)
        assert actions.dtype == np.int64 and actions.shape == (batch,)


def test_categorical_temperature_one_matches_softmax():
    actions = CategoricalPolicy(constant_logits_model(), OBS, ACTIONS, seed=0).action(zeros(4000))
    freq = np.bincount(actions, minlength=4) / 4000
    np.testing.assert_allclose(freq, softmax(LOGITS.astype(np.float64)), atol=0.03)  # std error <= 0.008


def test_categorical_low_temperature_is_greedy():
    actions = CategoricalPolicy(constant_logits_model(), OBS, ACTIONS, temperature=0.01, seed=0).action(zeros(4000))
    assert np.all(actions == 1)


def test_categorical_high_temperature_is_nearly_uniform():
    actions = CategoricalPolicy(constant_logits_model(), OBS, ACTIONS, temperature=100.0, seed=0).action(zeros(4000))
    freq = np.bincount(actions, minlength=4) / 4000
    np.testing.assert_allclose(freq, 0.25, atol=0.03)


def test_categorical_same_seed_same_actions():
    model = constant_logits_model()
    a, b, c = (CategoricalPolicy(model, OBS, ACTIONS, seed=s) for s in (3, 3, 4))
    run_a = [a.action(zeros(50)) for _ in range(3)]
    run_b = [b.action(zeros(50)) for _ in range(3)]
    run_c = [c.action(zeros(50)) for _ in range(3)]
    for x, y in zip(run_a, run_b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, z) for x, z in zip(run_a, run_c))
    assert not np.array_equal(run_a[0], run_a[1])  # the generator advances between calls


def test_categorical_action_offset_and_dtype():
    spec = BoundedArraySpec((), np.int32, 1, 4)  # actions {1, 2, 3, 4}
    actions = CategoricalPolicy(constant_logits_model(), OBS, spec, seed=0).action(zeros(2000))
    assert actions.dtype == np.int32
    assert set(actions.tolist()) == {1, 2, 3, 4}
    greedy = CategoricalPolicy(constant_logits_model(), OBS, spec, temperature=1e-3, seed=0).action(zeros(100))
    assert np.all(greedy == 2)  # argmax 1, offset 1


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_categorical_refuses_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        CategoricalPolicy(constant_logits_model(), OBS, ACTIONS, temperature=temperature)


def test_categorical_refuses_box_actions_and_models_without_logits():
    with pytest.raises(UnsupportedSpaceError, match="CategoricalPolicy needs a discrete action spec"):
        CategoricalPolicy(constant_logits_model(), OBS, BOX)
    with pytest.raises(ValueError, match="output dict has 'logits'"):
        CategoricalPolicy(constant_gaussian_model([0.0, 0.0], [0.0, 0.0]), OBS, ACTIONS)


# --------------------------------------------------------------------------- Gaussian


def test_gaussian_policy_is_mean_plus_std_times_seeded_noise():
    mean, log_std = [0.2, -0.5], np.log([0.3, 0.1])
    policy = GaussianPolicy(constant_gaussian_model(mean, log_std), OBS, BOX, seed=1, clip=False)
    noise = np.random.default_rng(1).standard_normal((10, 2), dtype=np.float32)
    actions = policy.action(observations(10))
    np.testing.assert_allclose(actions, mean + np.exp(log_std) * noise, rtol=1e-5, atol=1e-6)
    assert actions.dtype == np.float32 and actions.shape == (10, 2)


def test_gaussian_policy_statistics():
    policy = GaussianPolicy(constant_gaussian_model([0.2, -0.5], np.log([0.3, 0.1])), OBS, BOX, seed=2, clip=False)
    actions = policy.action(observations(20000))
    np.testing.assert_allclose(actions.mean(0), [0.2, -0.5], atol=0.01)
    np.testing.assert_allclose(actions.std(0), [0.3, 0.1], rtol=0.03)


def test_gaussian_policy_clipping_keeps_actions_in_bounds():
    model = constant_gaussian_model([0.5, 0.0], [1.0, 1.0])  # sigma = e: most samples fall outside
    clipped = GaussianPolicy(model, OBS, BOX, seed=3).action(observations(1000))
    raw = GaussianPolicy(model, OBS, BOX, seed=3, clip=False).action(observations(1000))
    assert np.all(clipped >= BOX.minimum) and np.all(clipped <= BOX.maximum)
    assert np.any(raw < BOX.minimum) and np.any(raw > BOX.maximum)
    np.testing.assert_array_equal(clipped, np.clip(raw, BOX.minimum, BOX.maximum))
    # per-dimension bounds: both ends of both dimensions are hit
    for d in range(2):
        assert np.any(clipped[:, d] == BOX.minimum[d]) and np.any(clipped[:, d] == BOX.maximum[d])


def test_gaussian_policy_same_seed_same_actions_and_float64_spec():
    spec = BoundedArraySpec((2,), np.float64, -1.0, 1.0)
    model = constant_gaussian_model([0.0, 0.0], [0.0, 0.0], spec)
    a = GaussianPolicy(model, OBS, spec, seed=9).action(observations(8))
    b = GaussianPolicy(model, OBS, spec, seed=9).action(observations(8))
    c = GaussianPolicy(model, OBS, spec, seed=10).action(observations(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float64


def test_gaussian_policy_refuses_discrete_actions():
    with pytest.raises(UnsupportedSpaceError, match="GaussianPolicy needs a Box action spec"):
        GaussianPolicy(constant_logits_model(), OBS, ACTIONS)


# --------------------------------------------------------------------------- mode


def test_mode_policy_discrete_is_argmax_with_offset():
    spec = BoundedArraySpec((), np.int32, 1, 3)
    model = actor_critic(OBS, spec, hidden_sizes=(8,), seed=0)
    rng = np.random.default_rng(0)
    model.get_layer("logits").set_weights([rng.normal(size=(8, 3)).astype(np.float32), np.zeros(3, np.float32)])
    obs = observations(300)
    actions = ModePolicy(model, OBS, spec).action(obs)
    np.testing.assert_array_equal(actions, np.argmax(model(obs)["logits"].numpy(), axis=-1) + 1)
    assert actions.dtype == np.int32
    assert set(actions.tolist()) == {1, 2, 3}


def test_mode_policy_box_is_clipped_mean():
    model = actor_critic(OBS, BOX, hidden_sizes=(8,), seed=0)
    rng = np.random.default_rng(1)
    model.get_layer("mean").set_weights([5 * rng.normal(size=(8, 2)).astype(np.float32), np.zeros(2, np.float32)])
    obs = observations(300)
    mean = model(obs)["mean"].numpy()
    assert np.any(mean < BOX.minimum) and np.any(mean > BOX.maximum)
    actions = ModePolicy(model, OBS, BOX).action(obs)
    np.testing.assert_allclose(actions, np.clip(mean, BOX.minimum, BOX.maximum), rtol=1e-6, atol=1e-6)
    inside = (mean > BOX.minimum) & (mean < BOX.maximum)
    assert inside.any()


def test_mode_policy_refuses_other_specs():
    with pytest.raises(UnsupportedSpaceError, match="ModePolicy"):
        ModePolicy(constant_logits_model(), OBS, BoundedArraySpec((2,), np.int64, 0, 3))


def test_actor_policy_from_model_and_from_keras_file(tmp_path):
    spec = BoundedArraySpec((), np.int64, 2, 4)
    model = actor_critic(OBS, spec, hidden_sizes=(8,), seed=0)
    model.get_layer("logits").set_weights(
        [np.random.default_rng(2).normal(size=(8, 3)).astype(np.float32), np.zeros(3, np.float32)]
    )
    obs = observations(100)
    policy = actor_policy_from_model(model, OBS, spec)
    assert isinstance(policy, ModePolicy) and isinstance(policy, Policy)
    expected = np.argmax(model(obs)["logits"].numpy(), axis=-1) + 2
    np.testing.assert_array_equal(policy.action(obs), expected)
    path = tmp_path / "actor.keras"
    model.save(path)
    np.testing.assert_array_equal(actor_policy_from_model(path, OBS, spec).action(obs), expected)


def test_policies_satisfy_protocol_and_accept_any_batch_size():
    cat = CategoricalPolicy(constant_logits_model(), OBS, ACTIONS, seed=0)
    gauss = GaussianPolicy(constant_gaussian_model([0.0, 0.0], [0.0, 0.0]), OBS, BOX, seed=0)
    for policy in (cat, gauss):
        assert isinstance(policy, Policy)
        for batch in (1, 5, 2):
            assert len(policy.action(observations(batch))) == batch
