"""Runs as data: settings (defaults, presets, YAML, overrides) and the run directory's record.

Nothing here trains; ``tfrl.train`` builds and runs what these describe.
"""

from tfrl.runs.record import load_record, saved_configs, saved_env
from tfrl.runs.settings import RunConfig, Settings, backend_names, preset_path, resolve_config, resolve_settings

__all__ = ["RunConfig", "Settings", "backend_names", "preset_path", "resolve_config", "resolve_settings",
           "load_record", "saved_configs", "saved_env"]
