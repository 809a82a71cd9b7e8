"""VocabSpec: validation messages, unknown keys, YAML loading, RE2 patterns, round trips."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec
from vocabguard._src.core.spec import ID_DTYPES, NORMALIZATIONS, TOKENIZERS
from vocabguard._src.core.spec_groups import (
    LayoutSpec,
    MissingSpec,
    SelectionSpec,
    TokenizerSpec,
    WordPieceSpec,
)
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard.errors import ConfigError, SpecError, received

FIELDS = [f.name for f in dataclasses.fields(VocabSpec)]


def spec_error(**kwargs) -> SpecError:
    with pytest.raises(SpecError) as info:
        VocabSpec(**kwargs)
    return info.value


# -- defaults --


def test_defaults():
    spec = VocabSpec()
    assert spec.tokenizer == "whitespace"
    assert spec.num_oov_buckets == 1
    assert spec.id_dtype == "int32"
    assert spec.reserved_tokens == ()
    assert spec.resolved_pad_token(integer=False) == "[PAD]"
    assert spec.resolved_oov_token(integer=False) == "[UNK]"
    assert spec.resolved_pad_token(integer=True) is None  # the id 0, no value
    assert spec.resolved_oov_token(integer=True) == -1


def test_spec_is_frozen():
    spec = VocabSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.min_count = 3  # type: ignore[misc]


def test_reserved_tokens_list_becomes_tuple():
    spec = VocabSpec(reserved_tokens=["[CLS]", "[SEP]"])
    assert spec.reserved_tokens == ("[CLS]", "[SEP]")
    assert hash(spec) == hash(VocabSpec(reserved_tokens=("[CLS]", "[SEP]")))


def test_spec_error_is_a_config_error_and_a_value_error():
    err = spec_error(min_count=0)
    assert isinstance(err, ConfigError)
    assert isinstance(err, ValueError)


# -- bad values: the key, what is allowed, and a closing `Received: key=value` --

# (kwargs, key named by the error, fragments the message must hold, the closing Received).
BAD_VALUES = [
    (
        {"tokenizer": "bogus"},
        "tokenizer",
        ["`tokenizer` must be one of", *TOKENIZERS],
        {"tokenizer": "bogus"},
    ),
    (
        {"normalization": "NFD"},
        "normalization",
        ["`normalization` must be one of", *NORMALIZATIONS],
        {"normalization": "NFD"},
    ),
    (
        {"id_dtype": "int16"},
        "id_dtype",
        ["`id_dtype` must be one of", *ID_DTYPES],
        {"id_dtype": "int16"},
    ),
    (
        {"lowercase": "yes"},
        "lowercase",
        ["`lowercase` must be true or false"],
        {"lowercase": "yes"},
    ),
    ({"lowercase": 1}, "lowercase", ["`lowercase` must be true or false"], {"lowercase": 1}),
    ({"min_count": 0}, "min_count", ["`min_count` must be a number > 0"], {"min_count": 0}),
    ({"min_count": -3}, "min_count", ["`min_count` must be a number > 0"], {"min_count": -3}),
    ({"min_count": -0.5}, "min_count", ["`min_count` must be a number > 0"], {"min_count": -0.5}),
    (
        {"min_count": True},
        "min_count",
        ["`min_count` must be a number > 0"],
        {"min_count": True},
    ),
    ({"min_count": "2"}, "min_count", ["`min_count` must be a number > 0"], {"min_count": "2"}),
    (
        {"num_oov_buckets": 0},
        "num_oov_buckets",
        ["`num_oov_buckets` must be an integer >= 1", "unknown tokens never get -1"],
        {"num_oov_buckets": 0},
    ),
    (
        {"max_tokens": 0},
        "max_tokens",
        ["`max_tokens` must be an integer >= 1", "leave it unset"],
        {"max_tokens": 0},
    ),
    (
        {"capacity": -5},
        "capacity",
        ["`capacity` must be an integer >= 1", "leave it unset"],
        {"capacity": -5},
    ),
    (
        {"max_token_bytes": 2.0},
        "max_token_bytes",
        ["`max_token_bytes` must be an integer >= 1"],
        {"max_token_bytes": 2.0},
    ),
    (
        {"sequence_length": 0},
        "sequence_length",
        ["`sequence_length` must be an integer >= 1"],
        {"sequence_length": 0},
    ),
    (
        {"tokenizer": "regex"},
        "pattern",
        ["`tokenizer: regex` needs `pattern`", "RE2"],
        {"pattern": None},
    ),
    ({"tokenizer": "regex", "pattern": ""}, "pattern", ["needs `pattern`"], {"pattern": ""}),
    (
        {"pattern": "[,]+"},
        "pattern",
        ["`pattern` is only used with `tokenizer: regex`"],
        {"tokenizer": "whitespace", "pattern": "[,]+"},
    ),
    (
        {"tokenizer": "none", "sequence_length": 8},
        "sequence_length",
        ["`sequence_length` applies to tokenized text", "Remove sequence_length"],
        {"sequence_length": 8},
    ),
    (
        {"reserved_tokens": "[CLS]"},
        "reserved_tokens",
        ["`reserved_tokens` must be a list of tokens"],
        {"reserved_tokens": "[CLS]"},
    ),
    (
        {"reserved_tokens": 3},
        "reserved_tokens",
        ["`reserved_tokens` must be a list of tokens"],
        {"reserved_tokens": 3},
    ),
    (
        {"reserved_tokens": ["a", 1]},
        "reserved_tokens",
        ["must be all strings or all integers"],
        {"reserved_tokens": ["a", 1]},
    ),
    (
        {"reserved_tokens": [b"a"]},
        "reserved_tokens",
        ["must be all strings or all integers"],
        {"reserved_tokens": [b"a"]},
    ),
    (
        {"reserved_tokens": ["a", ""]},
        "reserved_tokens",
        ["may not contain the empty string"],
        {"reserved_tokens": ["a", ""]},
    ),
    (
        {"reserved_tokens": ["a", "b", "a"]},
        "reserved_tokens",
        ["lists 'a' twice (positions 0 and 2)", "Remove the duplicate"],
        {"reserved_tokens": ["a", "b", "a"]},
    ),
    (
        {"reserved_tokens": ["<s>", "<pad>"], "pad_token": "<pad>"},
        "reserved_tokens",
        ["contains the pad_token '<pad>'", "remove it from reserved_tokens"],
        {"reserved_tokens": ["<s>", "<pad>"], "pad_token": "<pad>"},
    ),
    (
        {"reserved_tokens": [7], "oov_token": 7},
        "reserved_tokens",
        ["contains the oov_token 7"],
        {"reserved_tokens": [7], "oov_token": 7},
    ),
    (
        {"pad_token": 1.5},
        "pad_token",
        ["`pad_token` must be a string (or an integer"],
        {"pad_token": 1.5},
    ),
    (
        {"oov_token": ["x"]},
        "oov_token",
        ["`oov_token` must be a string (or an integer"],
        {"oov_token": ["x"]},
    ),
    (
        {"pad_token": "<x>", "oov_token": "<x>"},
        "oov_token",
        ["`pad_token` and `oov_token` must differ"],
        {"pad_token": "<x>", "oov_token": "<x>"},
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "key", "fragments", "tail"),
    BAD_VALUES,
    ids=[f"{case[1]}-{i}" for i, case in enumerate(BAD_VALUES)],
)
def test_bad_value_message(kwargs, key, fragments, tail):
    err = spec_error(**kwargs)
    message = str(err)
    assert err.key == key
    assert f"`{key}`" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert message.endswith(received(**tail)), message
    # The closing clause names the key with its value.
    assert f"{key}=" in message.rsplit("Received: ", 1)[1]


@pytest.mark.parametrize(
    ("kwargs", "key", "value"),
    [
        ({"min_count": 0}, "min_count", 0),
        ({"tokenizer": "bogus"}, "tokenizer", "bogus"),
        ({"num_oov_buckets": -1}, "num_oov_buckets", -1),
    ],
)
def test_bad_value_through_from_dict_and_replace(kwargs, key, value):
    tail = f"Received: {key}={value!r}"
    with pytest.raises(SpecError) as info:
        VocabSpec.from_dict(kwargs)
    assert str(info.value).endswith(tail)
    with pytest.raises(SpecError) as info:
        VocabSpec().replace(**kwargs)
    assert str(info.value).endswith(tail)


@pytest.mark.parametrize(
    ("reserved", "pad_token", "oov_token", "clash"),
    [
        (["[CLS]", "[PAD]"], None, None, "pad_token '[PAD]'"),
        (["[UNK]"], None, None, "oov_token '[UNK]'"),
        ([5, 0], 0, None, "pad_token 0"),
        ([5, 0], None, None, None),  # integers: the default pad is no value, 0 a token
        ([-1, 4], None, None, "oov_token -1"),
        (["[UNK]"], None, "<unk>", None),
        (["[PAD]"], "<pad>", None, None),
    ],
)
def test_reserved_tokens_may_not_hold_the_default_special_tokens(
    reserved, pad_token, oov_token, clash
):
    """The (default) pad token must map to 0 and the OOV label must stay OOV, so neither
    can be a reserved token; a default that was overridden is an ordinary token."""
    kwargs = {"reserved_tokens": reserved, "pad_token": pad_token, "oov_token": oov_token}
    if clash is None:
        assert VocabSpec(**kwargs).reserved_tokens == tuple(reserved)
        return
    err = spec_error(**kwargs)
    assert err.key == "reserved_tokens"
    assert f"`reserved_tokens` contains the {clash}" in str(err)
    assert "Received: reserved_tokens=" in str(err)


@pytest.mark.parametrize(
    ("pad_token", "oov_token"), [("[UNK]", None), (None, "[PAD]"), (-1, None), (0, 0)]
)
def test_pad_and_default_oov_token_must_differ(pad_token, oov_token):
    err = spec_error(pad_token=pad_token, oov_token=oov_token)
    assert err.key == "oov_token"
    assert "`pad_token` and `oov_token` must differ" in str(err)
    assert "Received: pad_token=" in str(err)


# -- unknown keys --


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("min_cout", "min_count"),
        ("tokenzier", "tokenizer"),
        ("num_oov_bucket", "num_oov_buckets"),
        ("reserved", "reserved_tokens"),
        ("maxtokens", "max_tokens"),
        ("lower_case", "lowercase"),
    ],
)
def test_unknown_key_suggests_the_close_match(typo, meant):
    with pytest.raises(SpecError) as info:
        VocabSpec.from_dict({"tokenizer": "whitespace", typo: 2})
    message = str(info.value)
    assert info.value.key == typo
    assert message.startswith(f"Unknown vocabulary spec key '{typo}'.")
    assert f"Did you mean '{meant}'?" in message
    assert "Allowed keys: " + ", ".join(FIELDS) + "." in message
    assert message.endswith(f"Received: {typo}=2")


def test_unknown_key_without_close_match_has_no_suggestion():
    with pytest.raises(SpecError) as info:
        VocabSpec.from_dict({"zzzzzz": True})
    message = str(info.value)
    assert "Did you mean" not in message
    assert "Allowed keys: " + ", ".join(FIELDS) in message
    assert message.endswith("Received: zzzzzz=True")


def test_from_dict_rejects_a_non_mapping():
    with pytest.raises(SpecError) as info:
        VocabSpec.from_dict(["tokenizer", "none"])
    message = str(info.value)
    assert "must be a mapping of field names to values" in message
    assert message.endswith("Received: spec=['tokenizer', 'none']")


# -- YAML --


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_from_yaml(tmp_path):
    path = write(
        tmp_path / "vocab.yaml",
        "tokenizer: regex\n"
        "pattern: '[\\s,;]+'\n"
        "lowercase: true\n"
        "normalization: NFKC\n"
        "min_count: 2\n"
        "max_tokens: 500\n"
        "num_oov_buckets: 3\n"
        "reserved_tokens: ['[CLS]', '[SEP]']\n"
        "capacity: 1024\n"
        "sequence_length: 16\n"
        "id_dtype: int64\n",
    )
    spec = VocabSpec.from_yaml(path)
    assert spec == VocabSpec(
        tokenizer="regex",
        pattern="[\\s,;]+",
        lowercase=True,
        normalization="NFKC",
        min_count=2,
        max_tokens=500,
        num_oov_buckets=3,
        reserved_tokens=("[CLS]", "[SEP]"),
        capacity=1024,
        sequence_length=16,
        id_dtype="int64",
    )


def test_from_yaml_nested_key(tmp_path):
    path = write(tmp_path / "job.yaml", "input: x.txt\nvocab:\n  tokenizer: none\n  min_count: 3\n")
    assert VocabSpec.from_yaml(path, key="vocab") == VocabSpec(tokenizer="none", min_count=3)


def test_from_yaml_missing_section(tmp_path):
    path = write(tmp_path / "job.yaml", "input: x.txt\n")
    with pytest.raises(ConfigError) as info:
        VocabSpec.from_yaml(path, key="vocab")
    message = str(info.value)
    assert f"{path} has no 'vocab' section" in message
    assert message.endswith(f"Received: path={str(path)!r}, key='vocab'")


def test_from_yaml_empty_file_is_the_default_spec(tmp_path):
    assert VocabSpec.from_yaml(write(tmp_path / "empty.yaml", "")) == VocabSpec()


def test_from_yaml_missing_file(tmp_path):
    path = tmp_path / "nope" / "vocab.yaml"
    with pytest.raises(ConfigError) as info:
        VocabSpec.from_yaml(path)
    message = str(info.value)
    assert not isinstance(info.value, SpecError)
    assert f"Config file {path} does not exist; check the path." in message
    assert message.endswith(f"Received: path={str(path)!r}")


@pytest.mark.parametrize(
    "text", ["tokenizer: [whitespace\n", "a: b: c\n", "min_count: 1\n  bad indent: 2\n"]
)
def test_from_yaml_invalid_yaml(tmp_path, text):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        VocabSpec.from_yaml(path)
    message = str(info.value)
    assert f"Config file {path} is not valid YAML" in message
    assert "line" in message  # PyYAML's position of the syntax error is kept
    assert message.endswith(f"Received: path={str(path)!r}")


def test_from_yaml_bad_value_names_the_file(tmp_path):
    path = write(tmp_path / "vocab.yaml", "min_count: 0\n")
    with pytest.raises(SpecError) as info:
        VocabSpec.from_yaml(path)
    message = str(info.value)
    assert message.startswith("`min_count` must be a number > 0")
    assert f"(in {path}). Received: min_count=0" in message
    assert message.endswith("Received: min_count=0")
    assert info.value.args == (message,)


def test_from_yaml_unknown_key_names_the_file(tmp_path):
    path = write(tmp_path / "vocab.yaml", "tokenizer: none\nmin_cout: 2\n")
    with pytest.raises(SpecError) as info:
        VocabSpec.from_yaml(path)
    message = str(info.value)
    assert f"Unknown vocabulary spec key 'min_cout' in {path}. Did you mean 'min_count'?" in message
    assert message.endswith("Received: min_cout=2")


def test_from_yaml_top_level_list(tmp_path):
    path = write(tmp_path / "vocab.yaml", "- tokenizer\n- none\n")
    with pytest.raises(SpecError) as info:
        VocabSpec.from_yaml(path)
    assert f"A vocabulary spec in {path} must be a mapping" in str(info.value)


# -- regex patterns (RE2) --


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "(?=x)", "(?<=a)b", "\\"])
def test_invalid_re2_pattern(pattern):
    err = spec_error(tokenizer="regex", pattern=pattern)
    message = str(err)
    assert err.key == "pattern"
    assert message.startswith("`pattern` is not a valid RE2 regular expression (")
    assert message.endswith(f"Received: pattern={pattern!r}")


@pytest.mark.parametrize(
    "pattern",
    [
        "[\\s,]*",
        "a|",
        "x?",
        "\\b",
        "^",
        "$",
        "(?:)",
        "\\pL*",
        "(,|\\pN*)",
        # RE2-only syntax that matches empty only next to text, never on "" alone
        # (these once passed validation and then hung the tokenizer).
        "\\pL?\\b",
        "\\pN?\\b",
        "(?:\\pL)?\\B",
        "\\p{Han}?\\b",
    ],
)
def test_empty_matching_pattern_is_rejected(pattern):
    err = spec_error(tokenizer="regex", pattern=pattern)
    message = str(err)
    assert err.key == "pattern"
    assert "`pattern` can match the empty string" in message
    assert "'[\\s,]+'" in message  # suggests a consuming pattern
    assert message.endswith(f"Received: pattern={pattern!r}")


@pytest.mark.parametrize(
    ("pattern", "text", "tokens"),
    [
        ("[\\s,;]+", "a, b;c  d", [b"a", b"b", b"c", b"d"]),
        ("\\|", "x|y||z", [b"x", b"y", b"z"]),
        ("\\pP+", "hi!there...you", [b"hi", b"there", b"you"]),
        ("[\\p{Zs}]+", "a\u3000b c", [b"a", b"b", b"c"]),
    ],
)
def test_valid_pattern_splits(pattern, text, tokens):
    spec = VocabSpec(tokenizer="regex", pattern=pattern)
    assert spec.pattern == pattern
    assert Tokenizer(spec).tokenize(text) == tokens


# -- to_dict / from_dict round trip (property) --

_token_text = st.text(min_size=1, max_size=6)
_token_int = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def specs(draw) -> VocabSpec:
    tokenizer = draw(st.sampled_from(TOKENIZERS))
    integer = tokenizer == "none" and draw(st.booleans())
    wordpiece = tokenizer == "wordpiece"  # one OOV id, a vocab_size and no max_tokens
    token = _token_int if integer else _token_text
    if wordpiece:  # tensorflow-text's WordPiece tokenizer cannot hold these
        token = token.filter(lambda t: "\x00" not in t and "\x11" not in t)
    pad_token = draw(st.none() | token)
    oov_token = draw(st.none() | token)
    pad = pad_token if pad_token is not None else (0 if integer else "[PAD]")
    oov = oov_token if oov_token is not None else (-1 if integer else "[UNK]")
    assume(pad != oov)
    reserved = draw(st.lists(token.filter(lambda t: t not in (pad, oov)), unique=True, max_size=4))
    optional = st.none() | st.integers(1, 10_000)
    return VocabSpec(
        tokenizer=tokenizer,
        pattern=draw(st.sampled_from(["[\\s,;]+", "\\|", "\\pP+"]))
        if tokenizer == "regex"
        else None,
        lowercase=draw(st.booleans()),
        normalization=draw(st.sampled_from(NORMALIZATIONS)),
        min_count=draw(st.integers(1, 100)),
        max_tokens=None if wordpiece else draw(optional),
        num_oov_buckets=1 if wordpiece else draw(st.integers(1, 64)),
        vocab_size=draw(st.integers(1, 50_000)) if wordpiece else None,
        reserved_tokens=draw(st.sampled_from([list, tuple]))(reserved),
        pad_token=pad_token,
        oov_token=oov_token,
        capacity=draw(optional),
        max_token_bytes=draw(optional),
        sequence_length=None if tokenizer == "none" else draw(optional),
        id_dtype=draw(st.sampled_from(ID_DTYPES)),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_to_dict_from_dict_round_trip(spec):
    data = spec.to_dict()
    # Fields written only when set, so specs from before them compare equal.
    optional = (
        "standardize",
        "split_cjk",
        "strip_accents",
        "clean_text",
        "never_split",
        "tie_break",
    )
    assert sorted(data) == sorted(f for f in FIELDS if f not in optional)
    assert isinstance(data["reserved_tokens"], list)
    assert VocabSpec.from_dict(data) == spec
    # The manifest stores the spec as JSON; YAML configs hold the same dict.
    assert VocabSpec.from_dict(json.loads(json.dumps(data))) == spec
    assert VocabSpec.from_dict(yaml.safe_load(yaml.safe_dump(data))) == spec
    assert spec.replace() == spec


# -- the groups: each a frozen dataclass that checks itself; the spec stays flat --

GROUP_OF = {
    "tokenization": TokenizerSpec,
    "selection": SelectionSpec,
    "id_layout": LayoutSpec,
    "missing_values": MissingSpec,
    "wordpiece": WordPieceSpec,
}


def test_the_groups_partition_the_flat_fields():
    grouped = [f.name for group in GROUP_OF.values() for f in dataclasses.fields(group)]
    # Every field in exactly one group: a new VocabSpec field joins one in spec_groups.py.
    assert sorted(grouped) == sorted(FIELDS)


def test_the_groups_and_the_flat_spec_share_their_defaults():
    # The flat fields mirror the groups' fields: one default each, never two that drift.
    flat = {f.name: f.default for f in dataclasses.fields(VocabSpec)}
    for group in GROUP_OF.values():
        for field in dataclasses.fields(group):
            assert field.default == flat[field.name], (group.__name__, field.name)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_each_group_holds_the_specs_normalized_values(spec):
    for attribute, group in GROUP_OF.items():
        part = getattr(spec, attribute)
        assert isinstance(part, group)
        for field in dataclasses.fields(group):
            assert getattr(part, field.name) == getattr(spec, field.name)
    assert pickle.loads(pickle.dumps(spec)).id_layout == spec.id_layout


@pytest.mark.parametrize(
    ("group", "kwargs", "key", "fragment"),
    [
        (TokenizerSpec, {"tokenizer": "bogus"}, "tokenizer", "`tokenizer` must be one of"),
        (TokenizerSpec, {"tokenizer": "none", "ngrams": 2}, "ngrams", "needs a tokenizer"),
        (SelectionSpec, {"min_count": 0}, "min_count", "`min_count` must be a number > 0"),
        (SelectionSpec, {"max_document_fraction": 2}, "max_document_fraction", "(0, 1]"),
        (LayoutSpec, {"pad_token": "x", "oov_token": "x"}, "oov_token", "must differ"),
        (LayoutSpec, {"reserved_tokens": ["a", "a"]}, "reserved_tokens", "lists 'a' twice"),
        (MissingSpec, {"missing_token": "[M]"}, "missing_token", "only used with"),
        (WordPieceSpec, {}, "vocab_size", "needs `vocab_size`"),
        (WordPieceSpec, {"joiner": "#", "tokenizer": "whitespace"}, "joiner", "only used with"),
    ],
)
def test_a_group_checks_itself_with_the_specs_message(group, kwargs, key, fragment):
    with pytest.raises(SpecError) as alone:
        group(**kwargs)
    assert alone.value.key == key
    assert fragment in str(alone.value)
    flat = {k: v for k, v in kwargs.items() if k != "tokenizer" or group is not WordPieceSpec}
    if group is WordPieceSpec:
        flat["tokenizer"] = kwargs.get("tokenizer", "wordpiece")
    with pytest.raises(SpecError) as whole:
        VocabSpec(**flat)
    assert str(whole.value) == str(alone.value)  # the spec raises the group's own error


def test_groups_normalize_what_the_flat_spec_then_holds():
    spec = VocabSpec(min_count=2.0, ngrams=2, reserved_tokens=["[CLS]"], max_token_bytes="none")
    assert (spec.min_count, spec.ngrams, spec.reserved_tokens) == (2, (1, 2), ("[CLS]",))
    assert spec.max_token_bytes is None and spec.selection.max_token_bytes is None
    assert spec.tokenization.ngrams == (1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.selection.min_count = 3  # type: ignore[misc]
