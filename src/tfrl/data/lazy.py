"""The names of ``tfrl.data.returns``, which ``tfrl.data`` imports on first access.

``tfrl.data.returns`` imports TensorFlow; this module does not, so ``tfrl.data`` can list the return
functions (and load them when one is first used) while ``import tfrl.data`` stays light.
``tfrl.data.returns`` exports exactly these names.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["RETURN_FUNCTIONS", "load"]

RETURN_FUNCTIONS = (
    "bootstrapped_returns",
    "discount_and_normalize",
    "discounted_returns",
    "episode_returns",
    "gae",
    "n_step_returns",
    "normalize",
    "td_target",
)
"""The public functions of ``tfrl.data.returns``."""


def load(name: str) -> Any:
    """``tfrl.data.returns`` for ``"returns"``, else its function ``name`` (importing TensorFlow)."""
    module = importlib.import_module("tfrl.data.returns")
    return module if name == "returns" else getattr(module, name)
