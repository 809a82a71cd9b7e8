"""The peers' own vocabulary cases, transcribed as data (``cases/<peer>.json``), run against vocabguard.

One test per case, named ``<peer>-<case id>``, for each peer of ``_harness.PEERS``
(TensorFlow Transform, Keras 3's lookup layers, tensorflow-text WordPiece, Hugging Face
tokenizers); ``_harness`` says what each outcome asserts. A peer's ids may differ from
vocabguard's only by the documented layout: TFT's ids are positions in its vocabulary
file, vocabguard's start after the pad and OOV ids, so a TFT id ``i`` is vocabguard's
``i + 2`` (the id map ``vocabguard import --format tft`` prints).
"""

from __future__ import annotations

import pytest
from _harness import PEERS, check, load

CASES = [pytest.param(case, id=f"{peer}-{case['id']}") for peer in PEERS for case in load(peer)]


@pytest.mark.parametrize("case", CASES)
def test_peer_case(case, tmp_path):
    check(case, tmp_path)
