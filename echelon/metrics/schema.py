"""The ``train_log.jsonl`` contract: record kinds, their required keys and types, and JSON encoding.

``train_log.jsonl`` is a run's source of truth: one JSON object per line, appended across
resumes, readable offline without W&B. Every record carries ``type`` (its kind), ``time``
(seconds since the epoch) and ``run_id``; this module declares, per kind, which further keys
must be there and of which type. Unknown extra keys are allowed everywhere: metric families
grow without a schema change. :mod:`echelon.metrics.validate` checks a log against it.

Kinds (``type``):

- ``meta``: once per process start (a fresh run or a resume): ``schema_version``, config,
  seed, command line, device, hashes of the config and the env signature, git SHA, versions.
- ``update``: once per learner update: the keys of :data:`echelon.metrics.names.REQUIRED_UPDATE_KEYS`
  plus ``run_id`` and ``trace_id`` (``"<run_id>:<update>"``). All values finite.
- ``resume``: once per resume, after its ``meta``: the checkpoint and the counters the run
  restarts from; ``resume/abandoned`` names the ``[first, last]`` update numbers logged after
  that checkpoint by the interrupted process (readers drop those update records).
- ``error``: a skipped update (non-finite loss or gradient) or a worker exception, with the
  ``trace_id`` of the update it belongs to; non-finite numbers go here, not into updates.
- ``warning``: a collapse alarm (:mod:`echelon.metrics.alarms`), once per episode of trouble:
  which alarm, a message, the watched value and its threshold, with the ``train/update`` and
  ``trace_id`` of the update that raised it.
- ``summary``: once when a run stops cleanly: why, the last checkpoint and the counters.
- ``episode``: optional per-episode records (off by default); only the common keys are required.

JSON has no NaN or infinity. :func:`encode_nonfinite` writes them as the strings ``"nan"``,
``"inf"`` and ``"-inf"`` (never ``null``, which would hide an exploded loss) and
:func:`decode_nonfinite` turns them back into floats, so the validator sees them.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from typing import Any

from echelon.metrics import names as N

SCHEMA_VERSION = 2
# Versions a reader accepts. Version 1 spelled some keys differently
# (:data:`echelon.metrics.names.RENAMED_IN_SCHEMA_2`); :mod:`echelon.metrics.logread` renames them on
# the way in, so a version-1 log, or one resumed across the change, is checked as version 2.
READABLE_VERSIONS = (1, 2)

# Type tags of the schema tables (the validator names them in its messages). Booleans are not
# numbers here, although Python's bool is an int: a flag logged where a count belongs is a bug.
INT = "int"
NUMBER = "number"  # int or float (finite or not; finiteness is checked separately)
STR = "str"
BOOL = "bool"
LIST = "list"
DICT = "dict"
NULL = "null"


def type_tag(value: Any) -> str:
    """The schema tag of a decoded JSON value (``"float"`` for a non-integer number)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        return LIST
    if isinstance(value, dict):
        return DICT
    return type(value).__name__


def matches(value: Any, allowed: tuple[str, ...]) -> bool:
    """True when ``value`` has one of the ``allowed`` type tags (NUMBER admits int and float)."""
    tag = type_tag(value)
    return tag in allowed or (NUMBER in allowed and tag in (INT, "float"))


# Keys every record carries, whatever its kind.
COMMON_KEYS: dict[str, tuple[str, ...]] = {
    N.KIND: (STR,),
    N.TIME: (NUMBER,),
    N.RUN_ID: (STR,),
}

# Counters of the resume and summary records (where the run restarts from / stopped at).
COUNTER_KEYS: dict[str, tuple[str, ...]] = {
    N.TRAIN_UPDATE: (INT,),
    N.TRAIN_ENV_STEPS: (INT,),
    N.TRAIN_AGENT_STEPS: (INT,),
    N.TRAIN_EPISODES: (INT,),
}

# Update-record keys that count things and so must be ints; every other required update key
# is a number (learner stats arrive as floats even when integral, e.g. train/epochs).
_UPDATE_INTS = (
    N.TRAIN_UPDATE,
    N.TRAIN_ENV_STEPS,
    N.TRAIN_AGENT_STEPS,
    N.TRAIN_POLICY_VERSION,
    N.SYSTEM_DROPPED_FRAGMENTS,
    N.SYSTEM_WORKER_RESTARTS,
    N.SYSTEM_LOST_FRAGMENTS,
    N.SYSTEM_NUM_WORKERS,
    N.TRAIN_EPISODES,
)

# Optimizer steps, cumulative over the run (train/minibatch_steps is per update). Optional in
# update records (a skipped update writes none); checked for monotonicity when present.
TRAIN_OPTIMIZER_STEPS = N.TRAIN_OPTIMIZER_STEPS

# Arena training's update keys (league.path set); absent otherwise, and the rating until the
# learner's first snapshot.
LEAGUE_KEYS: dict[str, tuple[str, ...]] = {
    **{k: (INT,) for k in (N.LEAGUE_POOL_SIZE, N.LEAGUE_WINDOW_MATCHES)},
    **{k: (NUMBER,) for k in (N.LEAGUE_RATING, N.LEAGUE_RD, N.LEAGUE_CONSERVATIVE, N.LEAGUE_MIX_HEURISTIC,
                              N.LEAGUE_MIX_CANDIDATE, N.LEAGUE_MIX_COMMANDER, N.LEAGUE_MIX_SELF,
                              N.LEAGUE_WIN_RATE_HEURISTIC, N.LEAGUE_WIN_RATE_CANDIDATE,
                              N.LEAGUE_WIN_RATE_COMMANDER, N.LEAGUE_WIN_RATE_SELF)},
}

REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    N.KIND_META: {
        **COMMON_KEYS,
        N.SCHEMA_VERSION: (INT,),
        "mode": (STR,),  # "ray" | "serial"
        "config": (DICT,),
        "seed": (INT,),
        "command": (LIST,),  # the argv, list of str
        "device": (STR,),  # learner device, e.g. "cpu", "cuda:0"
        "config_hash": (STR,),  # hex, :func:`config_hash`
        "env_signature_hash": (STR,),  # hex, :func:`stable_hash` of the env signature
        "git_sha": (STR, NULL),
        "versions": (DICT,),
    },
    N.KIND_UPDATE: {
        **COMMON_KEYS,
        **{k: ((INT,) if k in _UPDATE_INTS else (NUMBER,)) for k in N.REQUIRED_UPDATE_KEYS if k not in COMMON_KEYS},
        N.TRACE_ID: (STR,),
    },
    N.KIND_RESUME: {
        **COMMON_KEYS,
        N.RESUME_FROM: (STR,),
        N.RESUME_SKIPPED: (LIST,),
        N.RESUME_ABANDONED: (LIST, NULL),  # [first, last] update numbers, or null
        **COUNTER_KEYS,
    },
    N.KIND_ERROR: {
        **COMMON_KEYS,
        N.ERROR_KIND: (STR,),
        N.ERROR_MESSAGE: (STR,),
        N.ERROR_RECEIPT: (STR, NULL),
        N.TRAIN_UPDATE: (INT,),
        N.TRACE_ID: (STR,),
    },
    N.KIND_WARNING: {
        **COMMON_KEYS,
        N.WARNING_ALARM: (STR,),
        N.WARNING_MESSAGE: (STR,),
        N.WARNING_VALUE: (NUMBER,),
        N.WARNING_THRESHOLD: (NUMBER,),
        N.TRAIN_UPDATE: (INT,),
        N.TRACE_ID: (STR,),
    },
    N.KIND_SUMMARY: {
        **COMMON_KEYS,
        "stopped_by": (STR,),  # "done" | "stop_at_update" | "signal" | ...
        "checkpoint": (STR, NULL),
        **COUNTER_KEYS,
    },
    N.KIND_EPISODE: dict(COMMON_KEYS),
}

# The curriculum and evaluation families of update records (present when the run has them).
_CURRICULUM_INTS = (N.CURRICULUM_STAGE, N.CURRICULUM_WINDOW_MATCHES, N.CURRICULUM_HELD, N.CURRICULUM_SIZE_MIN,
                    N.CURRICULUM_SIZE_MAX, N.CURRICULUM_PACKS_MIN, N.CURRICULUM_PACKS_MAX)
_EVAL_INTS = (N.EVAL_MATCHES, N.EVAL_UPDATE, N.EVAL_POLICY_VERSION)
CURRICULUM_EVAL_KEYS: dict[str, tuple[str, ...]] = {
    **{k: (INT,) for k in _CURRICULUM_INTS + _EVAL_INTS},
    **{k: (NUMBER,) for k in (N.CURRICULUM_WEAPON_FIRE_PROB, N.CURRICULUM_WIN_RATE, N.EVAL_WIN_RATE, N.EVAL_DRAW_RATE,
                              N.EVAL_LOSS_RATE, N.EVAL_CI_LOW, N.EVAL_CI_HIGH, N.EVAL_RETURN_MEAN, N.EVAL_LENGTH_MEAN,
                              N.EVAL_KILLS, N.EVAL_DEATHS, N.EVAL_END_ZONE_RATE, N.EVAL_END_ELIMINATION_RATE,
                              N.EVAL_END_TIME_RATE, N.EVAL_WALL_S)},
    N.EVAL_MATCH_GIF: (DICT,),  # the video's JSON form: {"_type": "video", "path": "media/...gif", "caption"}
}

# Keys that may be absent but, when present, must have these types.
OPTIONAL: dict[str, dict[str, tuple[str, ...]]] = {
    N.KIND_META: {},
    N.KIND_UPDATE: {TRAIN_OPTIMIZER_STEPS: (INT,), N.POLICY_EXPLAINED_VAR: (NUMBER,), **LEAGUE_KEYS,
                    **CURRICULUM_EVAL_KEYS},
    N.KIND_RESUME: {N.RESUME_CHANGED: (DICT,)},
    N.KIND_ERROR: {},
    N.KIND_WARNING: {N.TRAIN_ENV_STEPS: (INT,)},
    N.KIND_SUMMARY: {},
    N.KIND_EPISODE: {},
}

KINDS = tuple(REQUIRED)
MODES = ("ray", "serial")

# The strings that stand for non-finite floats in the log (JSON has no NaN or infinity).
_STR_TO_FLOAT = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float_str(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode_nonfinite(value: Any) -> Any:
    """JSON-ready copy of ``value``: non-finite floats become ``"nan"``, ``"inf"``, ``"-inf"``.

    Recurses into dicts, lists and tuples (tuples become lists). NumPy scalars and arrays
    become Python numbers and lists first, so a ``np.float32`` NaN is caught too. Anything else
    is returned as is (``json.dumps``' ``default`` deals with it).
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else _float_str(value)
    if isinstance(value, dict):
        return {k: encode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_nonfinite(v) for v in value]
    # NumPy (or torch) scalars and arrays, without importing NumPy here.
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return encode_nonfinite(value.tolist())
    return value


def decode_nonfinite(value: Any) -> Any:
    """Inverse of :func:`encode_nonfinite` on parsed JSON: ``"nan"``/``"inf"``/``"-inf"`` → float.

    Those three strings are reserved in the log: no string field may hold them verbatim.
    """
    if isinstance(value, str):
        return _STR_TO_FLOAT.get(value, value)
    if isinstance(value, dict):
        return {k: decode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_nonfinite(v) for v in value]
    return value


def dumps(record: dict[str, Any]) -> str:
    """One log line (without the newline): strict JSON, non-finite floats as strings."""
    # Fast path: a record of finite numbers is encoded as it stands (the copy that
    # encode_nonfinite makes is most of the cost of a ~100-key update line); a non-finite float
    # makes json raise ValueError, and such a record takes the copying path. NumPy values reach
    # _plain, which gives what encode_nonfinite would, so both paths write the same text.
    try:
        return json.dumps(record, default=_plain, allow_nan=False)
    except ValueError:
        return json.dumps(encode_nonfinite(record), default=_jsonable, allow_nan=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return encode_nonfinite(value.tolist())
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    # Reached only for objects json cannot encode and encode_nonfinite left alone (paths,
    # dtypes, ...): their text is the most useful thing a log can keep.
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return encode_nonfinite(value.item())
    return str(value)


def stable_hash(obj: Any) -> str:
    """SHA-256 hex of ``obj`` as canonical JSON (sorted keys, no spaces, non-finite as strings).

    Equal for equal content whatever the dict order, so two runs with the same config (or the
    same env signature) share the hash.
    """
    text = json.dumps(encode_nonfinite(obj), sort_keys=True, separators=(",", ":"), default=_jsonable, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """Hash of a config dict (``echelon.config.config_to_dict`` output) for the meta record."""
    return stable_hash(config)


def env_signature(obs_space: Any, action_space: Any) -> dict[str, Any]:
    """What a policy must match to act in an env: the observation shape and the action space.

    ``obs_space`` is a flat ``Box [D]``; the action space is kept as its ``repr`` (Gymnasium
    spaces print their structure, bounds and dtypes). The meta record's ``env_signature_hash``
    is :func:`stable_hash` of this dict.
    """
    return {"obs_shape": [int(d) for d in obs_space.shape], "action_space": repr(action_space)}


def env_signature_hash(obs_space: Any, action_space: Any) -> str:
    """:func:`stable_hash` of :func:`env_signature` (the meta record's ``env_signature_hash``)."""
    return stable_hash(env_signature(obs_space, action_space))


def new_run_id() -> str:
    """A fresh run id (12 hex digits), kept across the run's resumes."""
    return uuid.uuid4().hex[:12]


def make_trace_id(run_id: str, update: int) -> str:
    """``"<run_id>:<update>"``: names one update of one run (logs, checkpoints, receipts)."""
    return f"{run_id}:{int(update)}"
