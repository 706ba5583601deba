"""Shared test settings: quiet TensorFlow, no progress bars, and tfrl's checkpoint key in a temporary
``TFRL_HOME`` (set here, before any test module is imported, so that subprocesses inherit it), so the
suite never writes into the real home directory."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")
os.environ["TFRL_HOME"] = tempfile.mkdtemp(prefix="tfrl-home-")
atexit.register(shutil.rmtree, os.environ["TFRL_HOME"], True)
