"""Tests of the Nature DQN encoder (``tfrl.networks.nature_cnn``) and of ``encoder="nature_cnn"`` in builders/agents."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrl.agents.a2c import A2CAgent, A2CConfig
from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.agents.ppo import PPOAgent, PPOConfig
from tfrl.data import Transition
from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.networks import actor_critic, nature_cnn, q_network
from tfrl.specs import ArraySpec, BoundedArraySpec

IMAGE = BoundedArraySpec((84, 84, 4), np.uint8, 0, 255)
ACTIONS = BoundedArraySpec((), np.int64, 0, 3)  # 4 actions
BOX = BoundedArraySpec((2,), np.float32, -1.0, 1.0)
B = 3


def images(batch=B, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(batch, 84, 84, 4), dtype=np.uint8)


def encoder_model(seed=0, **kwargs) -> keras.Model:
    inputs = keras.Input((84, 84, 4), dtype="uint8")
    return keras.Model(inputs, nature_cnn(inputs, seed=seed, **kwargs))


def differs(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- the encoder


def test_stage_shapes_for_84x84x4():
    model = encoder_model()
    stages = ["nature_cnn_rescale", "nature_cnn_conv0", "nature_cnn_conv1", "nature_cnn_conv2", "nature_cnn_dense"]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in stages])
    outputs = [np.asarray(o) for o in probe(images())]
    assert [o.shape for o in outputs] == [(B, 84, 84, 4), (B, 20, 20, 32), (B, 9, 9, 64), (B, 7, 7, 64), (B, 512)]
    assert [o.dtype for o in outputs] == [np.float32] * 5
    assert all((o >= 0).all() for o in outputs[1:])  # ReLU everywhere
    # strides and kernels of the paper
    assert [model.get_layer(f"nature_cnn_conv{i}").kernel.shape for i in range(3)] == [
        (8, 8, 4, 32), (4, 4, 32, 64), (3, 3, 64, 64)]
    assert [model.get_layer(f"nature_cnn_conv{i}").strides for i in range(3)] == [(4, 4), (2, 2), (1, 1)]
    assert model.get_layer("nature_cnn_dense").kernel.shape == (7 * 7 * 64, 512)


def test_scaling_by_1_over_255_inside_the_model():
    model = encoder_model(seed=1)
    x = images(seed=2)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0, 255
    rescale = keras.Model(model.input, model.get_layer("nature_cnn_rescale").output)
    scaled = np.asarray(rescale(x))
    np.testing.assert_allclose(scaled, x.astype(np.float32) / 255.0, rtol=1e-6, atol=0)
    assert scaled[0, 0, 0, 0] == 0.0 and scaled[0, 0, 0, 1] == pytest.approx(1.0)
    # the uint8 model equals the conv stack applied by hand to x / 255 as float
    h = x.astype(np.float32) / 255.0
    for name in ("conv0", "conv1", "conv2", "flatten", "dense"):
        h = model.get_layer(f"nature_cnn_{name}")(h)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(h), rtol=1e-5, atol=1e-6)


def test_seeded_initializers():
    a, b, c = encoder_model(seed=5), encoder_model(seed=5), encoder_model(seed=6)
    assert not differs(a.get_weights(), b.get_weights())
    assert differs(a.get_weights(), c.get_weights())
    kernels = [w for w in a.get_weights() if w.ndim > 1]
    assert len(kernels) == 4 and all(not np.array_equal(k.ravel()[:8], kernels[0].ravel()[:8]) for k in kernels[1:])
    # orthogonal sqrt(2) option: the flattened conv kernel has orthogonal columns of norm sqrt(2)
    ortho = encoder_model(seed=5, initializer="orthogonal")
    k = ortho.get_layer("nature_cnn_conv2").kernel.numpy().reshape(-1, 64)  # [576, 64]
    np.testing.assert_allclose(k.T @ k, 2.0 * np.eye(64), atol=1e-4)
    with pytest.raises(ValueError, match="initializer"):
        encoder_model(initializer="he")


# --------------------------------------------------------------------------- builders


@pytest.mark.parametrize("dueling", [False, True])
def test_q_network_nature_cnn(dueling):
    model = q_network(IMAGE, 4, dueling=dueling, seed=0, encoder="nature_cnn")
    assert model.input.dtype == "uint8" and model.output_shape == (None, 4)
    q = np.asarray(model(images()))
    assert q.shape == (B, 4) and q.dtype == np.float32 and np.isfinite(q).all()
    names = {layer.name for layer in model.layers}
    assert {"nature_cnn_conv0", "nature_cnn_dense"} <= names
    assert ("dueling_head" in names) == dueling and ("q_values" in names) != dueling
    assert not any(n.startswith("torso_dense") for n in names)  # hidden_sizes ignored


def test_nature_q_network_parameter_count():
    # conv 8x8x4x32+32, 4x4x32x64+64, 3x3x64x64+64, dense 3136x512+512, head 512x4+4
    expected = 8224 + 32832 + 36928 + 1606144 + 2052
    assert expected == 1_686_180
    assert q_network(IMAGE, 4, encoder="nature_cnn").count_params() == expected
    # dueling: value 512+1 instead of nothing extra on top of the advantage stream 512x4+4
    assert q_network(IMAGE, 4, dueling=True, encoder="nature_cnn").count_params() == expected + 513


def test_actor_critic_nature_cnn_discrete_and_box():
    model = actor_critic(IMAGE, ACTIONS, seed=0, encoder="nature_cnn")
    out = model(images())
    assert set(out) == {"logits", "value"}
    assert tuple(out["logits"].shape) == (B, 4) and tuple(out["value"].shape) == (B,)
    names = [layer.name for layer in model.layers]
    # one shared CNN torso, no MLP torsos
    assert sum(n.endswith("conv0") for n in names) == 1 and "torso_conv0" in names
    assert not any(n.startswith(("actor_dense", "critic_dense")) for n in names)
    # orthogonal sqrt(2) torso like the MLP torso of actor_critic
    k = model.get_layer("torso_dense").kernel.numpy()  # [3136, 512]
    np.testing.assert_allclose(k.T @ k, 2.0 * np.eye(512), atol=1e-3)

    box = actor_critic(IMAGE, BOX, seed=0, shared=False, encoder="nature_cnn")
    out = box(images())
    assert {k: tuple(v.shape) for k, v in out.items()} == {"mean": (B, 2), "log_std": (B, 2), "value": (B,)}


@pytest.mark.parametrize(
    "spec",
    [
        ArraySpec((4,), np.float32),
        ArraySpec((84, 84, 4), np.float32),
        ArraySpec((84, 84), np.uint8),
        ArraySpec((4, 84, 84), np.uint8),
        ArraySpec((20, 20, 3), np.uint8),
    ],
)
def test_builders_refuse_non_image_specs(spec):
    with pytest.raises(UnsupportedSpaceError, match=r"\(84, 84, 4\)"):
        q_network(spec, 4, encoder="nature_cnn")
    with pytest.raises(UnsupportedSpaceError, match="uint8"):
        actor_critic(spec, ACTIONS, encoder="nature_cnn")
    with pytest.raises(ValueError, match="encoder"):
        q_network(IMAGE, 4, encoder="resnet")


def test_channels_first_hint():
    with pytest.raises(UnsupportedSpaceError, match="channels-first"):
        q_network(ArraySpec((4, 84, 84), np.uint8), 4, encoder="nature_cnn")


def test_safe_mode_save_load_round_trip(tmp_path):
    x = images(seed=7)
    for model in (
        q_network(IMAGE, 4, seed=1, encoder="nature_cnn"),
        q_network(IMAGE, 4, dueling=True, seed=1, encoder="nature_cnn"),
        actor_critic(IMAGE, ACTIONS, seed=1, encoder="nature_cnn"),
    ):
        path = tmp_path / f"{model.name}_{len(model.layers)}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert loaded.input.dtype == "uint8"
        a, b = model(x), loaded(x)
        if isinstance(a, dict):
            assert set(a) == set(b)
            for key in a:
                np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mlp_default_unchanged():
    spec = ArraySpec((4,), np.float32)
    default, explicit = q_network(spec, 2, seed=3), q_network(spec, 2, seed=3, encoder="mlp")
    assert [layer.name for layer in default.layers] == [layer.name for layer in explicit.layers]
    assert not differs(default.get_weights(), explicit.get_weights())
    assert not any("conv" in layer.name for layer in default.layers)
    ac_default, ac_mlp = actor_critic(spec, ACTIONS, seed=3), actor_critic(spec, ACTIONS, seed=3, encoder="mlp")
    assert [layer.name for layer in ac_default.layers] == [layer.name for layer in ac_mlp.layers]
    assert not differs(ac_default.get_weights(), ac_mlp.get_weights())
    assert DQNConfig().encoder == PPOConfig().encoder == A2CConfig().encoder == "mlp"


# --------------------------------------------------------------------------- agents

DQN_SMALL = dict(encoder="nature_cnn", batch_size=4, buffer_size=16, jit_compile=False, learning_rate=1e-3,
                 target_update_interval=100)


def image_batch(G=1, batch=4, seed=0) -> Transition:
    rng = np.random.default_rng(seed)
    return Transition(
        observation=rng.integers(0, 256, size=(G, batch, 84, 84, 4), dtype=np.uint8),
        action=rng.integers(0, 4, size=(G, batch)).astype(np.int64),
        reward=rng.normal(size=(G, batch)).astype(np.float32),
        discount=np.full((G, batch), 0.99, np.float32),
        next_observation=rng.integers(0, 256, size=(G, batch, 84, 84, 4), dtype=np.uint8),
    )


def test_dqn_agent_nature_cnn_trains_and_is_seeded():
    agent = DQNAgent(DQNConfig(**DQN_SMALL), IMAGE, ACTIONS, total_steps=100, seed=0)
    assert agent.q_network.get_layer("nature_cnn_conv0") is not None
    twin = DQNAgent(DQNConfig(**DQN_SMALL), IMAGE, ACTIONS, total_steps=100, seed=0)
    other = DQNAgent(DQNConfig(**DQN_SMALL), IMAGE, ACTIONS, total_steps=100, seed=1)
    before = agent.q_network.get_weights()
    assert not differs(before, twin.q_network.get_weights())
    assert differs(before, other.q_network.get_weights())

    out = agent.train(image_batch(seed=1))
    assert int(agent.num_updates.numpy()) == 1
    assert all(np.isfinite(v) for v in out.values()) and out["losses/grad_norm"] > 0
    after = agent.q_network.get_weights()
    assert differs(before, after)
    twin.train(image_batch(seed=1))
    assert not differs(after, twin.q_network.get_weights())  # same seed, same batch: same weights

    action = agent.eval_policy.action(images(batch=2))
    assert action.shape == (2,) and ((0 <= action) & (action <= 3)).all()


def test_dqn_agent_refuses_vector_observations_with_nature_cnn():
    with pytest.raises(UnsupportedSpaceError, match=r"DQN with encoder='nature_cnn'.*\(84, 84, 4\)"):
        DQNAgent(DQNConfig(**DQN_SMALL), ArraySpec((4,), np.float32), ACTIONS, total_steps=100)


def test_configs_validate_encoder():
    for config_type in (DQNConfig, PPOConfig, A2CConfig):
        with pytest.raises(ConfigError, match="encoder"):
            config_type(encoder="resnet")
    for config_type in (PPOConfig, A2CConfig):
        with pytest.raises(ConfigError, match="normalize_observations"):
            config_type(encoder="nature_cnn", normalize_observations=True)


@pytest.mark.parametrize("agent_type, config", [
    (PPOAgent, PPOConfig(encoder="nature_cnn", num_steps=4, batch_size=4, jit_compile=False)),
    (A2CAgent, A2CConfig(encoder="nature_cnn", num_steps=4, jit_compile=False)),
])
def test_actor_critic_agents_build_nature_cnn(agent_type, config):
    agent = agent_type(config, IMAGE, ACTIONS, total_steps=100, seed=0)
    assert agent.core.model.get_layer("torso_conv0") is not None
    env_action, raw_action, log_prob, value = agent.act(images(batch=2))
    assert env_action.shape == raw_action.shape == log_prob.shape == value.shape == (2,)
    assert np.isfinite(log_prob).all() and np.isfinite(value).all()
    with pytest.raises(UnsupportedSpaceError, match=r"nature_cnn.*\(84, 84, 4\)"):
        agent_type(config, ArraySpec((4,), np.float32), ACTIONS, total_steps=100, seed=0)


def test_xla_defaults_on_for_mlps_and_off_for_the_cnn():
    from tfrl.agents.a2c import A2CConfig
    from tfrl.agents.dqn import DQNConfig
    from tfrl.agents.ppo import PPOConfig

    for config_class in (DQNConfig, PPOConfig, A2CConfig):
        assert config_class().xla is True
        assert config_class(encoder="nature_cnn").xla is False
        assert config_class(encoder="nature_cnn", jit_compile=True).xla is True
        assert config_class(jit_compile=False).xla is False
