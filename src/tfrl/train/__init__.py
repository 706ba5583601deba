"""Training loops, drivers, evaluation, checkpoints and runs on disk.

``train("dqn", "CartPole-v1")`` trains in a new run directory; ``resume(run_dir)`` continues one;
``evaluate_run(run_dir)`` plays its saved policy.
"""

from tfrl.train.driver import Driver, EvalResult, evaluate_policy
from tfrl.train.run import RunConfig, RunResult, evaluate_run, load_policy, resume, train, train_seeds, watch_run

__all__ = ["Driver", "EvalResult", "evaluate_policy", "RunConfig", "RunResult", "train", "train_seeds", "resume",
           "evaluate_run", "watch_run", "load_policy"]
