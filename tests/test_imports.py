"""`import vocabguard` stays light: no TensorFlow, Keras or Beam."""

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "apache_beam", "tensorflow_text")


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys; {statement}; "
        f"import json; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_vocabguard_loads_no_heavy_framework():
    assert _loaded_after("import vocabguard") == []


def test_numpy_build_and_encode_load_no_heavy_framework():
    statement = (
        "import vocabguard as vg; "
        "v = vg.build_vocabulary(['a b', 'b c'], vg.VocabSpec(num_oov_buckets=3, "
        "lowercase=True, sequence_length=4), progress=False); v.encode(['a zz'])"
    )
    assert _loaded_after(statement) == []


def test_tf_module_loads_tensorflow_on_demand():
    assert "tensorflow" in _loaded_after("import vocabguard.tf")


def test_jobs_face_loads_no_heavy_framework():
    # The build use case imports Beam only when a job runs on a Beam runner.
    assert _loaded_after("import vocabguard.jobs") == []


def test_light_faces_load_no_heavy_framework():
    # Training and migrating load TensorFlow when they run, not when their face is imported.
    for face in ("vocabguard.formats", "vocabguard.lineage", "vocabguard.training"):
        assert _loaded_after(f"import {face}") == [], face
