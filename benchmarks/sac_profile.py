"""Where an environment step of SAC's host loop goes on Pendulum-v1, with the preset's settings and with SB3's.

Each part of the loop is timed alone (the policy call, ``env.step``, a replay sample and a gradient step, the last
two per gradient step when 64 run in one call), after 2,000 steps have filled the buffer. The sum bounds the
loop's steps/s from above; evaluations, logging and checkpoints come on top.

    python benchmarks/sac_profile.py
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfrl import envs
from tfrl.agents.sac import SACAgent, SACConfig
from tfrl.train.loops.host_off_policy import make_replay_buffer



def timeit(fn, n):
    """Milliseconds per call of ``fn`` over ``n`` calls, after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


CASES = [("preset 64x64, 64 gradient steps per call",
          SACConfig(learning_rate=1e-3, hidden_sizes=(64, 64), train_freq=64, gradient_steps=64)),
         ("SB3 settings 256x256, 1 per call", SACConfig(learning_rate=1e-3))]
for label, cfg in CASES:
    env = envs.make("Pendulum-v1", num_envs=1, seed=0)
    agent = SACAgent(cfg, env.observation_spec(), env.action_spec(), total_steps=20000, seed=0)
    buf = make_replay_buffer(cfg, env, 0)
    ts = env.reset(seed=0)
    for _ in range(2000):
        a = agent.policy.action(ts.observation)
        nts = env.step(a)
        buf.add(ts, a, nts)
        ts = nts
    obs = ts.observation
    pol = timeit(lambda: agent.policy.action(obs), 500)
    a = agent.policy.action(obs)
    step = timeit(lambda: env.step(a), 500)
    G = cfg.gradient_steps
    batch = buf.sample(cfg.batch_size, num_batches=G)
    samp = timeit(lambda: buf.sample(cfg.batch_size, num_batches=G), 20) / G
    train = timeit(lambda: agent.train(batch), 20 if G > 1 else 100) / G
    total = pol + step + samp + train
    print(f"{label}: per environment step {total:.2f} ms = policy {pol:.3f} + env.step {step:.3f} + replay sample "
          f"{samp:.3f} + gradient step {train:.3f} ms -> {1000 / total:.0f} steps/s upper bound")
