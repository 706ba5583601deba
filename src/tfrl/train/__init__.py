"""Training: sessions, loops, evaluation, checkpoints and playback of runs on disk.

``train("dqn", "CartPole-v1")`` trains in a new run directory; ``resume(run_dir)`` continues one;
``evaluate_run(run_dir)`` plays its saved policy.
"""

from tfrl.runs.settings import RunConfig
from tfrl.train.api import resume, train, train_seeds
from tfrl.train.driver import Driver, EvalResult, evaluate_policy
from tfrl.train.playback import SavedPolicy, evaluate_run, load_policy, load_saved_policy, watch_run
from tfrl.train.session import RunResult

__all__ = ["Driver", "EvalResult", "evaluate_policy", "RunConfig", "RunResult", "train", "train_seeds", "resume",
           "evaluate_run", "watch_run", "load_policy", "load_saved_policy", "SavedPolicy"]
