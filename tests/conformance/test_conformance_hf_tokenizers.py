"""TensorFlow Transform's own vocabulary cases (``vocabulary_integration_test.py``), as data.

The inputs and expected vocabulary files / ids are transcribed into
``cases/tft.json``; TFT's ids are positions in its vocabulary file, vocabguard's start
after the pad and OOV ids, so a TFT id ``i`` is vocabguard's ``i + 2`` (the id map
``vocabguard import --format tft`` prints) and TFT's ``default_value`` is the OOV id.
"""

from __future__ import annotations

import pytest
from _harness import check, load

CASES = load("hf_tokenizers")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_hf_tokenizers_case(case, tmp_path):
    check(case, tmp_path)
