"""Tiny real checkpoints for the league tests (an untrained 16-wide policy on the smoke map)."""

from pathlib import Path

from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.ppo.learner import Learner

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "ray_configs" / "smoke.yaml"
# The tiny policies' env: the smoke map with 6 s matches (a match is 24 decisions).
# No curriculum: smoke.yaml's stages fit its 40 m map only, and some tests change the map.
TINY = ["model.hidden_size=16", "model.lstm_size=16", "learner.device=cpu", "env.episode_seconds=6.0",
        "curriculum.stages=[]"]


def make_checkpoint(run_dir: Path, seed: int, update: int = 0, extra=()) -> Path:
    cfg = load_config(SMOKE, [*TINY, f"seed={seed}", *extra])
    env = EchelonVecEnv(cfg.env, 1)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    state = TrainingState(learner=learner.state_dict(), counters=Counters(update=update, env_steps=100 * update),
                          config=config_to_dict(cfg), run_id=f"r{seed}", trace_id=f"r{seed}:{update}")
    return save_checkpoint(run_dir, update, build_payload(state))
