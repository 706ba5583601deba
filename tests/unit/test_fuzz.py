"""Fuzz test of the ``tfrl`` command line: generated argument lists and YAML files, one property.

The inputs come from a grammar (``fuzz_strategies.py``) that mixes valid and invalid pieces: the real
subcommands and typos of them; algorithms and environment ids (real ones, typos, ``module:Id``, unicode, ids
whose package is not installed); every option with valid and invalid values (``--steps 10**30``, ``--seed
2**64``, ``--backend gpu``, ``--set KEY=VALUE`` with every real setting name and junk values); argparse misuse
(missing values, unknown flags, abbreviations); run directories that are finished, missing or damaged; and
YAML files for ``tfrl train ALGO ENV --config FILE`` and ``tfrl sweep FILE``: mappings of real and unknown keys,
duplicate keys, tags, anchors and small alias bombs, deep nesting, non-mapping documents, invalid UTF-8, very
long lines.

The property, for every example: ``main(argv)``, run in-process in a fresh directory with stdout and stderr
captured at the file-descriptor level (so output of C++ libraries and child processes counts too),

* returns 0 or 2, or argparse exits with ``SystemExit(2)`` (misuse) or ``SystemExit(0)`` (``-h``); any other
  code, and any exception, fails the test;
* prints no ``Traceback`` (stderr or stdout);
* prints at most one error line: ``tfrl: error: ...``, or ``tfrl SUBCOMMAND: error: ...`` when argparse
  refuses the arguments of a subcommand (``main.py`` prints the first for every ``TfrlError`` and for
  storage ``OSError``s; argparse prints the second after its usage block);
* with code 2, prints exactly one error line and it is the last non-empty line of stderr. Before it stderr
  may hold only argparse's usage block (when argparse exits) or tfrl's own notes, lines starting ``warning: ``
  or ``resuming `` (``tfrl.train`` prints them about a skipped checkpoint); any other line before an error (a
  log line, a second message) fails the test. With code 0, stderr may hold anything but an error line;
* with code 2, leaves no new ``config.yaml`` anywhere: a refused ``train`` does not leave behind a run
  directory that a retry would refuse.

The cost is bounded so that the file runs in under a minute on two cores:

* the grammar draws only cheap valid values for the settings that make a run long, and an argv that trains
  a new run gets a cheap prefix (``CHEAP_PREFIX``: 200 steps, no evaluations but one final episode, no
  TensorBoard, at most 0.02 minutes, episodes of at most 50 steps), placed right after ``ALGO ENV``, so that
  drawn options, which come later, override it: a junk value of one of these keys is still seen;
* a budget: the first ``SESSIONS`` training sessions of the module are built for real (counted once their
  environment is made, so that every refused environment is seen) and the first ``LOOPS`` of those train;
  past that, the step raises ``Reached``, as do an evaluation of more than 20 episodes, more than ``EXPORTS``
  exports and more than ``WATCHES`` videos. Every sweep raises ``Reached`` where it would start Ray
  (``tfrl.sweep.tune.connect_ray``): a sweep file is checked in full, Ray never starts. An input that
  reaches such a step has passed every check before it and counts as accepted;
* ``--deterministic`` does not switch TensorFlow's op determinism on for the rest of the test process
  (``_set_deterministic`` is recorded, not run).

``derandomize=True``: the same examples on every run; each test prints how its examples ended
(``pytest -s``). ``TFRL_FUZZ_EXAMPLES=5`` runs five times as many; ``TFRL_FUZZ_LOG=FILE`` appends every
failing example to FILE (one JSON line) instead of failing, to list them all (``TFRL_FUZZ_LOG_ALL=1``: every
example). ``REGRESSIONS`` are the inputs that broke the property before their fixes, one case each.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from fuzz_strategies import (
    SUBCOMMANDS,
    File,
    Rel,
    Run,
    command_lines,
    yaml_command_lines,
)
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.filterwarnings("ignore")

SCALE = float(os.environ.get("TFRL_FUZZ_EXAMPLES", "1"))
SESSIONS, LOOPS, EXPORTS, WATCHES = 10, 2, 3, 3
CHEAP_PREFIX = ["--steps", "200", "--set", "eval_every=0", "--set", "final_eval_episodes=1", "--set",
                "tensorboard=false", "--set", "max_minutes=0.02", "--set", "checkpoint_every=0", "--set",
                "max_episode_steps=50"]
ERROR_LINE = re.compile(r"^tfrl(?: [a-z]+)?: error: ")
NOTES = ("warning: ", "resuming ")
FUZZ_SETTINGS = {"deadline": None, "derandomize": True, "database": None, "print_blob": False,
                 "suppress_health_check": list(HealthCheck),
                 "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]}


class Reached(Exception):
    """An accepted input got to a costly step beyond the test's budget (or to Ray): not run."""


# --------------------------------------------------------------------------- the budget (the finished run: tests/conftest.py)


class Fuzz:
    """Runs one example: builds its files, calls ``main``, checks the property, counts the outcomes."""

    def __init__(self, root: Path, finished: Path, used: collections.Counter, capfd, monkeypatch,
                 log: str | None = None) -> None:
        self.root, self.finished, self.used, self.capfd, self.log = root, finished, used, capfd, log
        self.outcomes: collections.Counter = collections.Counter()
        self.examples = 0
        self.failed: dict | None = None
        """The last example that broke the property (after shrinking: the minimal one)."""
        self.slowest: list = []
        self.seconds: collections.Counter = collections.Counter()
        self._patch(monkeypatch)

    # ------------------------------------------------------------------ budget

    def _budget(self, name: str, limit: int) -> None:
        self.used[name] += 1
        if self.used[name] > limit:
            raise Reached(name)

    def _patch(self, monkeypatch) -> None:
        import tfrl.export
        import tfrl.sweep.tune
        import tfrl.train
        import tfrl.train.driver
        import tfrl.train.loops
        import tfrl.train.loops.compiled_on_policy
        import tfrl.train.playback
        import tfrl.train.session

        def counted(name, limit, real):
            def wrapper(*args, **kwargs):
                self._budget(name, limit)
                return real(*args, **kwargs)
            return wrapper

        make_run_env = tfrl.train.session.make_run_env

        def make_training_env(*args, training=False, **kwargs):  # a session counts once its environment is made
            env = make_run_env(*args, training=training, **kwargs)
            if training:
                try:
                    self._budget("session", SESSIONS)
                except Reached:
                    env.close()
                    raise
            return env

        loop_for = tfrl.train.loops.loop_for
        monkeypatch.setattr(tfrl.train.session, "make_run_env", make_training_env)
        monkeypatch.setattr(tfrl.train.loops, "loop_for",
                            lambda *a, **k: counted("loop", LOOPS, loop_for(*a, **k)))
        monkeypatch.setattr(tfrl.train.loops.compiled_on_policy, "run_compiled_seeds",
                            counted("loop", LOOPS, tfrl.train.loops.compiled_on_policy.run_compiled_seeds))
        evaluate = tfrl.train.driver.evaluate_policy

        def evaluate_policy(env, policy, episodes, *args, **kwargs):
            if isinstance(episodes, int) and episodes > 20:
                raise Reached(f"evaluation of {episodes} episodes")
            return evaluate(env, policy, episodes, *args, **kwargs)

        monkeypatch.setattr(tfrl.train.driver, "evaluate_policy", evaluate_policy)
        watch = counted("watch", WATCHES, tfrl.train.playback.watch_run)
        monkeypatch.setattr(tfrl.train.playback, "watch_run", watch)
        monkeypatch.setattr(tfrl.train, "watch_run", watch)
        monkeypatch.setattr(tfrl.export, "export_policy", counted("export", EXPORTS, tfrl.export.export_policy))

        def connect_ray(address):
            raise Reached("ray")

        monkeypatch.setattr(tfrl.sweep.tune, "connect_ray", connect_ray)
        monkeypatch.setattr(tfrl.train.session, "_set_deterministic",
                            lambda seed: self.used.update(["deterministic"]))

    # ------------------------------------------------------------------ inputs

    def materialize(self, word, where: Path, index: int) -> str:
        """The argv word for ``word``: a string as it is, a symbol as the path of what it names."""
        if isinstance(word, str):
            return word
        if isinstance(word, Rel):
            return word.path
        if isinstance(word, File):
            path = where / f"{index}-{word.name}"
            path.write_bytes(word.content)
            return str(path)
        assert isinstance(word, Run), word
        return str(self.make_run(word, where / f"run{index}"))

    def make_run(self, run: Run, path: Path) -> Path | str:
        kind = run.kind
        if kind == "empty-string":
            return ""
        if kind == "missing":
            return path
        if kind == "empty":
            path.mkdir()
            return path
        if kind == "file":
            path.write_text("not a run\n")
            return path
        target = path / "inner" if kind == "parent" else path
        shutil.copytree(self.finished, target)
        config = target / "config.yaml"
        if kind == "no-config":
            config.unlink()
        elif kind == "no-checkpoints":
            shutil.rmtree(target / "checkpoints")
        elif kind == "torn-checkpoint":
            for file in (target / "checkpoints").rglob("*"):
                if file.is_file() and file.name != "manifest.json":
                    file.write_bytes(b"x")
        elif kind == "no-policy":
            (target / "policy.keras").unlink()
        elif kind == "junk-policy":
            (target / "policy.keras").write_bytes(b"junk")
        elif kind == "no-metrics":
            (target / "metrics.csv").unlink()
        elif kind == "junk-metrics":
            (target / "metrics.csv").write_bytes(b"step,\xff\n1,2,3\nnan\n")
        elif kind == "lock-dir":
            (target / ".lock").unlink(missing_ok=True)
            (target / ".lock").mkdir()
        elif kind == "checkpoints-file":
            shutil.rmtree(target / "checkpoints")
            (target / "checkpoints").write_text("x")
        elif kind == "policy-dir":
            (target / "policy.keras").unlink()
            (target / "policy.keras").mkdir()
        elif kind == "edited":
            lines = config.read_text().splitlines()
            at, value = run.edit
            at %= len(lines)
            if value is None:
                del lines[at]
            else:
                lines[at] = lines[at].split(":", 1)[0] + ": " + value
            config.write_text("\n".join(lines) + "\n")
        elif kind == "rewritten":
            config.write_bytes(run.edit[0])
        elif kind == "truncated":
            config.write_bytes(config.read_bytes()[: run.edit[0]])
        return path

    # ------------------------------------------------------------------ one example

    def run(self, case: dict) -> None:
        from tfrl.cli.main import main

        self.examples += 1
        where = self.root / f"ex{self.examples}"
        where.mkdir()
        (where / "f.txt").write_text("a file\n")
        (where / "existing-dir").mkdir()
        (where / "old-sweep").mkdir()
        (where / "old-sweep" / "sweep.yaml").write_text("algo: dqn\nenv: CartPole-v1\n")
        (where / "bad-sweep").mkdir()
        (where / "bad-sweep" / "sweep.yaml").write_bytes(b"{{{ \xff")
        words = list(case["argv"])
        if case["new_run"] and "--resume" not in words:
            words[3:3] = CHEAP_PREFIX
        old = os.getcwd()
        os.chdir(where)
        try:
            argv = [self.materialize(w, where, i) for i, w in enumerate(words)]
            configs = set(where.rglob("config.yaml"))
            self.capfd.readouterr()
            started = time.monotonic()
            outcome, code = self.call(main, argv)
            self.seconds[str(words[0]) if words and str(words[0]) in SUBCOMMANDS else "other"] += \
                time.monotonic() - started
            self.slowest = sorted(self.slowest + [(time.monotonic() - started, words)], key=lambda t: -t[0])[:5]
            out, err = self.capfd.readouterr()
            problems = check(outcome, code, out, err, set(where.rglob("config.yaml")) - configs)
        finally:
            os.chdir(old)
            shutil.rmtree(where, ignore_errors=True)
        self.outcomes[{"reached": f"reached ({code})", "raised": f"raised {str(code).split(':')[0]}"}.get(
            outcome, f"{outcome} {code}")] += 1
        if problems or os.environ.get("TFRL_FUZZ_LOG_ALL"):
            report = {"argv": [repr(w) if not isinstance(w, str) else w for w in words], "outcome": outcome,
                      "code": code, "problems": problems, "stderr": err[-3000:]}
            if self.log:
                with open(self.log, "a") as f:
                    f.write(json.dumps(report) + "\n")
                return
            if not problems:
                return
            self.failed = case
            raise AssertionError(json.dumps(report, indent=1))

    @staticmethod
    def call(main, argv: list[str]) -> tuple[str, object]:
        try:
            return "returned", main(argv)
        except SystemExit as exc:
            return "exit", exc.code
        except Reached as exc:
            return "reached", str(exc)
        except Exception as exc:  # noqa: BLE001  (what the property forbids)
            import traceback

            return "raised", "".join(traceback.format_exception_only(exc)).strip()[:2000]

    def summary(self, name: str, seconds: float) -> str:
        """How the examples ended (``returned 0``, ``exit 2``...), the budget used, where the time went."""
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        by_command = {k: round(v, 1) for k, v in self.seconds.most_common()}
        slowest = "; ".join(f"{t:.1f} s {w!r:.200}" for t, w in self.slowest)
        return (f"\n{name}: {self.examples} examples (shrinking included) in {seconds:.0f} s; {counts}; costly steps "
                f"asked for so far {dict(self.used)} (limits: {SESSIONS} sessions, {LOOPS} loops, {EXPORTS} exports, "
                f"{WATCHES} videos); seconds in main by subcommand {by_command}; slowest: {slowest}")


def check(outcome: str, code, out: str, err: str, new_configs: set) -> list[str]:
    """The property: the problems of one call (none when it holds)."""
    problems = []
    if outcome == "raised":
        problems.append(f"raised {code}")
    elif outcome in ("returned", "exit") and code not in (0, 2):
        problems.append(f"exit code {code!r}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("a traceback was printed")
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if ERROR_LINE.match(line)]
    if len(errors) > 1:
        problems.append(f"{len(errors)} error lines")
    if code == 2 and outcome in ("returned", "exit"):
        if not errors:
            problems.append("code 2 without an error line")
        elif errors[-1] != len(lines) - 1:
            problems.append(f"the error line is not the last line (then {lines[errors[-1] + 1][:200]!r})")
        if errors:
            for line in lines[:errors[0]]:
                allowed = line.startswith(("usage:", " ") if outcome == "exit" else NOTES)
                if not allowed:
                    problems.append(f"stderr line before the error: {line[:200]!r}")
                    break
        if new_configs:
            problems.append(f"refused, but wrote {sorted(str(p) for p in new_configs)}")
    elif errors:
        problems.append(f"an error line with outcome {outcome} {code}")
    return problems


@pytest.fixture(scope="module")
def budget() -> collections.Counter:
    """What the module's examples have used of the budget (shared by the tests of this file)."""
    return collections.Counter()


@pytest.fixture
def fuzz(tmp_path, finished_run, budget, capfd, monkeypatch) -> Fuzz:
    return Fuzz(tmp_path, finished_run, budget, capfd, monkeypatch, log=os.environ.get("TFRL_FUZZ_LOG"))


# --------------------------------------------------------------------------- the fuzz tests


def _fuzz(fuzz: Fuzz, cases, examples: int, name: str) -> None:
    """The property on ``examples`` cases drawn from ``cases``, then how they ended (printed).

    Hypothesis stops at the first failure and shrinks it; the minimal example is in the failure's message (add it to
    ``REGRESSIONS`` with its fix).
    """
    start = time.monotonic()

    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(case=cases)
    def property(case):
        fuzz.run(case)

    property()
    print(fuzz.summary(name, time.monotonic() - start))


def test_fuzz_command_lines(fuzz):
    """~200 command lines of every subcommand."""
    _fuzz(fuzz, command_lines, int(200 * SCALE), "command lines")


def test_fuzz_yaml_files(fuzz):
    """~100 ``--config`` and sweep files given to ``tfrl train ALGO ENV --config FILE`` and ``tfrl sweep FILE``."""
    _fuzz(fuzz, yaml_command_lines(), int(100 * SCALE), "YAML files")


# --------------------------------------------------------------------------- regressions

SWEEP_OK = b"algo: dqn\nenv: CartPole-v1\n"
LONG = "x" * 300  # longer than a file name may be (255 bytes)


def known(id: str, argv: list, reason: str, new_run: bool = False):
    """One input these fuzz tests found breaking the property (``reason`` says how), kept as a regression case."""
    return pytest.param({"argv": argv, "new_run": new_run}, id=id)


TRAIN = ["train", "dqn", "CartPole-v1"]
YAML_VALUE = ("PyYAML's safe constructors raise ValueError, KeyError or AttributeError (not yaml.YAMLError) for a "
              "malformed tagged or implicitly typed scalar, and int() refuses more than 4300 digits: a traceback, "
              "exit code 1")
MISSING_DEPENDENCY = "a registered id whose package is not installed: DependencyNotInstalled or ModuleNotFoundError"
BAD_MODULE = "check_env_id passes an empty or relative module name to importlib.import_module"
OUT_PATH = ("an output path whose name is too long (ENAMETOOLONG) or that runs through a file (EEXIST, ENOTDIR): the "
            "OSError is not one of main's storage errors and escapes")
METRICS = "a metrics.csv that is not UTF-8 escapes as UnicodeDecodeError"
EMPTY_OUT = "--out '' or '.' names no file: Path.with_suffix raises ValueError (PosixPath('.') has an empty name)"

REGRESSIONS = [
    # YAML values that PyYAML's safe loader cannot construct: --config, sweep files, --set, a run's config.yaml
    known("config-int-tag", [*TRAIN, "--config", File("c.yaml", b"learning_rate: !!int x\n")], YAML_VALUE, True),
    known("config-float-tag", [*TRAIN, "--config", File("c.yaml", b"learning_rate: !!float x\n")], YAML_VALUE, True),
    known("config-bool-tag", [*TRAIN, "--config", File("c.yaml", b"dueling: !!bool x\n")], YAML_VALUE, True),
    known("config-timestamp-tag", [*TRAIN, "--config", File("c.yaml", b"gamma: !!timestamp x\n")], YAML_VALUE, True),
    known("config-impossible-date", [*TRAIN, "--config", File("c.yaml", b"gamma: 2001-02-30\n")], YAML_VALUE, True),
    known("config-5000-digits", [*TRAIN, "--config", File("c.yaml", b"gamma: " + b"1" * 5000 + b"\n")], YAML_VALUE,
          True),
    known("sweep-int-tag", ["sweep", File("sweep.yaml", b"algo: dqn\nenv: !!int x\n")],
          YAML_VALUE),  # where test_fuzz_yaml_files stopped before the fix
    known("sweep-impossible-date", ["sweep", File("s.yaml", SWEEP_OK + b"target_return: 2001-13-45\n")], YAML_VALUE),
    known("sweep-impossible-dates-list", ["sweep", File("sweep.yaml", b"\n  - 2001-02-30\n  - 2001-02-30\n")],
          YAML_VALUE),  # where an earlier version of test_fuzz_yaml_files stopped
    known("set-list-int-tag", [*TRAIN, "--set", "hidden_sizes=!!int x"], YAML_VALUE, True),
    known("set-list-impossible-date", [*TRAIN, "--set", "hidden_sizes=[2001-02-30]"], YAML_VALUE, True),
    known("set-list-5000-digits", [*TRAIN, "--set", "hidden_sizes=[" + "1" * 5000 + "]"], YAML_VALUE, True),
    known("eval-run-config-int-tag", ["eval", Run("rewritten", (b"algo: !!int x\n",)), "--episodes", "1"],
          YAML_VALUE),
    known("resume-run-config-int-tag", ["train", "--resume", Run("rewritten", (b"algo: !!int x\n",))], YAML_VALUE),
    # environment ids
    known("env-needs-jax", ["train", "ppo", "phys2d/CartPole-v1"], MISSING_DEPENDENCY, True),
    known("env-needs-box2d", ["train", "ppo", "LunarLander-v3"], MISSING_DEPENDENCY, True),
    known("env-needs-mujoco", ["train", "ppo", "HalfCheetah-v5"], MISSING_DEPENDENCY, True),
    known("env-module-needs-box2d", ["train", "ppo", "gymnasium.envs.box2d:LunarLander-v3"], MISSING_DEPENDENCY,
          True),
    known("env-empty-module", ["train", "dqn", ":CartPole-v1"], BAD_MODULE, True),  # an earlier stop of the fuzz
    known("env-relative-module", ["train", "ppo", "..:CartPole-v1"], BAD_MODULE, True),
    # output paths
    known("export-out-too-long", ["export", Run("finished"), "--out", Rel(LONG)], OUT_PATH),
    known("export-out-under-a-file", ["export", Run("finished"), "--out", Rel("f.txt/sub")], OUT_PATH),
    known("watch-out-too-long", ["watch", Run("finished"), "--out", Rel(LONG + ".mp4")], OUT_PATH),
    known("watch-out-under-a-file", ["watch", Run("finished"), "--out", Rel("f.txt/v.mp4")], OUT_PATH),
    known("plot-out-too-long", ["plot", Run("finished"), "--out", Rel(LONG + ".png")], OUT_PATH),
    known("plot-out-under-a-file", ["plot", Run("finished"), "--out", Rel("f.txt/f.png")], OUT_PATH),
    known("sweep-out-too-long", ["sweep", File("s.yaml", SWEEP_OK), "--out", Rel(LONG)], OUT_PATH),
    known("plot-out-empty", ["plot", Run("finished"), "--out", Rel("")], EMPTY_OUT),
    known("plot-out-dot", ["plot", Run("finished"), "--out", Rel(".")], EMPTY_OUT),
    known("watch-out-empty", ["watch", Run("finished"), "--out", Rel("")], EMPTY_OUT),
    # a run's metrics.csv
    known("plot-metrics-not-utf8", ["plot", Run("junk-metrics")], METRICS),
    known("resume-metrics-not-utf8", ["train", "--resume", Run("junk-metrics")], METRICS),
]
"""Inputs that broke the property before their fixes (the fuzz tests found them or one of their kind), each
checked against the property on every run."""


@pytest.mark.parametrize("case", REGRESSIONS)
def test_regressions(tmp_path, finished_run, capfd, monkeypatch, case):
    Fuzz(tmp_path, finished_run, collections.Counter(), capfd, monkeypatch).run(case)
