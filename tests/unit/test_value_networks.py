"""Tests of tfrl.value_networks: the noisy layer's math and noise stream, distributional heads, Q views, seeding and
.keras round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrl.errors import UnsupportedSpaceError
from tfrl.value_networks import (
    CategoricalQ,
    DistributionalHead,
    NoisyDense,
    QuantileQ,
    categorical_support,
    q_values_model,
    value_network,
)
from tfrl.specs import ArraySpec

OBS = ArraySpec((4,), np.float32)
IMAGE = ArraySpec((36, 36, 4), np.uint8)


def _x(batch=3, p=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, p)).astype(np.float32)


def _obs(spec, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    if spec.dtype == np.uint8:
        return rng.integers(0, 256, size=(batch, *spec.shape), dtype=np.uint8)
    return rng.normal(size=(batch, *spec.shape)).astype(spec.dtype)


def _layer(units=3, p=4, seed=7, sigma0=0.5, activation=None):
    layer = NoisyDense(units, sigma0=sigma0, activation=activation, seed=seed)
    layer.build((None, p))
    return layer


# --------------------------------------------------------------------------- NoisyDense


def test_noisy_training_calls_differ_and_advance_the_counter():
    layer, x = _layer(), _x()
    assert int(layer.noise_counter.numpy()) == 0
    first, second = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    assert int(layer.noise_counter.numpy()) == 2
    assert not np.allclose(first, second)
    # one noise draw shared by the whole batch: identical rows give identical outputs
    same_rows = np.repeat(x[:1], 2, axis=0)
    out = np.asarray(layer(same_rows, training=True))
    np.testing.assert_array_equal(out[0], out[1])


def test_noisy_evaluation_is_the_mean_weights_by_hand():
    layer, x = _layer(activation="relu"), _x()
    expected = np.maximum(x @ layer.mu_kernel.numpy() + layer.mu_bias.numpy(), 0.0)
    for training in (False, None):
        np.testing.assert_allclose(np.asarray(layer(x, training=training)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(layer(x)))
    assert int(layer.noise_counter.numpy()) == 0  # evaluation draws no noise


def test_noisy_training_output_is_the_factorised_formula_by_hand():
    p, q = 6, 5
    layer, x = _layer(units=q, p=p), _x(p=p)
    layer.sigma_kernel.assign(np.random.default_rng(1).uniform(0.1, 0.9, size=(p, q)).astype(np.float32))
    out = np.asarray(layer(x, training=True))
    f_in, f_out = (np.asarray(e) for e in layer.factorised_noise(1))
    # the raw draw keyed by [layer seed, counter], to check f(e) = sign(e) sqrt(|e|)
    raw = tf.random.stateless_normal([p + q], seed=tf.constant([layer.noise_seed, 1], tf.int64), alg="philox")
    raw = np.asarray(raw)
    assert np.any(raw[:p] < 0) and np.any(raw[p:] < 0) and np.any(raw > 0)  # so the signs are checked
    np.testing.assert_allclose(f_in, np.sign(raw[:p]) * np.sqrt(np.abs(raw[:p])), rtol=1e-6)
    np.testing.assert_allclose(f_out, np.sign(raw[p:]) * np.sqrt(np.abs(raw[p:])), rtol=1e-6)
    eps_w = np.outer(f_in, f_out)  # Keras kernels are [p, q]: eps_w[i, j] = f(eps_in)_i f(eps_out)_j
    w = layer.mu_kernel.numpy() + layer.sigma_kernel.numpy() * eps_w
    b = layer.mu_bias.numpy() + layer.sigma_bias.numpy() * f_out
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-5, atol=1e-6)


def test_noisy_initialisation_follows_the_paper():
    p, sigma0 = 16, 0.4
    layer = _layer(units=32, p=p, sigma0=sigma0)
    np.testing.assert_allclose(layer.sigma_kernel.numpy(), np.full((p, 32), sigma0 / np.sqrt(p)), rtol=1e-6)
    np.testing.assert_allclose(layer.sigma_bias.numpy(), np.full((32,), sigma0 / np.sqrt(p)), rtol=1e-6)
    for mu in (layer.mu_kernel.numpy(), layer.mu_bias.numpy()):
        assert np.all(np.abs(mu) <= 1.0 / np.sqrt(p)) and mu.std() > 0.1 / np.sqrt(p)
    assert [w.name for w in layer.trainable_weights] == ["mu_kernel", "sigma_kernel", "mu_bias", "sigma_bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["noise_counter"]


def test_one_seed_gives_one_noise_stream():
    x = _x()
    a, b, other = _layer(seed=3), _layer(seed=3), _layer(seed=4)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    np.testing.assert_array_equal(np.asarray(a(x, training=True)), np.asarray(b(x, training=True)))
    np.testing.assert_array_equal(np.asarray(a(x, training=True)), np.asarray(b(x, training=True)))
    assert not np.allclose(a.mu_kernel.numpy(), other.mu_kernel.numpy())
    other.set_weights(a.get_weights())  # same weights and counter, different noise key
    assert not np.allclose(np.asarray(a(x, training=True)), np.asarray(other(x, training=True)))


def test_gradients_reach_the_mean_and_sigma_weights():
    layer, x = _layer(), _x()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    grads = tape.gradient(loss, layer.trainable_weights)
    for weight, grad in zip(layer.trainable_weights, grads):
        assert grad is not None and np.any(np.asarray(grad) != 0), weight.name


def test_noise_works_under_xla_and_is_reproducible_there():
    x = _x()
    layer, twin = _layer(seed=9), _layer(seed=9)
    noisy = tf.function(lambda inputs: layer(inputs, training=True), jit_compile=True)
    first, second = np.asarray(noisy(x)), np.asarray(noisy(x))
    assert int(layer.noise_counter.numpy()) == 2
    assert not np.allclose(first, second)
    mean = x @ layer.mu_kernel.numpy() + layer.mu_bias.numpy()
    assert not np.allclose(first, mean)
    layer.noise_counter.assign(0)  # the counter is the whole noise state: resetting it replays the stream
    np.testing.assert_array_equal(np.asarray(noisy(x)), first)
    twin_noisy = tf.function(lambda inputs: twin(inputs, training=True), jit_compile=True)
    np.testing.assert_array_equal(np.asarray(twin_noisy(x)), first)  # one seed, one stream under XLA too
    evaluate = tf.function(lambda inputs: layer(inputs, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(evaluate(x)), mean, rtol=1e-5, atol=1e-6)
    assert int(layer.noise_counter.numpy()) == 1


def test_the_counter_advances_in_graph_mode_even_if_the_output_is_unused():
    layer, x = _layer(), _x()

    @tf.function
    def discard(inputs):
        layer(inputs, training=True)
        return tf.constant(0)

    discard(x)
    discard(x)
    assert int(layer.noise_counter.numpy()) == 2


def test_noisy_dense_config_round_trip_keeps_the_seed():
    layer = NoisyDense(5, sigma0=0.3, activation="relu", name="n")
    assert isinstance(layer.seed, int)  # seed=None is resolved and recorded
    clone = NoisyDense.from_config(layer.get_config())
    assert (clone.units, clone.sigma0, clone.seed, clone.noise_seed) == (5, 0.3, layer.seed, layer.noise_seed)
    assert clone.get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="units must be >= 1"):
        NoisyDense(0)
    with pytest.raises(ValueError, match="sigma0 must be >= 0"):
        NoisyDense(2, sigma0=-1.0)


# --------------------------------------------------------------------------- value_network


@pytest.mark.parametrize("encoder", ["mlp", "nature_cnn"])
@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize("dueling", [False, True])
def test_value_network_shapes(encoder, noisy, dueling):
    spec = IMAGE if encoder == "nature_cnn" else OBS
    for num_atoms in (1, 5):
        model = value_network(spec, 3, num_atoms, hidden_sizes=(8, 8), dueling=dueling, noisy=noisy, seed=0,
                              encoder=encoder)
        assert model.output_shape == (None, 3, num_atoms)
        obs = _obs(spec, batch=2)
        for training in (False, True):
            out = np.asarray(model(obs, training=training))
            assert out.shape == (2, 3, num_atoms) and out.dtype == np.float32 and np.all(np.isfinite(out))
    dense = model.get_layer("torso_dense" if encoder == "nature_cnn" else "torso_dense0")
    assert isinstance(dense, NoisyDense if noisy else keras.layers.Dense)
    assert dense.units == (512 if encoder == "nature_cnn" else 8)
    head = model.get_layer("head")
    assert isinstance(head, DistributionalHead) and (head.dueling, head.noisy) == (dueling, noisy)
    streams = [head.value, head.advantage] if dueling else [head.logits]
    assert all(isinstance(s, NoisyDense if noisy else keras.layers.Dense) for s in streams)
    if encoder == "nature_cnn":
        assert [model.get_layer(f"torso_conv{i}").filters for i in range(3)] == [32, 64, 64]
        assert [model.get_layer(f"torso_conv{i}").strides for i in range(3)] == [(4, 4), (2, 2), (1, 1)]
    counters = [w for w in model.non_trainable_weights if w.name == "noise_counter"]
    assert len(counters) == (0 if not noisy else (2 if encoder == "nature_cnn" else 3) + int(dueling))


@pytest.mark.parametrize("noisy", [False, True])
def test_dueling_head_is_value_plus_centred_advantage(noisy):
    model = value_network(OBS, 4, 3, hidden_sizes=(8,), dueling=True, noisy=noisy, seed=1)
    head = model.get_layer("head")
    features = keras.Model(model.input, head.input)(_obs(OBS))
    v = np.asarray(head.value(features)).reshape(-1, 1, 3)
    a = np.asarray(head.advantage(features)).reshape(-1, 4, 3)
    expected = v + a - a.mean(axis=1, keepdims=True)
    out = np.asarray(model(_obs(OBS)))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.mean(axis=1), v[:, 0], rtol=1e-5, atol=1e-5)  # mean over actions is V


def test_plain_head_is_the_reshaped_linear_layer():
    model = value_network(OBS, 2, 3, hidden_sizes=(8,), seed=1)
    head = model.get_layer("head")
    features = keras.Model(model.input, head.input)(_obs(OBS))
    expected = np.asarray(head.logits(features)).reshape(-1, 2, 3)
    np.testing.assert_allclose(np.asarray(model(_obs(OBS))), expected, rtol=1e-6)


def test_one_seed_gives_one_network():
    for kwargs in (dict(noisy=True, dueling=True), dict(encoder="nature_cnn", noisy=True)):
        spec = IMAGE if kwargs.get("encoder") == "nature_cnn" else OBS
        a, b, c = (value_network(spec, 3, 4, hidden_sizes=(8,), seed=s, **kwargs) for s in (5, 5, 6))
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
        assert not all(np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()) if wa.ndim)
        trainable = [w.numpy() for w in a.trainable_weights if len(w.shape) == 2]
        assert len({w.tobytes() for w in trainable}) == len(trainable)  # no two layers share an initialiser
        obs = _obs(spec)
        np.testing.assert_array_equal(np.asarray(a(obs, training=True)), np.asarray(b(obs, training=True)))


def test_integer_observations_are_cast_to_float():
    spec = ArraySpec((2, 3), np.int32)
    model = value_network(spec, 2, 3, hidden_sizes=(8,), seed=0)
    obs = np.arange(12, dtype=np.int32).reshape(2, 2, 3)
    np.testing.assert_allclose(np.asarray(model(obs)), np.asarray(model(obs.astype(np.float32))), rtol=1e-6)


def test_value_network_refuses_bad_arguments():
    with pytest.raises(ValueError, match="num_actions must be >= 1"):
        value_network(OBS, 0)
    with pytest.raises(ValueError, match="num_atoms must be >= 1"):
        value_network(OBS, 2, 0)
    with pytest.raises(ValueError, match="encoder must be one of"):
        value_network(OBS, 2, encoder="resnet")
    with pytest.raises(UnsupportedSpaceError, match="value_network with encoder='nature_cnn' needs uint8"):
        value_network(OBS, 2, encoder="nature_cnn")


# --------------------------------------------------------------------------- Q views


def test_categorical_q_is_the_softmax_expectation():
    logits = np.random.default_rng(2).normal(size=(3, 2, 5)).astype(np.float32) * 3
    z = np.linspace(-10.0, 10.0, 5)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    got = np.asarray(CategoricalQ(-10.0, 10.0)(logits))
    np.testing.assert_allclose(got, (probs * z).sum(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(categorical_support(-10, 10, 5)), z, rtol=1e-6)
    assert categorical_support(-1, 1, 3).dtype == tf.float32
    with pytest.raises(ValueError, match="v_min must be < v_max"):
        CategoricalQ(1.0, 1.0)
    with pytest.raises(ValueError, match="num_atoms must be >= 2"):
        categorical_support(0, 1, 1)


def test_quantile_q_is_the_mean():
    quantiles = np.random.default_rng(3).normal(size=(3, 2, 7)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(QuantileQ()(quantiles)), quantiles.mean(-1), rtol=1e-5, atol=1e-6)


def test_q_values_models_share_the_network_weights():
    network = value_network(OBS, 3, 7, hidden_sizes=(8,), seed=0)
    obs = _obs(OBS)
    quantile = q_values_model(network, "quantile")
    categorical = q_values_model(network, "categorical", v_min=-5.0, v_max=5.0)
    np.testing.assert_allclose(np.asarray(quantile(obs)), np.asarray(network(obs)).mean(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(categorical(obs)), np.asarray(CategoricalQ(-5, 5)(network(obs))),
                               rtol=1e-6)
    assert {id(w) for w in quantile.weights} == {id(w) for w in network.weights}
    before = np.asarray(quantile(obs))
    network.get_layer("head").logits.bias.assign(np.ones(21, np.float32))
    np.testing.assert_allclose(np.asarray(quantile(obs)), before + 1.0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="needs v_min and v_max"):
        q_values_model(network, "categorical")
    with pytest.raises(ValueError, match="takes no v_min"):
        q_values_model(network, "quantile", v_min=0.0)
    with pytest.raises(ValueError, match="kind must be"):
        q_values_model(network, "expectile")


def test_noisy_dueling_categorical_q_model_round_trips_through_a_keras_file(tmp_path):
    network = value_network(OBS, 3, 11, hidden_sizes=(16, 16), dueling=True, noisy=True, seed=4)
    q = q_values_model(network, "categorical", v_min=-10.0, v_max=10.0, name="policy")
    obs = _obs(OBS, batch=6)
    q(obs, training=True)  # advance the noise counters: they are saved too
    q.save(tmp_path / "policy.keras")
    loaded = keras.saving.load_model(tmp_path / "policy.keras", safe_mode=True)
    assert loaded.name == "policy" and loaded.output_shape == (None, 3)
    np.testing.assert_array_equal(np.asarray(loaded(obs, training=False)), np.asarray(q(obs, training=False)))
    for saved, original in zip(loaded.weights, q.weights):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(original))
    assert [int(w.numpy()) for w in loaded.non_trainable_weights] == [1] * 4
    # the noise stream continues where it stopped
    np.testing.assert_array_equal(np.asarray(loaded(obs, training=True)), np.asarray(q(obs, training=True)))
    assert isinstance(loaded.get_layer("head"), DistributionalHead)
    assert isinstance(loaded.get_layer("categorical_q"), CategoricalQ)


def test_quantile_network_round_trips_through_a_keras_file(tmp_path):
    network = value_network(IMAGE, 2, 4, noisy=True, seed=0, encoder="nature_cnn")
    q = q_values_model(network, "quantile")
    network.save(tmp_path / "network.keras")
    q.save(tmp_path / "q.keras")
    obs = _obs(IMAGE)
    for path, model in (("network.keras", network), ("q.keras", q)):
        loaded = keras.saving.load_model(tmp_path / path, safe_mode=True)
        np.testing.assert_array_equal(np.asarray(loaded(obs)), np.asarray(model(obs)))


def test_data_efficient_encoder_shapes_and_parameter_count():
    """Two 5x5 stride-5 convolutions (84 -> 16 -> 3), then the hidden layers: the memory check counts it exactly."""
    from tfrl.runs.memory import nature_cnn_parameters

    spec = ArraySpec((84, 84, 4), np.uint8)
    net = value_network(spec, 6, num_atoms=51, hidden_sizes=(256,), dueling=False, seed=0,
                        encoder="data_efficient_cnn")
    assert net.get_layer("torso_conv0").output.shape[1:] == (16, 16, 32)
    assert net.get_layer("torso_conv1").output.shape[1:] == (3, 3, 64)
    assert net(np.zeros((2, 84, 84, 4), np.uint8)).shape == (2, 6, 51)
    convs, features = nature_cnn_parameters((84, 84, 4), ((32, 5, 5), (64, 5, 5)), units=0)
    assert features == 576
    assert net.count_params() == convs + (576 + 1) * 256 + (256 + 1) * 6 * 51
