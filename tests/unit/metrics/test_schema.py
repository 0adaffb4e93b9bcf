"""The log schema: non-finite encoding round trip, hashes, and the per-kind key tables."""

import json
import math

import numpy as np

from echelon.metrics import names as N
from echelon.metrics import schema as S


def test_nonfinite_round_trip_recursive():
    value = {
        "a": math.nan,
        "b": [1.0, math.inf, {"c": -math.inf, "d": (2, math.nan)}],
        "e": "text",
        "f": None,
        "g": 3,
        "h": True,
    }
    encoded = S.encode_nonfinite(value)
    assert encoded == {"a": "nan", "b": [1.0, "inf", {"c": "-inf", "d": [2, "nan"]}], "e": "text", "f": None,
                       "g": 3, "h": True}
    decoded = S.decode_nonfinite(json.loads(json.dumps(encoded, allow_nan=False)))
    assert math.isnan(decoded["a"]) and decoded["b"][1] == math.inf and decoded["b"][2]["c"] == -math.inf
    assert math.isnan(decoded["b"][2]["d"][1]) and decoded["b"][2]["d"][0] == 2
    assert decoded["e"] == "text" and decoded["f"] is None and decoded["g"] == 3 and decoded["h"] is True


def test_numpy_values_are_encoded_too():
    encoded = S.encode_nonfinite({"x": np.float32("nan"), "y": np.array([1.5, np.inf]), "z": np.int64(7)})
    assert encoded == {"x": "nan", "y": [1.5, "inf"], "z": 7}
    assert type(encoded["z"]) is int


def test_dumps_is_strict_json_and_never_null():
    line = S.dumps({N.KIND: N.KIND_UPDATE, N.TRAIN_LOSS: float("nan"), "p": np.float32(-np.inf), "path": S})
    assert "null" not in line and "NaN" not in line and "Infinity" not in line
    rec = json.loads(line)
    assert rec[N.TRAIN_LOSS] == "nan" and rec["p"] == "-inf" and rec["path"].startswith("<module")


def test_stable_hash_ignores_key_order_and_sees_values():
    assert S.stable_hash({"a": 1, "b": {"c": 2}}) == S.stable_hash({"b": {"c": 2}, "a": 1})
    assert S.stable_hash({"a": 1}) != S.stable_hash({"a": 2})
    assert len(S.config_hash({"a": 1})) == 64 and int(S.config_hash({"a": 1}), 16) >= 0


def test_env_signature_hash_of_echelon_spaces():
    import gymnasium as gym

    obs = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    act = gym.spaces.Discrete(3)
    assert S.env_signature(obs, act) == {"obs_shape": [5], "action_space": "Discrete(3)"}
    assert S.env_signature_hash(obs, act) != S.env_signature_hash(obs, gym.spaces.Discrete(4))


def test_tables_cover_the_names_contract():
    update = S.REQUIRED[N.KIND_UPDATE]
    assert set(N.REQUIRED_UPDATE_KEYS) | {N.RUN_ID, N.TRACE_ID} == set(update)
    assert update[N.TRAIN_UPDATE] == (S.INT,) and update[N.TRAIN_ENV_STEPS] == (S.INT,)
    assert update[N.TRAIN_POLICY_LOSS] == (S.NUMBER,)
    assert set(S.KINDS) == {N.KIND_META, N.KIND_UPDATE, N.KIND_RESUME, N.KIND_ERROR, N.KIND_SUMMARY, N.KIND_EPISODE,
                            N.KIND_WARNING}
    for kind in S.KINDS:
        assert {N.KIND, N.TIME, N.RUN_ID} <= set(S.REQUIRED[kind])
    assert N.SCHEMA_VERSION in S.REQUIRED[N.KIND_META] and N.TRACE_ID in S.REQUIRED[N.KIND_ERROR]
    assert S.make_trace_id("abc", 12) == "abc:12"
    assert len(S.new_run_id()) == 12 and S.new_run_id() != S.new_run_id()


def test_type_tags():
    assert S.matches(3, (S.NUMBER,)) and S.matches(3.5, (S.NUMBER,)) and not S.matches(True, (S.NUMBER,))
    assert not S.matches(3.0, (S.INT,)) and S.matches(None, (S.STR, S.NULL)) and not S.matches("3", (S.INT,))
    assert S.type_tag([1]) == S.LIST and S.type_tag({}) == S.DICT and S.type_tag(2.5) == "float"


def test_dumps_fast_path_writes_what_the_encoding_path_writes():
    from pathlib import Path

    finite = {N.KIND: N.KIND_UPDATE, "a/b": 0.1, "i": 3, "f64": np.float64(2.5), "f32": np.float32(0.25),
              "i64": np.int64(-4), "arr": np.array([1.0, 2.0]), "t": (1, [2.0, {"x": np.float32(1.5)}]),
              "path": Path("/tmp/x"), "flag": True, "none": None, "s": "text", "h": {"counts": [1, 2]},
              "scalar": np.array(0.5), "inf32": np.float32(np.inf), "nanarr": np.array([np.nan, 1.0])}
    slow = json.dumps(S.encode_nonfinite(finite), default=S._jsonable, allow_nan=False)
    assert S.dumps(finite) == slow
    # A non-finite Python (or float64) number anywhere takes the encoding path: same text.
    for bad in (math.nan, np.float64(-np.inf), [1.0, math.inf]):
        rec = {**finite, "bad": {"deep": bad}}
        assert S.dumps(rec) == json.dumps(S.encode_nonfinite(rec), default=S._jsonable, allow_nan=False)
        assert "NaN" not in S.dumps(rec) and "Infinity" not in S.dumps(rec)
