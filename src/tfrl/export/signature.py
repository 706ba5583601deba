"""``signature.json``: what an export's signature takes and returns, and how to call it.

The record names the signature, its input (a batch of raw observations) and output (the batch of
greedy actions) with dtypes and shapes, the observation and action spaces, the policy and the result
of the check, and shows the line of TensorFlow or LiteRT that runs the export.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from tfrl.export.formats import INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY
from tfrl.export.graph import policy_description
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["signature_record", "spec_json", "to_json"]


def spec_json(spec: ArraySpec) -> dict[str, Any]:
    """``spec`` as JSON: dtype, shape and (for a bounded spec) its bounds, one number where all are equal."""
    out: dict[str, Any] = {"dtype": str(spec.dtype), "shape": list(spec.shape)}
    if isinstance(spec, BoundedArraySpec):
        lo, hi = np.asarray(spec.minimum), np.asarray(spec.maximum)
        same = lo.size and np.all(lo == lo.flat[0]) and np.all(hi == hi.flat[0])
        out["minimum"] = lo.flat[0].item() if same else lo.tolist()
        out["maximum"] = hi.flat[0].item() if same else hi.tolist()
    return out


def signature_record(format: str, file: str, algo: str, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                     info: dict[str, Any], checked: dict[str, Any] | None) -> dict[str, Any]:
    """The content of ``signature.json`` for an export of ``format`` written to ``file``.

    ``info`` adds keys (the run, versions, notes); ``checked`` is the result of the check (None: not checked).
    """
    if action_spec.is_discrete:
        space = {"type": "discrete", "n": action_spec.num_values, "start": int(action_spec.minimum)}
    else:
        space = {"type": "box", **spec_json(action_spec)}
    if format == "saved_model":
        usage = (f"tf.saved_model.load(DIR).signatures[{SIGNATURE_KEY!r}]({INPUT_NAME}=obs)[{OUTPUT_NAME!r}]")
    else:
        usage = (f"ai_edge_litert.interpreter.Interpreter(model_path=FILE).get_signature_runner("
                 f"{SIGNATURE_KEY!r})({INPUT_NAME}=obs)[{OUTPUT_NAME!r}]  (or tf.lite.Interpreter)")
    return {
        "format": format,
        "file": file,
        "signature": SIGNATURE_KEY,
        "inputs": {INPUT_NAME: {"dtype": str(observation_spec.dtype), "shape": [None, *observation_spec.shape],
                                "description": "a batch of raw observations, as the environment returns them"}},
        "outputs": {OUTPUT_NAME: {"dtype": str(action_spec.dtype), "shape": [None, *action_spec.shape],
                                  "description": "the greedy action for each observation"}},
        "observation_space": spec_json(observation_spec),
        "action_space": space,
        "algo": algo,
        "policy": policy_description(algo, action_spec),
        **info,
        "check": checked,
        "usage": usage,
    }


def to_json(record: dict[str, Any]) -> str:
    """Indented JSON with lists of numbers (shapes, bounds) kept on one line."""
    def one_line(match: re.Match) -> str:
        return "[" + ", ".join(item.strip() for item in match.group(1).split(",")) + "]"

    return re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", one_line, json.dumps(record, indent=2)) + "\n"
