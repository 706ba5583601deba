"""MuJoCo and Box2D environments through ``tfrl.envs.make``: specs, termination against truncation, the
message for a missing extra, and headless rendering (``tfrl.video.ensure_headless_gl``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from tfrl import envs, video
from tfrl.envs.ids import missing_dependency
from tfrl.errors import MissingDependencyError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType

F, M, L = StepType.FIRST, StepType.MID, StepType.LAST

needs_mujoco = pytest.mark.skipif(importlib.util.find_spec("mujoco") is None,
                                  reason="MuJoCo is not installed (pip install 'tfrl[mujoco]')")
needs_box2d = pytest.mark.skipif(importlib.util.find_spec("Box2D") is None,
                                 reason="Box2D is not installed (pip install 'tfrl[box2d]')")

_GL_VARIABLES = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", video._CHECKED_VARIABLE)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """MuJoCo 4 writes its warnings to MUJOCO_LOG.TXT in the working directory: keep that file out of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def headless(monkeypatch):
    """No display and no MUJOCO_GL; whatever the test (or ``ensure_headless_gl``) sets is undone afterwards."""
    for name in _GL_VARIABLES:
        monkeypatch.setenv(name, "x")  # records the value to restore, even when the variable was not set
        monkeypatch.delenv(name)
    monkeypatch.setattr(video, "_PROBED", {})
    return monkeypatch


def _fake_probe(monkeypatch, working: set[str]) -> list[str]:
    """Replace the subprocess probe: the back-ends in ``working`` render; returns the list of those tried."""
    tried: list[str] = []

    def probe(backend: str, timeout: float = 60.0) -> str | None:
        tried.append(backend)
        return None if backend in working else f"no {backend} library"

    monkeypatch.setattr(video, "_probe_gl", probe)
    return tried


# --------------------------------------------------------------------------- specs, reset and step

CONTINUOUS = [
    # id, observation shape, action shape, action bound
    pytest.param("HalfCheetah-v5", (17,), (6,), 1.0, marks=needs_mujoco),
    pytest.param("Hopper-v5", (11,), (3,), 1.0, marks=needs_mujoco),
    pytest.param("Walker2d-v5", (17,), (6,), 1.0, marks=needs_mujoco),
    pytest.param("Ant-v5", (105,), (8,), 1.0, marks=needs_mujoco),
    pytest.param("Humanoid-v5", (348,), (17,), 0.4, marks=needs_mujoco),
    pytest.param("LunarLanderContinuous-v3", (8,), (2,), 1.0, marks=needs_box2d),
    pytest.param("BipedalWalker-v3", (24,), (4,), 1.0, marks=needs_box2d),
]


@pytest.mark.parametrize("env_id, obs_shape, action_shape, bound", CONTINUOUS)
def test_specs_reset_and_step_with_actions_from_the_action_spec(env_id, obs_shape, action_shape, bound):
    with envs.make(env_id, num_envs=2, seed=0) as env:
        obs_spec, action_spec = env.observation_spec(), env.action_spec()
        assert isinstance(obs_spec, ArraySpec) and obs_spec.shape == obs_shape and obs_spec.dtype == np.float32
        assert isinstance(action_spec, BoundedArraySpec)
        assert action_spec.shape == action_shape and action_spec.dtype == np.float32
        assert np.all(np.isfinite(action_spec.minimum)) and np.all(np.isfinite(action_spec.maximum))
        np.testing.assert_allclose(action_spec.minimum, -bound, rtol=1e-6)
        np.testing.assert_allclose(action_spec.maximum, bound, rtol=1e-6)

        ts = env.reset()
        np.testing.assert_array_equal(ts.step_type, [F, F])
        rng = np.random.default_rng(0)
        for _ in range(5):
            action = rng.uniform(action_spec.minimum, action_spec.maximum, (2, *action_shape)).astype(np.float32)
            ts = env.step(action)
            assert ts.observation.shape == (2, *obs_shape) and ts.observation.dtype == np.float32
            assert np.all(np.isfinite(ts.observation))
            assert ts.reward.shape == (2,) and ts.reward.dtype == np.float32 and np.all(np.isfinite(ts.reward))
            assert set(ts.step_type.tolist()) <= {F, M, L}


# --------------------------------------------------------------------------- termination and truncation


@needs_mujoco
def test_hopper_falling_over_terminates_with_discount_zero():
    with envs.make("Hopper-v5", num_envs=1, seed=0) as env:
        env.reset()
        bad = np.array([[1.0, -1.0, 1.0]], np.float32)  # thigh forward, leg back, foot forward: it falls
        step_types, discounts = [], []
        for _ in range(100):
            ts = env.step(bad)
            step_types.append(int(ts.step_type[0]))
            discounts.append(float(ts.discount[0]))
            if ts.step_type[0] == L:
                break
        assert step_types[-1] == L and discounts[-1] == 0.0, "Hopper did not fall within 100 steps"
        assert set(step_types[:-1]) == {M} and set(discounts[:-1]) == {1.0}
        assert env.step(bad).step_type[0] == F  # auto-reset
        [record] = env.pop_finished()
        assert record.terminated and record.length == len(step_types)


@needs_mujoco
@pytest.mark.parametrize("env_id, action_size", [("Hopper-v5", 3), ("HalfCheetah-v5", 6)])
def test_a_short_time_limit_truncates_with_discount_one(env_id, action_size):
    with envs.make(env_id, num_envs=2, seed=0, max_episode_steps=5) as env:
        env.reset()
        zero = np.zeros((2, action_size), np.float32)  # standing still: Hopper does not fall in 5 steps
        steps = [env.step(zero) for _ in range(6)]
        np.testing.assert_array_equal([s.step_type for s in steps], [[M, M]] * 4 + [[L, L], [F, F]])
        np.testing.assert_array_equal([s.discount for s in steps], np.ones((6, 2)))
        assert [r.terminated for r in env.pop_finished()] == [False, False]


@needs_mujoco
def test_half_cheetah_never_terminates_and_truncates_at_1000_steps():
    with envs.make("HalfCheetah-v5", num_envs=1, seed=0) as env:
        env.reset()
        rng = np.random.default_rng(1)
        actions = rng.uniform(-1, 1, (1000, 1, 6)).astype(np.float32)  # flailing: a Hopper would have fallen
        steps = [env.step(a) for a in actions]
        np.testing.assert_array_equal([s.step_type[0] for s in steps], [M] * 999 + [L])
        assert steps[-1].discount[0] == 1.0
        [record] = env.pop_finished()
        assert not record.terminated and record.length == 1000


# --------------------------------------------------------------------------- a missing extra


@pytest.mark.parametrize("package, gym_package, env_id, extra", [
    ("mujoco", "gymnasium.envs.mujoco", "HalfCheetah-v5", "mujoco"),
    ("mujoco", "gymnasium.envs.mujoco", "gymnasium.envs.mujoco:Hopper-v5", "mujoco"),
    ("Box2D", "gymnasium.envs.box2d", "LunarLanderContinuous-v3", "box2d"),
])
def test_a_missing_package_names_the_tfrl_extra(monkeypatch, package, gym_package, env_id, extra):
    # Gymnasium's environment modules are imported afresh, and ``import package`` fails as if it were not installed.
    for name in list(sys.modules):
        if name == gym_package or name.startswith(gym_package + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingDependencyError) as caught:
        envs.make(env_id, num_envs=1)
    assert str(caught.value) == (f"environment {env_id!r} needs {'Box2D' if extra == 'box2d' else 'MuJoCo'}, which is "
                                 f"not installed; pip install 'tfrl[{extra}]' (which installs gymnasium[{extra}])")


def test_a_missing_module_of_an_extra_names_the_extra_and_others_name_pip():
    error = missing_dependency("my_pkg:Robot-v0", ModuleNotFoundError("No module named 'mujoco'", name="mujoco"))
    assert str(error) == ("environment 'my_pkg:Robot-v0' needs the module 'mujoco', which is not installed; "
                          "pip install 'tfrl[mujoco]' (which installs gymnasium[mujoco])")
    error = missing_dependency("my_pkg:Robot-v0", ModuleNotFoundError("No module named 'pybullet'", name="pybullet"))
    assert str(error).endswith("; install it (pip install pybullet)")


# --------------------------------------------------------------------------- headless OpenGL


def test_ensure_headless_gl_checks_the_users_mujoco_gl_and_leaves_a_display_alone(headless):
    tried = _fake_probe(headless, working={"osmesa"})
    headless.setenv("MUJOCO_GL", "osmesa")
    assert video.ensure_headless_gl() == "osmesa"
    headless.setenv("MUJOCO_GL", "egl")
    with pytest.raises(MissingDependencyError) as caught:
        video.ensure_headless_gl()
    assert str(caught.value) == (
        "MUJOCO_GL='egl' cannot render MuJoCo frames on this machine (no egl library); unset MUJOCO_GL to let tfrl "
        "pick a back-end that works, or install EGL (Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri) or OSMesa "
        "(apt install libosmesa6), or set MUJOCO_GL to a back-end that works (docs/mujoco.md)")
    headless.delenv("MUJOCO_GL")
    headless.setenv("DISPLAY", ":0")
    assert video.ensure_headless_gl() is None and "MUJOCO_GL" not in os.environ
    assert tried == ["osmesa", "egl"]


def test_ensure_headless_gl_sets_the_first_back_end_that_renders_and_probes_once(headless):
    tried = _fake_probe(headless, working={"osmesa"})
    assert video.ensure_headless_gl() == "osmesa" and os.environ["MUJOCO_GL"] == "osmesa"
    headless.delenv("MUJOCO_GL")
    assert video.ensure_headless_gl() == "osmesa"
    assert tried == ["egl", "osmesa"]


def test_ensure_headless_gl_without_a_working_back_end_names_what_to_install(headless):
    tried = _fake_probe(headless, working=set())
    with pytest.raises(MissingDependencyError) as caught:
        video.ensure_headless_gl()
    assert str(caught.value) == (
        "cannot render MuJoCo frames on this machine, which has no display: no OpenGL back-end works "
        "(egl: no egl library; osmesa: no osmesa library; glfw: needs a display (DISPLAY is not set)); install EGL "
        "(Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri) or OSMesa (apt install libosmesa6), or set MUJOCO_GL "
        "to a back-end that works (docs/mujoco.md)")
    assert tried == ["egl", "osmesa"] and "MUJOCO_GL" not in os.environ  # glfw cannot work without a display


@needs_mujoco
def test_make_checks_opengl_for_mujoco_frames_only(headless):
    tried = _fake_probe(headless, working=set())
    envs.make("Hopper-v5", num_envs=1).close()  # training renders nothing: no probe
    envs.make("CartPole-v1", num_envs=1, render_mode="rgb_array").close()  # pygame, no OpenGL
    assert tried == []
    with pytest.raises(MissingDependencyError, match=r"^cannot render MuJoCo frames on this machine"):
        envs.make("Hopper-v5", num_envs=1, render_mode="rgb_array")
    assert tried == ["egl", "osmesa"]
    headless.setenv("MUJOCO_GL", "glfw")  # no display: refused when the environment is made, not at its first frame
    with pytest.raises(MissingDependencyError, match=r"^MUJOCO_GL='glfw' cannot render MuJoCo frames on this machine "
                                                     r"\(needs a display \(DISPLAY is not set\)\); unset MUJOCO_GL"):
        envs.make("Hopper-v5", num_envs=1, render_mode="rgb_array")


@needs_mujoco
def test_a_renderer_that_fails_is_one_error_naming_mujoco_gl(headless, monkeypatch):
    import tfrl.envs.gym_env

    _fake_probe(headless, working={"egl"})
    monkeypatch.setattr(tfrl.envs.gym_env, "_rendering_workers", lambda fns, built: built)  # draw in this process
    with envs.make("Hopper-v5", num_envs=1, seed=0, render_mode="rgb_array") as env:
        env.reset()

        def broken_render():
            raise RuntimeError("an OpenGL platform library has not been loaded")

        env.environment._vec.envs[0].unwrapped.render = broken_render
        with pytest.raises(MissingDependencyError) as caught:
            env.render()
    assert str(caught.value).startswith(
        "MuJoCo environment 'Hopper-v5' cannot use OpenGL with MUJOCO_GL='egl' (RuntimeError: an OpenGL platform "
        "library has not been loaded); unset MUJOCO_GL (and DISPLAY) to let tfrl pick a back-end that works, or ")


def _run_headless(tmp_path, code: str, mujoco_gl: str | None) -> str:
    """What ``code`` prints in a fresh interpreter without a display and with ``MUJOCO_GL=mujoco_gl`` (mujoco reads
    it when first imported, and a crash must not end the test session)."""
    env = {k: v for k, v in os.environ.items() if k not in _GL_VARIABLES}
    if mujoco_gl is not None:
        env["MUJOCO_GL"] = mujoco_gl
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)
    return done.stdout + done.stderr


@needs_mujoco
def test_an_unknown_mujoco_gl_is_one_error_when_mujoco_is_imported(tmp_path):
    out = _run_headless(tmp_path, (
        "from tfrl.envs.ids import check_env_id\n"
        "try:\n    check_env_id('Hopper-v5')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"), "bogus")
    assert out.startswith(
        "MissingDependencyError MuJoCo environment 'Hopper-v5' cannot use OpenGL with MUJOCO_GL='bogus' "
        "(RuntimeError: invalid value for environment variable MUJOCO_GL: bogus); "), out


@needs_mujoco
def test_mujoco_gl_osmesa_is_not_loaded_where_training_runs(tmp_path):
    # libOSMesa brings Mesa's LLVM, which crashes a process that loads TensorFlow's; training never draws a frame.
    out = _run_headless(tmp_path, (
        "import os, sys\n"
        "from tfrl.envs.ids import check_env_id\n"
        "check_env_id('Hopper-v5')\n"
        "print('loaded', sorted(m for m in sys.modules if m == 'OpenGL' or m.startswith('mujoco.osmesa')),"
        " 'MUJOCO_GL', os.environ['MUJOCO_GL'])\n"), "osmesa")
    assert "loaded [] MUJOCO_GL osmesa" in out, out


@needs_mujoco
def test_a_mujoco_frame_renders_headless_beside_tensorflow(tmp_path):
    # No display and no MUJOCO_GL: tfrl picks the back-end. TensorFlow is loaded first, as in tfrl watch: Mesa's
    # llvmpipe and TensorFlow each bring an LLVM, and one process with both crashes at the first frame, so the
    # adapter draws MuJoCo frames in a spawned worker.
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed")
    out = _run_headless(tmp_path, (
        "import numpy as np, tensorflow\n"  # importing it is enough to crash a frame drawn in this process
        "from tfrl import envs\n"
        "from tfrl.errors import MissingDependencyError\n"
        "try:\n"
        "    env = envs.make('Hopper-v5', seed=0, render_mode='rgb_array', env_kwargs={'width': 32, 'height': 24})\n"
        "except MissingDependencyError as e:\n"
        "    raise SystemExit(f'skip: {e}')\n"
        "env.reset()\n"
        "env.step(np.zeros((1, 3), np.float32))\n"
        "frame = env.render()\n"
        "print('frame', frame.shape, frame.dtype, frame.std() > 0)\n"
        "env.close()\n"), None)
    if "skip: " in out:
        pytest.skip(f"no OpenGL back-end renders on this machine: {out.split('skip: ', 1)[1].strip()}")
    assert "frame (24, 32, 3) uint8 True" in out, out
