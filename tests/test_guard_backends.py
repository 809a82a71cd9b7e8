"""The id guard on every execution path: TF eager, tf.function, XLA, and JAX (jit).

Keras picks its backend once, at import, so the JAX checks run in one
subprocess with KERAS_BACKEND=jax and report back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import keras as vk
from vocabguard import tf as vtf
from vocabguard.errors import ConfigError, IdRangeError

BAD = tf.constant([[3, 5], [127, 1]], dtype=tf.int64)  # id 127 at position [1, 0]
MESSAGE = "Id 127 at position [1, 0] is not in [0, 127): 1 of 4 ids are out of range."


class TestTensorFlow:
    def test_eager(self):
        with pytest.raises(IdRangeError) as info:
            vtf.guard_ids(BAD, 127)
        assert str(info.value).startswith(MESSAGE)

    def test_tf_function(self):
        guarded = tf.function(lambda ids: vtf.guard_ids(ids, 127))
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            guarded(BAD)
        assert MESSAGE in str(info.value)

    def test_xla_is_a_clear_trace_time_error(self):
        guarded = tf.function(lambda ids: vtf.guard_ids(ids, 127), jit_compile=True)
        with pytest.raises(ConfigError) as info:
            guarded(tf.constant([[0, 1]]))  # in range: the error is about XLA, not the data
        message = str(info.value)
        assert message.startswith("The id guard cannot run inside XLA (jit_compile=True): XLA")
        assert "drops assertions" in message and "clamps out-of-range gather" in message
        assert "IdGuard(input_dim, mode='count')" in message
        assert message.endswith("Received: input_dim=127, jit_compile=True")
        assert not vtf.in_xla_context()

    def test_xla_inside_nested_function_and_keras_layer(self):
        inner = tf.function(lambda ids: vk.IdGuard(127)(ids))
        outer = tf.function(lambda ids: inner(ids) + 0, jit_compile=True)
        with pytest.raises(ConfigError, match="cannot run inside XLA"):
            outer(tf.constant([[0, 1]]))

    def test_count_mode_under_xla(self):
        guard = vk.IdGuard(127, mode="count")
        guard.build()
        replaced = tf.function(guard, jit_compile=True)(BAD)
        assert replaced.numpy().tolist() == [[3, 5], [0, 1]]
        assert guard.counts() == {"violations": 1, "min_bad_id": 127, "max_bad_id": 127}

    def test_ragged_ids_in_tf_data(self):
        ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1, 2], [3, 200, 4]]))
        ds = ds.batch(2).map(lambda ids: vtf.guard_ids(ids, 127))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Id 200 at position \[1, 1\]"):
            list(ds)


ids_and_dim = st.integers(1, 300).flatmap(
    lambda dim: st.tuples(st.lists(st.integers(-5, dim + 5), min_size=1, max_size=20), st.just(dim))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids_and_dim)
def test_guard_raises_iff_an_id_is_outside_the_range(case):
    ids, input_dim = case
    expected_bad = [(i, v) for i, v in enumerate(ids) if not 0 <= v < input_dim]
    tensor = tf.constant(ids, dtype=tf.int64)
    graph = tf.function(lambda t: vtf.guard_ids(t, input_dim))
    if expected_bad:
        position, value = expected_bad[0]
        first = f"Id {value} at position [{position}] is not in [0, {input_dim}): "
        with pytest.raises(IdRangeError) as info:
            vtf.guard_ids(tensor, input_dim)
        assert str(info.value).startswith(first + f"{len(expected_bad)} of {len(ids)} ids")
        with pytest.raises(IdRangeError):
            vk.IdGuard(input_dim)(tensor)
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            graph(tensor)
        assert first in str(info.value)
    else:
        assert vtf.guard_ids(tensor, input_dim).numpy().tolist() == ids
        assert graph(tensor).numpy().tolist() == ids
        assert np.asarray(vk.IdGuard(input_dim)(tensor)).tolist() == ids


JAX_SCRIPT = textwrap.dedent(
    """
    import json, os, warnings
    import numpy as np
    import jax, keras
    import vocabguard as vg
    from vocabguard import keras as vk
    from vocabguard.errors import IdRangeError

    assert keras.backend.backend() == "jax"
    out = {}

    def failure(fn):
        try:
            fn()
        except Exception as err:  # we report the type and text to the test
            return {"type": type(err).__name__, "text": str(err)}
        return None

    bad = np.array([[3, 5], [127, 1]])
    out["eager"] = failure(lambda: vk.IdGuard(127)(bad))
    jitted = jax.jit(lambda ids: vk.guard_tensor(ids, 127) + 1)
    out["jax_jit"] = failure(lambda: np.asarray(jitted(bad)))
    out["jax_jit_ok"] = np.asarray(jitted(bad[:1])).tolist()

    vocab = vg.build_vocabulary(["a b b c", "c d"], vg.VocabSpec(), progress=False)

    def model(guard):
        inputs = keras.Input(shape=(None,), dtype="int32")
        layer = vk.embedding(vocab, 4, guard=guard, name="words")
        pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
        m = keras.Model(inputs, keras.layers.Dense(1)(pooled))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.compile(optimizer="sgd", loss="mse", jit_compile=True)
        out.setdefault("compile_warnings", []).extend(str(w.message) for w in caught)
        out["jit_compile_" + str(guard)] = m.jit_compile
        return m, layer

    ids = np.array([[1, 2], [3, 6]])  # 6 == input_dim, at position [1, 1]
    m, _ = model("raise")
    out["predict_ok"] = list(m.predict(ids[:1], verbose=0).shape)
    out["predict"] = failure(lambda: m.predict(ids, verbose=0))
    m, _ = model("raise")
    out["fit"] = failure(lambda: m.fit(ids, np.zeros((2, 1)), shuffle=False, verbose=0))
    m, layer = model("count")
    data = np.array([[1, 2], [1, 2], [9, -4], [1, 2]])
    out["count"] = failure(
        lambda: m.predict(data, batch_size=2, verbose=0, callbacks=[vk.IdGuardCallback()])
    )
    out["counts"] = layer.id_guard.counts()
    m, layer = model("count")
    out["count_fit"] = failure(
        lambda: m.fit(data, np.zeros((4, 1)), batch_size=2, shuffle=False, verbose=0,
                      callbacks=[vk.IdGuardCallback()])
    )
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def jax_results():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT") :])


class TestJax:
    def test_eager_raises_our_error(self, jax_results):
        assert jax_results["eager"]["type"] == "IdRangeError"
        assert jax_results["eager"]["text"].startswith(MESSAGE)

    def test_jax_jit_raises_through_the_host_callback(self, jax_results):
        failure = jax_results["jax_jit"]
        assert failure["type"] == "JaxRuntimeError"
        assert "IdRangeError: " + MESSAGE in failure["text"]
        assert jax_results["jax_jit_ok"] == [[4, 6]]

    def test_keras_keeps_xla_and_the_step_raises(self, jax_results):
        assert jax_results["jit_compile_raise"] is True
        assert not any("jit_compile" in w for w in jax_results["compile_warnings"])
        assert jax_results["predict_ok"] == [1, 1]
        for step in ("predict", "fit"):
            failure = jax_results[step]
            assert failure["type"] == "JaxRuntimeError", step
            assert "Id 6 at position [1, 1] is not in [0, 6): 1 of 4 ids" in failure["text"]
            assert "Received: input_dim=6, min_id=1, max_id=6" in failure["text"]

    def test_count_mode_and_callback(self, jax_results):
        assert jax_results["jit_compile_count"] is True
        for key, phase in (("count", "predict"), ("count_fit", "train")):
            failure = jax_results[key]
            assert failure["type"] == "IdRangeError", key
            assert failure["text"].startswith(
                f"2 ids outside [0, 6) reached layer 'words_id_guard' in {phase} batch 1"
            )
            assert failure["text"].endswith(
                "Received: input_dim=6, num_bad=2, min_bad_id=-4, max_bad_id=9, batch=1"
            )
        assert jax_results["counts"] == {"violations": 2, "min_bad_id": -4, "max_bad_id": 9}
