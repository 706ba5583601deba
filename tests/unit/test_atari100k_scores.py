"""The pure parts of benchmarks/atari100k.py: its score tables, the human-normalised scores and their summary, and
the DER presets it trains."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tfrl.config import load_yaml

ROOT = Path(__file__).resolve().parents[2]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("atari100k", ROOT / "benchmarks" / "atari100k.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up while the file runs
    spec.loader.exec_module(module)
    return module


atari100k = _load_benchmark()


def test_score_tables_cover_the_26_games():
    assert len(atari100k.GAMES) == 26
    for table in (atari100k.RANDOM, atari100k.HUMAN, atari100k.DER):
        assert set(table) == set(atari100k.GAMES)
    assert all(atari100k.HUMAN[g] > atari100k.RANDOM[g] for g in atari100k.GAMES)


def test_published_der_table_gives_der_published_median_and_mean():
    # DER over the 26 games: median HNS 0.161, mean 0.285, its published aggregates (reprinted by SPR and CURL).
    rows = atari100k.score_rows({g: [atari100k.DER[g]] for g in atari100k.GAMES})
    summary = atari100k.hns_summary(rows)
    assert summary["median_hns"] == pytest.approx(0.161, abs=5e-4)
    assert summary["mean_hns"] == pytest.approx(0.285, abs=5e-4)
    assert summary["der_median_hns"] == summary["median_hns"] and summary["der_mean_hns"] == summary["mean_hns"]


def test_hns_rows_and_summary_by_hand():
    rows = atari100k.score_rows({"Breakout": [1.7, 30.5], "Pong": [-20.7], "Boxing": [12.1]},
                                {"Breakout": 100_000, "Pong": 99_000})
    breakout, pong, boxing = rows
    assert (breakout.game, breakout.seed_scores, breakout.steps, breakout.score) == ("Breakout", (1.7, 30.5), 100_000,
                                                                                      pytest.approx(16.1))
    assert breakout.hns == pytest.approx((16.1 - 1.7) / (30.5 - 1.7))  # 0.5
    assert pong.hns == pytest.approx(0.0) and pong.steps == 99_000
    assert boxing.hns == pytest.approx(1.0) and boxing.steps == 0
    assert breakout.der_hns == pytest.approx(0.2 / 28.8)
    assert pong.der_hns == pytest.approx(1.4 / 35.3)
    assert boxing.der_hns == pytest.approx(0.1 / 12.0)
    assert (boxing.der, boxing.random, boxing.human) == (0.2, 0.1, 12.1)
    summary = atari100k.hns_summary(rows)
    assert summary["median_hns"] == pytest.approx(0.5)
    assert summary["mean_hns"] == pytest.approx(0.5)
    assert summary["der_median_hns"] == pytest.approx(0.1 / 12.0)
    assert summary["der_mean_hns"] == pytest.approx((0.2 / 28.8 + 1.4 / 35.3 + 0.1 / 12.0) / 3)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown Atari 100k game 'SpaceInvaders'"):
        atari100k.score_rows({"SpaceInvaders": [100.0]})
    with pytest.raises(ValueError, match="no score for 'Pong'"):
        atari100k.score_rows({"Pong": []})
    with pytest.raises(ValueError, match="no games"):
        atari100k.hns_summary([])


def test_der_presets_of_the_three_games_hold_one_set_of_settings():
    presets = {game: load_yaml(ROOT / "src" / "tfrl" / "presets" / f"rainbow-{game}NoFrameskip-v4.yaml")
               for game in atari100k.DEFAULT_GAMES}
    breakout = presets["Breakout"]
    assert breakout["total_steps"] == 100_000 and breakout["n_step"] == 20
    assert all(settings == breakout for settings in presets.values())
    assert atari100k.preset_for("Pong").name == "rainbow-PongNoFrameskip-v4.yaml"
    assert atari100k.preset_for("Alien").name == "rainbow-BreakoutNoFrameskip-v4.yaml"
