"""The guide's chapter scripts (docs/guide/NN_*.py) in fast mode, and the code blocks of docs/tf_agents.md.

Each chapter script is imported by path and its ``main(fast=True, out_dir=tmp_path)`` called in this
process (importing TensorFlow once for all of them), so the numbers it returns can be checked and its
figures must appear in ``tmp_path``, never in ``docs/``.
"""

from __future__ import annotations

import importlib.util
import re
import runpy
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "guide"


def _guide_files() -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in GUIDE.rglob("*") if p.is_file()}


_GUIDE_BEFORE = _guide_files()  # taken at collection, compared by the last test of this file


def chapter(number: int):
    """The chapter script ``docs/guide/NN_*.py`` as a module."""
    (path,) = GUIDE.glob(f"{number:02d}_*.py")
    spec = importlib.util.spec_from_file_location(f"guide_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_fast(number: int, tmp_path: Path) -> dict:
    result = chapter(number).main(fast=True, out_dir=tmp_path)
    assert result["figures"], "a chapter draws at least one figure"
    for figure in result["figures"]:
        figure = Path(figure)
        assert figure.parent == tmp_path and figure.is_file() and figure.stat().st_size > 1000, figure
    return result


def test_every_chapter_has_a_page_and_a_script_and_the_index_links_them():
    index = (GUIDE / "README.md").read_text()
    scripts = sorted(GUIDE.glob("[0-9][0-9]_*.py"))
    assert len(scripts) == 10
    for script in scripts:
        page = script.with_suffix(".md")
        assert page.is_file(), page
        assert f"({page.name})" in index, f"README.md does not link {page.name}"
        assert script.name in page.read_text(), f"{page.name} does not name its script"
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            if image.startswith("figures/") and not image.endswith("breakout.gif"):  # the lead adds that GIF
                assert (GUIDE / image).is_file(), f"{page.name} shows missing {image}"
            elif image.startswith("../"):
                assert (GUIDE / image).resolve().is_relative_to(DOCS), image


def test_01_environment_loop(tmp_path):
    r = run_fast(1, tmp_path)
    assert r["first_step_type"] == 0 and r["first_discount"] == 1.0
    assert r["step_types"][0] == 0 and r["step_types"][-2:] == [2, 0]  # ... LAST, then auto-reset FIRST
    assert set(r["step_types"][1:-2]) == {1}
    assert r["terminated_discount"] == 0.0 and abs(r["final_angle"]) > 0.2095
    assert r["truncated_length"] == 20 and r["truncated_discount"] == 1.0 and r["truncated_terminated"] is False


def test_02_scripted_policy(tmp_path):
    r = run_fast(2, tmp_path)
    lean, random = r["lean"], r["random"]
    assert r["episodes"] == 50
    assert 35 <= lean["mean"] <= 50 and 4 <= lean["std"] <= 14  # 42.67 +/- 8.82 over 500 episodes
    assert 20 <= lean["min"] <= lean["mean"] <= lean["max"] <= 100
    assert 15 <= random["mean"] <= 30 and random["mean"] < lean["mean"] - 10


def test_03_imitation(tmp_path):
    r = run_fast(3, tmp_path)
    assert r["pairs"] > 500
    assert r["val_accuracy"] > 0.9 and r["agreement"] > 0.9
    assert 30 <= r["student_mean"] <= 55 and abs(r["student_mean"] - r["teacher_mean"]) < 10


def test_04_reinforce(tmp_path):
    r = run_fast(4, tmp_path)
    assert len(r["batch_means"]) == 3 and len(r["eval_means"]) == 3
    assert r["steps"] == pytest.approx(8 * np.mean(r["batch_means"]) * 3)
    assert all(8 <= m <= 500 for m in r["batch_means"] + r["eval_means"])


def test_05_markov_chain(tmp_path):
    r = run_fast(5, tmp_path)
    np.testing.assert_allclose(r["stationary"], [6 / 13, 4 / 13, 3 / 13], atol=1e-12)
    assert r["balance_error"] < 1e-12
    assert r["max_estimate_error"] < 0.06  # 2,000 steps; 0.0033 with the full 100,000
    np.testing.assert_allclose(r["visit_frequencies"], r["stationary"], atol=0.04)
    np.testing.assert_allclose(r["estimate"].sum(axis=1), 1.0)


def test_06_q_value_iteration(tmp_path):
    r = run_fast(6, tmp_path)
    np.testing.assert_allclose(r["q"][0.90][0], [18.92, 17.03, 13.62], atol=0.005)
    np.testing.assert_allclose(r["q"][0.90][2, 1], 50.13, atol=0.005)
    assert r["policy"][0.90] == [0, 0, 1]
    assert r["policy"][0.95] == [0, 2, 1]
    np.testing.assert_allclose(r["q"][0.95][0], [21.90, 20.80, 16.87], atol=0.005)
    assert np.isneginf(r["q"][0.90][1, 1]) and np.isneginf(r["q"][0.90][2, [0, 2]]).all()


def test_07_q_learning(tmp_path):
    r = run_fast(7, tmp_path)
    assert r["num_steps"] == 50_000
    assert r["max_error"] < 1.0  # 0.595 at 50,000 steps (seed 0); 0.147 at the full 200,000
    assert r["default_decay_error"] > r["max_error"]  # the default step-size decay converges more slowly
    assert r["policy"] == [0, 0, 1]
    np.testing.assert_allclose(r["q"][0], [18.92, 17.03, 13.62], atol=1.0)


def test_08_dqn_variants(tmp_path):
    r = run_fast(8, tmp_path)
    for name in ("DQN", "Double DQN", "Dueling DQN"):
        run_dir = Path(r[name]["run_dir"])
        assert run_dir.parent == tmp_path / "runs" and (run_dir / "metrics.csv").is_file()
        assert 8 <= r[name]["best_eval"] <= 500 and 8 <= r[name]["final_eval"] <= 500


def test_09_ppo(tmp_path):
    r = run_fast(9, tmp_path)
    cartpole, pendulum = r["CartPole-v1"], r["Pendulum-v1"]
    for run in (cartpole, pendulum):
        assert Path(run["run_dir"]).parent == tmp_path / "runs" and run["steps"] >= 2_048
    assert len(cartpole["eval_means"]) >= 2 and 8 <= cartpole["final_eval"] <= 500
    assert len(pendulum["eval_means"]) >= 1 and -2_000 <= pendulum["final_eval"] <= 0


def test_10_atari_breakout(tmp_path):
    pytest.importorskip("ale_py")
    r = run_fast(10, tmp_path)
    assert r["observation_shape"] == (84, 84, 4)
    assert r["parameters"] == 1_686_180  # the Nature CNN with 4 actions
    assert r["steps"] >= 300 and "losses/td_loss" in r["metrics"]
    assert Path(r["gif"]).suffix == ".gif" and Path(r["run_dir"]).parent == tmp_path / "runs"


def tf_agents_snippets() -> list[tuple[str, str]]:
    """(section title, code) of every python block of docs/tf_agents.md."""
    text = (DOCS / "tf_agents.md").read_text()
    snippets, section = [], ""
    for match in re.finditer(r"^## ([^\n]+)$|^```python\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            section = match.group(1)
        else:
            snippets.append((section, match.group(2)))
    return snippets


def test_tf_agents_page_has_a_snippet_per_concept():
    sections = [s for s, _ in tf_agents_snippets()]
    for concept in ("PyEnvironment", "ArraySpec", "TFPyEnvironment", "ParallelPyEnvironment", "Wrappers",
                    "QNetwork", "ActorDistributionNetwork", "DqnAgent", "ReinforceAgent", "TFUniformReplayBuffer",
                    "as_dataset", "DynamicStepDriver", "DynamicEpisodeDriver", "tf_metrics"):
        assert any(concept in s for s in sections), concept


@pytest.mark.parametrize("section, code", tf_agents_snippets(), ids=[s for s, _ in tf_agents_snippets()])
def test_tf_agents_snippet_runs(section, code, tmp_path, capsys):
    path = tmp_path / "snippet.py"  # a real file: AutoGraph reads the source of a tf.function
    path.write_text(code)
    runpy.run_path(str(path), run_name="snippet")
    assert capsys.readouterr().out.strip(), "every snippet prints what it shows"


def test_fast_runs_wrote_nothing_into_docs():
    """Runs last: the chapters above neither changed a file of docs/guide nor wrote a chapter output there."""
    after = _guide_files()
    changed = [p for p, mtime in _GUIDE_BEFORE.items() if after.get(p) != mtime]
    new = [p for p in after.keys() - _GUIDE_BEFORE.keys() if re.match(r"\d\d_", p.name)]
    assert not changed and not new, (changed, new)
