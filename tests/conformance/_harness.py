"""Conformance cases taken from the peers' own test suites, run against vocabguard.

The cases live as data in ``tests/conformance/cases/<peer>.json`` (inputs and the peer's
expected outputs, transcribed from the peer's test file; no peer code). Each case ends in
one of four outcomes, its ``status``:

- ``identical``: vocabguard gives the peer's tokens, order and ids as they are;
- ``id_map``: the same tokens and order; the ids differ only by the documented layout
  (pad id 0 and the OOV ids before the first token), exactly the id map that
  ``vocabguard import`` prints for that peer's files;
- ``different``: a deliberate difference, ``why`` names it (``REASONS``); the test asserts
  vocabguard's own documented result (``vocabguard``);
- ``unsupported``: a peer feature vocabguard does not offer, ``why`` names it
  (``UNSUPPORTED``); the test asserts that the feature is in that documented list.

A case may ``need`` a peer-compatible option (``NEEDS``). While the option is not in
this vocabguard, the case counts as ``different`` with the reason ``pending`` and the test
asserts today's result (``today``); once the option is there, the case runs with it and
must reach its ``status``.

``table()`` renders the docs' per-peer table from the data, so the two cannot drift
(``test_conformance_readme.py``).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).parent / "cases"
PEERS = {
    "tft": "TensorFlow Transform",
    "keras": "Keras 3 lookup layers",
    "tf_text": "tensorflow-text WordPiece",
    "hf_tokenizers": "Hugging Face tokenizers",
}
STATUSES = ("identical", "id_map", "different", "unsupported")

# Deliberate differences: one line each, shown in the docs' table.
REASONS = {
    "oov_default_value": (
        "TFT's unknown token is `default_value` (-1 or any int); vocabguard's is an OOV id "
        "inside `[0, input_dim)`, so a forgotten OOV never reads the last embedding row"
    ),
    "oov_hash": (
        "TFT hashes unknown tokens into its buckets with Fingerprint64 after the last "
        "token; vocabguard's buckets are ids 1..k with its own hash, so bucket numbers differ"
    ),
    "keeps_line_breaks": (
        "TFT's text vocabulary file silently drops tokens that are empty or hold a line "
        "break; vocabguard keeps every token (the empty string is a missing value)"
    ),
    "empty_is_missing": (
        "an empty string is a missing value in vocabguard (`missing=`), never a token"
    ),
    "int_value_order": (
        "integer tokens with equal counts are ordered by value (descending with "
        "`tie_break='bytes_descending'`); TFT orders them by their decimal strings' bytes, "
        "so at a `top_k` cut TFT keeps 3 over 111"
    ),
    "idf_formula": (
        "vocabguard's tf_idf uses Keras' IDF, log(1 + N / (1 + df)); TFT's `idf` is "
        "1 + log((N + 1) / (df + 1))"
    ),
    "punctuation_split": (
        "vocabguard's WordPiece pre-tokenizer splits punctuation off as BERT's basic "
        "tokenizer does; tf-text's `WordpieceTokenizer` is given words already split (and "
        "the test vocabulary's `##it?`, which no text reaches after that split, is refused "
        "at import, so those cases run without it)"
    ),
    "unknown_whole_word": (
        "an unknown word is one OOV id, never partly split into pieces around unknown "
        "characters (`split_unknown_characters`)"
    ),
    "word_limit_chars": (
        "the word-length limit counts characters (`max_chars_per_word`, as BERT and "
        "Hugging Face), not UTF-8 bytes"
    ),
    "specials_in_text": (
        "a special token written inside the text (`[unused1]`) is split like any text; "
        "reserved tokens get their ids from `lookup`, never from text"
    ),
    "oov_always": (
        "an unknown word always gets the OOV id; Hugging Face raises `Missing [UNK] token` "
        "at encode time when its vocabulary has none (vocabguard's import adds one)"
    ),
    "ngram_order": (
        "n-grams come width by width (each row's 1-grams, then its 2-grams, ...: "
        "`tf.strings.ngrams`' and Keras' order); TFT's `tft.ngrams` lists them position by "
        "position; the set is the same"
    ),
    "pending": (
        "the case needs a peer-compatible option vocabguard does not have yet ({missing}); "
        "the test asserts today's result, and the case runs with the option once it is in"
    ),
}

# Peer features vocabguard does not offer, and why.
UNSUPPORTED = {
    "mutual_information": (
        "TFT's label-based ranking (`labels`, mutual information, `use_adjusted_mutual_info`, "
        "`min_diff_from_avg`): vocabguard ranks by (weighted) counts only"
    ),
    "fingerprint_shuffle": (
        "TFT's `fingerprint_shuffle` orders by SHA-1 for parameter-server balancing; "
        "vocabguard keeps one documented count order"
    ),
    "coverage_key_fn": (
        "TFT's `key_fn` coverage arm (`coverage_top_k`, `coverage_frequency_threshold`)"
    ),
    "one_hot": (
        "`output_mode='one_hot'`: one row per token; vocabguard gives ids (for an "
        "Embedding) and multi_hot / count / tf_idf bags"
    ),
    "no_unknown_token": (
        "a WordPiece without an unknown token (the word passes through as it is, or the "
        "table's own OOV hash): every vocabguard piece is an id in `[0, input_dim)`"
    ),
    "given_idf_weights": (
        "IDF weights passed in by hand (`idf_weights=`): vocabguard's tf_idf takes them "
        "from the document counts its build recorded"
    ),
    "character_split": "`split='character'`: vocabguard's tokenizers split words, not characters",
    "callable": (
        "a Python callable as `standardize` or `split`: a vocabguard spec is data (it is "
        "recorded in the manifest and rebuilt on Beam and tf.data)"
    ),
    "adapt_steps": (
        "`adapt(steps=)` reads a prefix of the input; vocabguard builds from all of the "
        "input it is given (pass the prefix)"
    ),
    "network_vocab": (
        "the case loads bert-base-uncased's vocabulary from the network; the suite stays offline"
    ),
    "nested_texts": (
        "texts nested deeper than one batch (2-D or ragged batches of sentences): a "
        "WordPiece vocabulary encodes one text per value (flatten the batch first)"
    ),
    "max_chars_per_token": (
        "tf-text's `max_chars_per_token`, a limit on the length of the pieces tried: "
        "vocabguard tries every piece of the vocabulary (its limit is on words)"
    ),
    "nfd": (
        "`normalization_form='NFD'`/`'NFKD'` as output: vocabguard normalizes to NFC or "
        "NFKC (NFD is used inside `strip_accents` only)"
    ),
    "sparse_ids": (
        "a lookup table whose ids have gaps (detokenize refuses it): vocabguard's ids are "
        "dense by construction"
    ),
    "tflite": "conversion of the tokenizer to TensorFlow Lite",
    "row_splits_dtype": (
        "keeping an input RaggedTensor's row-splits dtype (int32): vocabguard's tf.data "
        "encoder takes a batch of texts and returns int64 row splits"
    ),
}


def load(peer: str) -> list[dict]:
    """The cases of ``peer``, checked for a well-formed outcome."""
    cases = json.loads((CASES_DIR / f"{peer}.json").read_text(encoding="utf-8"))
    for case in cases:
        assert case["status"] in STATUSES, case["id"]
        if case["status"] == "unsupported":
            assert case["why"] in UNSUPPORTED, case["id"]
        if case["status"] == "different":
            assert case["why"] in REASONS, case["id"]
        assert case.get("source"), case["id"]
    assert len({c["id"] for c in cases}) == len(cases), f"duplicate case id in {peer}"
    assert all(c.get("why", "pending") in LABELS for c in cases)
    return cases


# --- peer-compatible options that may not be in this vocabguard yet ---------------------


def _has_tie_break() -> bool:
    from vocabguard import VocabSpec

    return "tie_break" in {f.name for f in dataclasses.fields(VocabSpec)}


def _has_fractional_min_count() -> bool:
    from vocabguard import VocabSpec
    from vocabguard.errors import VocabguardError

    try:
        VocabSpec(min_count=0.5)
    except (VocabguardError, TypeError, ValueError):
        return False
    return True


def _has_int_zero_category() -> bool:
    """0 is an ordinary category where the cases need it: in an imported ``IntegerLookup``
    list without a mask token (Keras maps 0 to its OOV id there)."""
    import tempfile

    from vocabguard import import_vocabulary

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "integer_lookup.json"
        path.write_text("[-1, 1]", encoding="utf-8")
        vocab = import_vocabulary(path, "keras", tokenizer="none").vocab
        zero = int(vocab.lookup([0])[0])
    return zero in vocab.oov_ids


NEED_LABELS = {
    "tie_break": "`tie_break='bytes_descending'`",
    "fractional_min_count": "a fractional `min_count`",
    "int_zero_category": "0 as an ordinary category in an imported `IntegerLookup` list",
}
NEEDS = {
    "tie_break": _has_tie_break,
    "fractional_min_count": _has_fractional_min_count,
    "int_zero_category": _has_int_zero_category,
}


def available(need: str) -> bool:
    return NEEDS[need]()


def outcome(case: dict) -> tuple[str, str | None]:
    """``(status, why)`` of ``case`` in this vocabguard (a pending option counts as such)."""
    needs = case.get("needs", [])
    if any(not available(n) for n in needs):
        return "different", "pending"
    return case["status"], case.get("why")


# --- the docs table --------------------------------------------------------------------


def counts(peer: str) -> dict:
    cases = load(peer)
    result = {"cases": len(cases), **dict.fromkeys(STATUSES, 0), "why": Counter()}
    for case in cases:
        status, why = outcome(case)
        result[status] += 1
        if why:
            result["why"][why] += 1
    return result


LABELS = {
    "oov_default_value": "OOV id, not `default_value`",
    "oov_hash": "own OOV hash",
    "keeps_line_breaks": "keeps line-break tokens",
    "empty_is_missing": "empty string is missing",
    "int_value_order": "integers tie by value",
    "idf_formula": "Keras' IDF formula",
    "punctuation_split": "punctuation split",
    "unknown_whole_word": "unknown word whole",
    "word_limit_chars": "word limit in characters",
    "specials_in_text": "specials in text",
    "oov_always": "always an OOV id",
    "ngram_order": "n-gram order",
    "pending": "pending option",
    "mutual_information": "label ranking (MI)",
    "fingerprint_shuffle": "fingerprint_shuffle",
    "coverage_key_fn": "key_fn coverage",
    "one_hot": "one_hot",
    "no_unknown_token": "no unknown token",
    "given_idf_weights": "given idf_weights",
    "character_split": "character split",
    "callable": "Python callables",
    "adapt_steps": "adapt(steps=)",
    "network_vocab": "network download",
    "nested_texts": "nested batches of texts",
    "max_chars_per_token": "max_chars_per_token",
    "nfd": "NFD output",
    "sparse_ids": "sparse ids",
    "tflite": "TensorFlow Lite",
    "row_splits_dtype": "row-splits dtype",
}


def _reasons(result: dict, names: dict) -> str:
    parts = [f"{LABELS[why]} {n}" for why, n in sorted(result["why"].items()) if why in names]
    return f" ({', '.join(parts)})" if parts else ""


def table() -> str:
    """The conformance table of the docs, one row per peer, and its legend, from the case data."""
    lines = [
        "| Peer (its test files) | Cases | Identical | Identical through the id map "
        "| Deliberately different | Unsupported |",
        "|---|---|---|---|---|---|",
    ]
    totals: Counter = Counter()
    used: set = set()
    for peer, title in PEERS.items():
        result = counts(peer)
        used |= set(result["why"])
        sources = sorted({c["source"].split("::")[0].rsplit("/", 1)[-1] for c in load(peer)})
        for key in ("cases", *STATUSES):
            totals[key] += result[key]
        lines.append(
            f"| {title} ({', '.join(f'`{s}`' for s in sources)}) | {result['cases']} "
            f"| {result['identical']} | {result['id_map']} "
            f"| {result['different']}{_reasons(result, REASONS)} "
            f"| {result['unsupported']}{_reasons(result, UNSUPPORTED)} |"
        )
    lines.append(
        f"| **All** | {totals['cases']} | {totals['identical']} | {totals['id_map']} "
        f"| {totals['different']} | {totals['unsupported']} |"
    )
    lines.append("")
    missing = ", ".join(NEED_LABELS[n] for n in NEEDS if not available(n)) or "none"
    for names in (REASONS, UNSUPPORTED):
        lines += [
            f"- *{LABELS[k]}*: {text.format(missing=missing)}."
            for k, text in names.items()
            if k in used
        ]
    return "\n".join(lines)


def decode_bytes(value: Any) -> Any:
    """JSON holds text; ``{"b": "..."}`` marks a byte string (latin-1)."""
    if isinstance(value, dict) and set(value) == {"b"}:
        return value["b"].encode("latin-1")
    if isinstance(value, list):
        return [decode_bytes(v) for v in value]
    return value


# --- running a case --------------------------------------------------------------------


def _tolist(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_tolist(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _spec(case: dict, today: bool):
    from vocabguard import VocabSpec

    spec = dict(case.get("spec", {}))
    if today:
        spec = dict(case.get("today_spec", {k: v for k, v in spec.items() if k != "tie_break"}))
    return VocabSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


def _vocabulary(case: dict, tmp_path: Path, today: bool):
    """Build (``values`` / ``records``) or import (``file``) the case's vocabulary."""
    import vocabguard

    if "file" in case:
        source = case["file"]
        path = tmp_path / source.get("name", "vocab.txt")
        if "json" in source:
            path.write_text(json.dumps(source["json"]), encoding="utf-8")
        else:
            entries = [e for e in source["lines"] if e not in case.get("drop", [])]
            path.write_text("".join(f"{e}\n" for e in entries), encoding="utf-8")
        return vocabguard.import_vocabulary(path, source["format"], **source.get("options", {}))
    spec = _spec(case, today)
    values = case["records"] if "records" in case else decode_bytes(case["values"])
    vocab = vocabguard.build_vocabulary(
        values,
        spec,
        fields=case.get("fields"),
        weight_field=case.get("weight_field"),
        progress=False,
    )
    return vocab


def learned_tokens(vocab) -> list:
    """The tokens after the pad, OOV and reserved ids (the peers' "vocabulary")."""
    first = 1 + vocab.num_oov_buckets + len(vocab.spec.reserved_tokens)
    return _tolist(vocab.tokens[first:])


def run(case: dict, tmp_path: Path, *, today: bool = False) -> dict:
    """vocabguard's result for ``case``: ``tokens``, ``ids``, ``pieces``, ``rows``, ``ids_tf``."""
    from vocabguard import output_modes

    if "refused" in case.get("expect", {}):  # the peer refuses the options; so must vocabguard
        from vocabguard import VocabSpec
        from vocabguard.errors import ConfigError

        try:
            VocabSpec(**case["spec"])
        except ConfigError as error:  # a one-line message ending "Received: ..."
            assert "Received:" in str(error)
            return {"refused": "ConfigError"}
        return {"refused": None}
    made = _vocabulary(case, tmp_path, today)
    vocab = getattr(made, "vocab", made)
    result: dict = {}
    if "tokens" in case.get("expect", {}):
        result["tokens"] = learned_tokens(vocab)
    for key, keep in (("contains", True), ("absent", False)):
        if key in case.get("expect", {}):
            tokens = set(learned_tokens(vocab))
            result[key] = [t for t in case["expect"][key] if (t in tokens) == keep]
    if "counts" in case.get("expect", {}):
        result["counts"] = _tolist(vocab.counts)
    if "document_counts" in case.get("expect", {}):
        result["document_counts"] = _tolist(vocab.document_counts)
    if "idf" in case.get("expect", {}):  # the learned tokens' IDF, in vocabulary order
        idf = output_modes.idf_weights(vocab)[vocab.num_oov_buckets :]
        result["idf"] = [round(float(x), 5) for x in idf]
    if "input_dim" in case.get("expect", {}):
        result["input_dim"] = vocab.input_dim
    if "lookup" in case:
        result["ids"] = _tolist(vocab.lookup(decode_bytes(case["lookup"])))
    if "encode" in case:
        result["ids"] = _tolist(vocab.encode(case["encode"]))
    if "pieces" in case.get("expect", {}):
        result["pieces"] = [_tolist(vocab.decode([ids])[0]) for ids in vocab.encode(case["text"])]
    if "decode" in case:
        ids = made.id_map.array()[case["decode"]]
        result["decoded"] = _tolist(vocab.decode([ids], skip_pad=False)[0])
    if "detokenize" in case:  # the peer's ids, through the id map, back to text
        result["text"] = vocab.decode_text(made.id_map.array()[case["detokenize"]])
    if "words" in case.get("expect", {}):  # the pre-tokenizer's words (no vocabulary)
        from vocabguard._src.core.tokenizer import Tokenizer

        lists = Tokenizer(vocab.spec).tokenize_arrow(pa_array(case["text"]))
        result["words"] = [[w.decode("utf-8") for w in row] for row in lists.to_pylist()]
    if "dtype" in case.get("expect", {}):
        result["dtype"] = str(vocab.encode(case["text"])[0].dtype)
    if "bag" in case:
        rows = output_modes.encode(vocab, decode_bytes(case["bag_input"]), case["bag"])
        result["rows"] = [[round(float(x), 5) for x in row] for row in rows]
    if case.get("tf_data"):
        import tensorflow as tf

        from vocabguard.tf import encode_fn

        encode = encode_fn(vocab)
        dataset = tf.data.Dataset.from_tensor_slices(case["encode"]).batch(len(case["encode"]))
        batch = next(iter(dataset.map(encode)))
        result["ids_tf"] = _tolist(batch.to_list() if hasattr(batch, "to_list") else batch.numpy())
    if "id_map" in case:
        result["id_map"] = _tolist(made.id_map.array())
    return result


def pa_array(texts: list) -> Any:
    import pyarrow as pa

    return pa.array(texts, type=pa.string())


def mapped_ids(ids: Any, offset: int, default_value: int | None, oov_id: int = 1) -> Any:
    """The peer's ids through the layout: ``id + offset``; the peer's default value -> OOV."""
    if isinstance(ids, list):
        return [mapped_ids(i, offset, default_value, oov_id) for i in ids]
    if default_value is not None and ids == default_value:
        return oov_id
    return ids + offset


def expected(case: dict) -> dict:
    """What vocabguard must give for ``case`` in this vocabguard."""
    status, why = outcome(case)
    if why == "pending":
        return dict(case["today"])
    want = dict(case["expect"])
    want.pop("error", None)  # the peer raises; vocabguard's result is in "vocabguard"
    if status == "identical":
        return want
    if "vocabguard" in case:
        want.update(case["vocabguard"])
        return want
    # id_map / a layout-only difference: the peer's ids moved by the documented layout.
    if "ids" in want:
        want["ids"] = mapped_ids(want["ids"], case["offset"], case.get("default_value"))
    return want


def check(case: dict, tmp_path: Path) -> None:
    """Run ``case`` and assert its outcome (see the module docstring)."""
    status, why = outcome(case)
    if status == "unsupported":
        assert UNSUPPORTED.get(why), case["id"]
        return
    if "drop" in case:  # the full vocabulary is refused, naming the unreachable entry
        import pytest

        from vocabguard.errors import InputDataError

        full = dict(case, drop=[])
        with pytest.raises(InputDataError, match="cannot round-trip"):
            run(full, tmp_path)
    want = expected(case)
    if case.get("tf_data"):  # tf.data gives the numpy ids
        want["ids_tf"] = want["ids"]
    got = run(case, tmp_path, today=why == "pending")
    got = {k: v for k, v in got.items() if k in want}
    if "rows" in want:
        import numpy as np

        np.testing.assert_allclose(got.pop("rows"), want.pop("rows"), atol=1e-4)
    assert got == want, f"{case['id']}: {outcome(case)}"
    if status == "different" and why != "pending" and "vocabguard" in case:
        # A deliberate difference really differs from the peer (else it is identical).
        peer = {k: v for k, v in case["expect"].items() if k in case["vocabguard"]}
        assert {k: got[k] for k in peer} != peer, f"{case['id']} is identical now"
