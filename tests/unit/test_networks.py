"""Tests of tfrl.networks: Q-network shapes, the dueling head's math, seeding and .keras round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrl.networks import DuelingHead, mlp_torso, q_network
from tfrl.specs import ArraySpec

OBS = ArraySpec((4,), np.float32)


def _obs(batch=5, seed=0, spec=OBS):
    return np.random.default_rng(seed).normal(size=(batch, *spec.shape)).astype(spec.dtype)


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("batch", [1, 7])
def test_q_network_output_shape(dueling, batch):
    model = q_network(OBS, 3, hidden_sizes=(8, 8), dueling=dueling, seed=0)
    q = np.asarray(model(_obs(batch)))
    assert q.shape == (batch, 3)
    assert q.dtype == np.float32
    assert np.all(np.isfinite(q))
    assert model.output_shape == (None, 3)


def test_q_network_layers():
    plain = q_network(OBS, 2, hidden_sizes=(16, 8), seed=0)
    names = [layer.name for layer in plain.layers]
    assert names[-1] == "q_values"
    assert plain.get_layer("torso_dense0").units == 16
    assert plain.get_layer("torso_dense1").units == 8
    assert plain.get_layer("q_values").units == 2
    dueling = q_network(OBS, 2, hidden_sizes=(16,), dueling=True, seed=0)
    head = dueling.get_layer("dueling_head")
    assert isinstance(head, DuelingHead) and head.num_actions == 2
    # kernel + bias per Dense: torso 1 layer, value, advantage
    assert len(dueling.trainable_variables) == 6


def test_q_network_integer_observations_are_cast_to_float():
    spec = ArraySpec((2, 3), np.uint8)
    model = q_network(spec, 4, hidden_sizes=(8,), seed=0)
    obs = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    q = np.asarray(model(obs))
    assert q.shape == (2, 4) and q.dtype == np.float32
    np.testing.assert_allclose(q, np.asarray(model(obs.astype(np.float32))), rtol=1e-6)


def test_q_network_refuses_zero_actions():
    with pytest.raises(ValueError, match="num_actions must be >= 1"):
        q_network(OBS, 0)


def test_dueling_head_math_with_hand_set_weights():
    head = DuelingHead(3, name="head")
    head.build((None, 2))
    w_v = np.array([[0.5], [-1.0]], np.float32)
    b_v = np.array([0.25], np.float32)
    w_a = np.array([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]], np.float32)
    b_a = np.array([0.1, 0.2, 0.3], np.float32)
    head.value.set_weights([w_v, b_v])
    head.advantage.set_weights([w_a, b_a])
    x = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    out = np.asarray(head(x))

    v = x @ w_v + b_v  # [B, 1]
    a = x @ w_a + b_a  # [B, 3]
    expected = v + a - a.mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # first row by hand: V = 0.5 - 2 + 0.25 = -1.25, A = [1.1, -1.8, 4.3], mean(A) = 1.2
    np.testing.assert_allclose(out[0], [-1.35, -4.25, 1.85], atol=1e-5)
    # the mean over actions of Q is V: the advantages are centred
    np.testing.assert_allclose(out.mean(axis=-1), v[:, 0], atol=1e-5)


def test_dueling_head_inside_q_network():
    model = q_network(OBS, 3, hidden_sizes=(5,), dueling=True, seed=3)
    head = model.get_layer("dueling_head")
    rng = np.random.default_rng(1)
    head.value.set_weights([rng.normal(size=(5, 1)).astype(np.float32), np.array([0.7], np.float32)])
    head.advantage.set_weights([rng.normal(size=(5, 3)).astype(np.float32), np.array([1.0, -2.0, 0.5], np.float32)])
    obs = _obs(4)
    w0, b0 = model.get_layer("torso_dense0").get_weights()
    features = np.maximum(obs @ w0 + b0, 0.0)
    w_v, b_v = head.value.get_weights()
    w_a, b_a = head.advantage.get_weights()
    v = features @ w_v + b_v
    a = features @ w_a + b_a
    np.testing.assert_allclose(np.asarray(model(obs)), v + a - a.mean(-1, keepdims=True), rtol=1e-5, atol=1e-5)


def test_dueling_head_config_round_trip():
    head = DuelingHead(4, seed=7, name="h")
    config = head.get_config()
    assert config["num_actions"] == 4 and config["seed"] == 7
    clone = DuelingHead.from_config(config)
    assert clone.num_actions == 4 and clone.seed == 7 and clone.name == "h"
    assert clone.compute_output_shape((None, 9)) == (None, 4)


@pytest.mark.parametrize("dueling", [False, True])
def test_same_seed_same_weights_different_seed_different_weights(dueling):
    a = q_network(OBS, 3, hidden_sizes=(8, 8), dueling=dueling, seed=11).get_weights()
    b = q_network(OBS, 3, hidden_sizes=(8, 8), dueling=dueling, seed=11).get_weights()
    c = q_network(OBS, 3, hidden_sizes=(8, 8), dueling=dueling, seed=12).get_weights()
    assert len(a) == len(b) == len(c)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    kernels = [i for i, w in enumerate(a) if w.ndim == 2]
    for i in kernels:
        assert not np.allclose(a[i], c[i]), f"kernel {i} is the same for seeds 11 and 12"


def test_layers_get_distinct_initialisations():
    model = q_network(OBS, 4, hidden_sizes=(4, 4), seed=0)  # dense0, dense1 and q_values kernels all 4x4
    kernels = [model.get_layer(n).get_weights()[0] for n in ("torso_dense0", "torso_dense1", "q_values")]
    assert all(k.shape == (4, 4) for k in kernels)
    assert not np.allclose(kernels[0], kernels[1])
    assert not np.allclose(kernels[1], kernels[2])


def test_mlp_torso_output_width():
    inputs = keras.Input((2, 3))
    out = mlp_torso(inputs, (6, 5), seed=0, name="t")
    model = keras.Model(inputs, out)
    assert model.output_shape == (None, 5)
    assert [layer.name for layer in model.layers[1:]] == ["t_flatten", "t_dense0", "t_dense1"]


@pytest.mark.parametrize("dueling", [True, False])
def test_save_and_load_keras_safe_mode(tmp_path, dueling):
    model = q_network(OBS, 3, hidden_sizes=(8,), dueling=dueling, seed=5)
    obs = _obs(6)
    before = np.asarray(model(obs))
    path = tmp_path / "q.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(obs)), before)
    if dueling:
        assert isinstance(loaded.get_layer("dueling_head"), DuelingHead)
    for x, y in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(x, y)
