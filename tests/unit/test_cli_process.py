"""The ``tfrl`` command as a real process: bad input prints exactly one line, ``tfrl: error: ...``.

TensorFlow, absl and XLA write their start-up notes (``cpu_feature_guard``, ``cudart_stub``, "All log
messages before absl::InitializeLog()") to file descriptor 2 when TensorFlow is first imported in a
process, and only when ``TF_CPP_MIN_LOG_LEVEL`` is not set, so these tests run fresh processes without
it (the suite's conftest sets it for everything else). Importing TensorFlow takes seconds, so one
process runs several commands in turn, each with file descriptor 2 sent to a file of its own: the
first command of the process pays for the import and shows its notes; the others show what their own
paths print once TensorFlow is loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_RUN = """\
import json, os, sys
from tfrl.cli.main import main

cases, out = json.loads(sys.argv[1]), sys.argv[2]
codes = []
for i, argv in enumerate(cases):
    with open(os.path.join(out, f"{i}.out"), "wb") as stdout, open(os.path.join(out, f"{i}.err"), "wb") as stderr:
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(stdout.fileno(), 1), os.dup2(stderr.fileno(), 2)
        try:
            codes.append(main(argv))
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
print(json.dumps({"codes": codes, "tensorflow": "tensorflow" in sys.modules}))
"""

_CONFIG = """\
algo: dqn
env: CartPole-v1
env_class: null
env_kind: id
run:
  total_steps: 300
agent: {}
"""
"""The keys ``tfrl.runs.load_record`` needs; every other setting takes its default."""


def run_commands(tmp_path: Path, cases: list[list[str]]) -> tuple[dict, list[tuple[str, str]]]:
    """Run ``main(argv)`` for each case in one fresh process without ``TF_CPP_MIN_LOG_LEVEL``; its JSON
    summary and ``(stdout, stderr)`` of each case."""
    out = tmp_path / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(cases), str(out)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    return summary, [((out / f"{i}.out").read_text(), (out / f"{i}.err").read_text()) for i in range(len(cases))]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tfrl: error: ") and "Traceback" not in err, err
    return lines[0]


def make_run(path: Path, config: str = _CONFIG, policy: bytes | None = None) -> str:
    path.mkdir()
    (path / "config.yaml").write_text(config)
    if policy is not None:
        (path / "policy.keras").write_bytes(policy)
    return str(path)


def test_errors_after_tensorflow_is_imported_are_one_line(tmp_path):
    untrained = make_run(tmp_path / "untrained")  # no checkpoints, no policy.keras
    damaged = make_run(tmp_path / "damaged", policy=b"not a zip file")
    summary, outputs = run_commands(tmp_path, [
        ["train", "--resume", untrained],  # imports TensorFlow, then finds no checkpoint
        ["eval", untrained],
        ["watch", damaged],
    ])
    assert summary == {"codes": [2, 2, 2], "tensorflow": True}
    expected = ["has no intact checkpoint to resume from", "has no policy.keras yet",
                "policy.keras' cannot be loaded (ValueError); the file is corrupt"]
    for (out, err), words in zip(outputs, expected):
        assert out == ""
        assert words in one_error_line(err)


def test_errors_found_before_tensorflow_is_imported_are_one_line(tmp_path):
    corrupt = make_run(tmp_path / "corrupt", config="algo: [dqn\n")
    summary, outputs = run_commands(tmp_path, [
        ["params", "dqn", "NoSuchEnv-v0"],
        ["watch", str(tmp_path / "missing")],
        ["eval", corrupt],
    ])
    assert summary == {"codes": [2, 2, 2], "tensorflow": False}  # refused before the costly import
    expected = ["unknown environment id 'NoSuchEnv-v0'", "does not exist", "config.yaml' is corrupt"]
    for (out, err), words in zip(outputs, expected):
        assert out == ""
        assert words in one_error_line(err)
