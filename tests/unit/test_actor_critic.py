"""Tests of tfrl.networks.actor_critic: output shapes, shared and separate torsos, PPO initialisation,
seeding, the state-independent log std, .keras round trips and unsupported action specs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrl.errors import UnsupportedSpaceError
from tfrl.networks import Squeeze, StateIndependentLogStd, actor_critic
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((4,), np.float32)
DISCRETE = BoundedArraySpec((), np.int64, 0, 2)  # 3 actions
BOX = BoundedArraySpec((2,), np.float32, -1.0, 1.0)


def _obs(batch=5, seed=0, spec=OBS):
    return np.random.default_rng(seed).normal(size=(batch, *spec.shape)).astype(spec.dtype)


def _dense_names(model, prefix):
    return [layer.name for layer in model.layers if layer.name.startswith(prefix)]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("batch", [1, 7])
def test_discrete_outputs(shared, batch):
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(8, 8), shared=shared, seed=0)
    out = model(_obs(batch))
    assert set(out) == {"logits", "value"}
    assert tuple(out["logits"].shape) == (batch, 3) and tuple(out["value"].shape) == (batch,)
    assert out["logits"].dtype == tf.float32 and out["value"].dtype == tf.float32
    assert np.all(np.isfinite(out["logits"].numpy()))


@pytest.mark.parametrize("shared", [False, True])
def test_box_outputs(shared):
    model = actor_critic(OBS, BOX, hidden_sizes=(8,), shared=shared, seed=0, log_std_init=-0.5)
    out = model(_obs(6))
    assert set(out) == {"mean", "log_std", "value"}
    assert tuple(out["mean"].shape) == (6, 2)
    assert tuple(out["log_std"].shape) == (6, 2)
    assert tuple(out["value"].shape) == (6,)
    np.testing.assert_array_equal(out["log_std"].numpy(), np.full((6, 2), -0.5, np.float32))


def test_separate_torsos_have_their_own_layers():
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(16, 8), seed=0)
    assert _dense_names(model, "actor_dense") == ["actor_dense0", "actor_dense1"]
    assert _dense_names(model, "critic_dense") == ["critic_dense0", "critic_dense1"]
    assert _dense_names(model, "torso") == []
    assert model.get_layer("actor_dense0").units == 16 and model.get_layer("critic_dense1").units == 8
    # 2 actor + 2 critic + policy head + value head, kernel and bias each
    assert len(model.trainable_variables) == 12
    # the heads read different torsos
    assert model.get_layer("logits").input is model.get_layer("actor_dense1").output
    assert model.get_layer("value_head").input is model.get_layer("critic_dense1").output


def test_shared_torso_feeds_both_heads():
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(16, 8), shared=True, seed=0)
    assert _dense_names(model, "torso_dense") == ["torso_dense0", "torso_dense1"]
    assert _dense_names(model, "actor") == [] and _dense_names(model, "critic") == []
    assert len(model.trainable_variables) == 8  # 2 torso layers + 2 heads
    torso_out = model.get_layer("torso_dense1").output
    assert model.get_layer("logits").input is torso_out
    assert model.get_layer("value_head").input is torso_out
    # a gradient of the value alone reaches the shared hidden weights
    with tf.GradientTape() as tape:
        value = model(_obs(3))["value"]
    grads = tape.gradient(value, model.get_layer("torso_dense0").trainable_variables)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)


def test_separate_torsos_value_gradient_does_not_reach_actor():
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(8,), seed=0)
    actor = model.get_layer("actor_dense0").trainable_variables
    critic = model.get_layer("critic_dense0").trainable_variables
    with tf.GradientTape() as tape:
        value = model(_obs(3))["value"]
    grads = tape.gradient(value, actor + critic)
    assert grads[0] is None and grads[1] is None
    assert np.any(grads[2].numpy() != 0)


def test_ppo_initialisation():
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(64, 64), seed=3)
    # hidden layers: orthogonal with gain sqrt(2). dense0 is 4x64 (orthonormal rows), dense1 64x64
    k0 = model.get_layer("actor_dense0").get_weights()[0]
    np.testing.assert_allclose(k0 @ k0.T, 2.0 * np.eye(4), atol=1e-4)
    k1 = model.get_layer("critic_dense1").get_weights()[0]
    np.testing.assert_allclose(k1.T @ k1, 2.0 * np.eye(64), atol=1e-4)
    # policy head 64x3: orthonormal columns scaled by 0.01, so its norm is 0.01 * sqrt(3)
    kp = model.get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(kp.T @ kp, 1e-4 * np.eye(3), atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(kp), 0.01 * np.sqrt(3), rtol=1e-4)
    # value head 64x1: a unit vector (gain 1)
    kv = model.get_layer("value_head").get_weights()[0]
    np.testing.assert_allclose(np.linalg.norm(kv), 1.0, rtol=1e-5)
    # zero biases everywhere
    for layer in ("actor_dense0", "actor_dense1", "critic_dense0", "critic_dense1", "logits", "value_head"):
        np.testing.assert_array_equal(model.get_layer(layer).get_weights()[1], 0.0)
    # the small policy head gives a nearly uniform initial policy
    logits = model(_obs(32))["logits"].numpy()
    assert np.abs(logits).max() < 0.2


def test_box_policy_head_is_small():
    model = actor_critic(OBS, BOX, hidden_sizes=(32,), seed=0)
    km = model.get_layer("mean").get_weights()[0]
    np.testing.assert_allclose(np.linalg.norm(km), 0.01 * np.sqrt(2), rtol=1e-4)


@pytest.mark.parametrize("spec", [DISCRETE, BOX], ids=["discrete", "box"])
@pytest.mark.parametrize("shared", [False, True])
def test_same_seed_same_weights_different_seed_different_weights(spec, shared):
    a = actor_critic(OBS, spec, hidden_sizes=(8, 8), shared=shared, seed=11).get_weights()
    b = actor_critic(OBS, spec, hidden_sizes=(8, 8), shared=shared, seed=11).get_weights()
    c = actor_critic(OBS, spec, hidden_sizes=(8, 8), shared=shared, seed=12).get_weights()
    assert len(a) == len(b) == len(c)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for i, w in enumerate(a):
        if w.ndim == 2:
            assert not np.allclose(w, c[i]), f"kernel {i} is the same for seeds 11 and 12"


def test_actor_and_critic_torsos_get_distinct_initialisations():
    model = actor_critic(OBS, DISCRETE, hidden_sizes=(8, 8), seed=0)
    for i in range(2):
        assert not np.allclose(
            model.get_layer(f"actor_dense{i}").get_weights()[0], model.get_layer(f"critic_dense{i}").get_weights()[0]
        )


def test_log_std_is_trainable_and_starts_at_init():
    model = actor_critic(OBS, BOX, hidden_sizes=(8,), seed=0, log_std_init=-1.25)
    layer = model.get_layer("log_std")
    assert isinstance(layer, StateIndependentLogStd)
    assert len(layer.trainable_variables) == 1
    variable = layer.trainable_variables[0]
    assert any(variable is v for v in model.trainable_variables)
    np.testing.assert_array_equal(variable.numpy(), [-1.25, -1.25])
    # one SGD step on the mean log std moves it
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(_obs(4))["log_std"])
    grad = tape.gradient(loss, variable)
    np.testing.assert_allclose(grad.numpy(), [0.5, 0.5], rtol=1e-6)  # d mean([B, 2]) / d each entry, summed over B
    variable.assign_sub(0.1 * grad)
    np.testing.assert_allclose(model(_obs(2))["log_std"].numpy(), np.full((2, 2), -1.3), rtol=1e-6)


def test_integer_and_image_observations_are_cast_and_flattened():
    spec = ArraySpec((2, 3), np.uint8)
    model = actor_critic(spec, DISCRETE, hidden_sizes=(8,), seed=0)
    obs = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    out = model(obs)
    assert tuple(out["logits"].shape) == (2, 3) and out["logits"].dtype == tf.float32
    np.testing.assert_allclose(out["value"].numpy(), model(obs.astype(np.float32))["value"].numpy(), rtol=1e-6)


@pytest.mark.parametrize("spec", [DISCRETE, BOX], ids=["discrete", "box"])
@pytest.mark.parametrize("shared", [False, True])
def test_save_and_load_keras_safe_mode(tmp_path, spec, shared):
    model = actor_critic(OBS, spec, hidden_sizes=(8,), shared=shared, seed=5, log_std_init=0.3)
    obs = _obs(6)
    before = {k: v.numpy() for k, v in model(obs).items()}
    path = tmp_path / "ac.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = loaded(obs)
    assert isinstance(after, dict) and set(after) == set(before)
    for key in before:
        np.testing.assert_array_equal(after[key].numpy(), before[key])
    for x, y in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert isinstance(loaded.get_layer("value"), Squeeze)
    if spec is BOX:
        assert isinstance(loaded.get_layer("log_std"), StateIndependentLogStd)
        assert loaded.get_layer("log_std").initial_value == pytest.approx(0.3)


@pytest.mark.parametrize(
    "spec",
    [
        BoundedArraySpec((2,), np.int64, 0, 3),  # 2-D int (MultiDiscrete)
        BoundedArraySpec((2, 2), np.float32, -1.0, 1.0),  # a float matrix
        BoundedArraySpec((), np.float32, -1.0, 1.0),  # a float scalar
        ArraySpec((), np.int64),  # an unbounded int
    ],
    ids=["int-vector", "float-matrix", "float-scalar", "unbounded-int"],
)
def test_unsupported_action_spec_is_refused(spec):
    with pytest.raises(UnsupportedSpaceError, match=r"discrete action spec .* or a Box action spec") as info:
        actor_critic(OBS, spec)
    assert str(spec.shape) in str(info.value)
    assert isinstance(info.value, ValueError)
