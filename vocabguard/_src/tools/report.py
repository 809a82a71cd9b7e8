"""An HTML report of a vocabulary version (``vocabguard report``).

``report.html`` and ``coverage.png`` show:

- the coverage curve: the fraction of the build corpus's tokens the vocabulary
  covers when it keeps only its ``n`` most frequent learned tokens, for every
  ``n`` up to the chosen size, with the sizes reaching 90/95/99 % (where to set
  ``max_tokens``). The artifact stores only the tokens it kept, so the curve
  ends at the chosen size; ``stats['total_tokens']`` is the denominator (a
  token cut by ``min_count`` or ``max_tokens`` counts as not covered);
- the OOV rate on a sample (``--data``), tokenized and looked up exactly as
  ``vocab.encode`` does (before ``sequence_length`` truncation), with the
  sample's most frequent OOV tokens;
- the most frequent tokens, with their ids and counts.

Tokens are user data: the HTML escapes every one of them.

>>> import vocabguard
>>> vocab = vocabguard.build_vocabulary(["a a a b"], vocabguard.VocabSpec(), progress=False)
>>> curve = coverage_curve(vocab)
>>> curve.sizes.tolist(), curve.coverage.tolist()
([0, 1, 2], [0.0, 0.75, 1.0])
>>> curve.size_for(0.9)
2
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.artifact import categorical_facts, wordpiece_facts
from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.outputs import check_new_directory, new_directory
from vocabguard._src.core.vocabulary import printable_token
from vocabguard._src.engines.formats.inputs import expand_inputs
from vocabguard._src.tools.coverage import iter_sample_tokens

# matplotlib (the report extra) is imported inside the function that draws the plot.

REPORT_HTML = "report.html"
COVERAGE_PNG = "coverage.png"
TARGETS = (0.90, 0.95, 0.99)
TOP_TOKENS = 50
TOP_OOV = 20
BATCH_SIZE = 8192


@dataclasses.dataclass
class CoverageCurve:
    """``coverage[i]``: the share of corpus tokens covered keeping ``sizes[i]`` learned tokens.

    ``coverage[0]`` is what the reserved tokens cover on their own. With WordPiece the
    units are pieces: the pieces of the counted words (``min_count`` and up) when each is
    split, and one OOV piece per word that cannot be split.
    """

    sizes: np.ndarray
    coverage: np.ndarray
    total_tokens: int
    chosen: int
    distinct_tokens: int | None
    unit: str = "tokens"

    def size_for(self, target: float) -> int | None:
        """The fewest learned tokens covering ``target`` of the corpus (``None``: not reached)."""
        reached = np.flatnonzero(self.coverage >= target - 1e-12)
        return int(self.sizes[reached[0]]) if reached.size else None


def coverage_curve(vocab: Any) -> CoverageCurve:
    """The coverage curve of ``vocab``'s learned tokens over its build corpus."""
    counts = np.asarray(vocab.counts, dtype=np.int64)
    layout = vocab.layout
    retired = getattr(vocab, "retired", frozenset())
    ids = np.arange(layout.reserved_start, layout.reserved_start + len(counts))
    live = np.array([int(i) not in retired for i in ids], dtype=bool)
    reserved = counts[: layout.num_reserved]
    learned = counts[layout.num_reserved :][live[layout.num_reserved :]]
    # Grown vocabularies (lineage) keep old tokens first; the curve keeps the most frequent.
    learned = np.sort(learned)[::-1]
    total = int(vocab.stats.get("total_tokens") or 0) or int(counts.sum())
    if vocab.stats.get("weighted"):
        # Weighted counts are in units of weight_unit: coverage is a share of the weight.
        unit = float(vocab.stats.get("weight_unit") or 1.0)
        total = round(float(vocab.stats.get("total_weight") or 0.0) / unit) or int(counts.sum())
    pieces = vocab.stats.get("wordpiece")
    if pieces:
        # Piece counts are occurrences in the counted words' splits, not word counts.
        total = int(pieces["pieces_of_counted_words"] + pieces["oov_words"] + reserved.sum())
    covered = int(reserved.sum()) + np.concatenate([[0], np.cumsum(learned)])
    coverage = covered / total if total else np.zeros(len(covered))
    distinct = vocab.stats.get("distinct_tokens")
    return CoverageCurve(
        sizes=np.arange(len(learned) + 1),
        coverage=np.asarray(coverage, dtype=np.float64),
        total_tokens=total,
        chosen=len(learned),
        distinct_tokens=int(distinct) if distinct is not None else None,
        unit="pieces" if pieces else "tokens",
    )


@dataclasses.dataclass
class SampleStats:
    """The OOV rate of ``vocab`` on sample documents."""

    files: list[str]
    documents: int
    tokens: int
    oov: int
    pad: int
    top_oov: list[tuple[Any, int]]

    @property
    def oov_rate(self) -> float:
        """OOV ids / non-pad ids."""
        non_pad = self.tokens - self.pad
        return self.oov / non_pad if non_pad else 0.0


def sample_stats(
    vocab: Any,
    data: Sequence[str],
    *,
    format: str | None = None,
    field: str | None = None,
    top: int = TOP_OOV,
) -> SampleStats:
    """Tokenize and look up the documents of ``data`` (files or globs) as ``vocab.encode`` does."""
    files = expand_inputs(data)
    documents = tokens = oov = pad = 0
    missing: Counter = Counter()
    low, high = vocab.oov_ids.start, vocab.oov_ids.stop
    for count, (flat,) in iter_sample_tokens(
        [vocab], files, format=format, field=field, batch_size=BATCH_SIZE
    ):
        documents += count
        ids = np.asarray(vocab.lookup(flat))
        is_oov = (ids >= low) & (ids < high)
        tokens += int(ids.size)
        oov += int(is_oov.sum())
        pad += int((ids == vocab.pad_id).sum())
        if is_oov.any():
            counted = pc.value_counts(flat.filter(pa.array(is_oov)))
            for item in counted.to_pylist():
                missing[item["values"]] += item["counts"]
    return SampleStats(files, documents, tokens, oov, pad, missing.most_common(top))


# -- output --


def _plot(curve: CoverageCurve, title: str, path: str) -> None:
    # The object API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    sizes, coverage = curve.sizes, curve.coverage * 100
    log = curve.chosen >= 100
    if log:
        axes.set_xscale("log")
        sizes, coverage = sizes[1:], coverage[1:]  # log axis: start at one token
    axes.plot(sizes, coverage, color="tab:blue", label="coverage of the build corpus")
    axes.axvline(
        max(curve.chosen, 1),
        color="tab:red",
        linestyle="--",
        label=f"chosen size: {curve.chosen} learned tokens",
    )
    for target in TARGETS:
        size = curve.size_for(target)
        axes.axhline(target * 100, color="grey", linestyle=":", linewidth=0.8)
        if size is not None and (size > 0 or not log):
            axes.plot([size], [target * 100], "o", color="tab:green")
            axes.annotate(
                f"{target:.0%}: {size}",
                (size, target * 100),
                textcoords="offset points",
                xytext=(6, -12),
                fontsize=8,
            )
    axes.set_xlabel("vocabulary size (learned tokens, most frequent first)")
    axes.set_ylabel("% of corpus tokens covered")
    axes.set_ylim(0, 101)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 0.2em; }
.note { color: #555; font-size: 0.9em; }
"""


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, (int, float, np.integer)) and not isinstance(cell, bool):
                cells.append(f'<td class="n">{html.escape(str(cell))}</td>')
            else:
                cells.append(f"<td>{cell}</td>")  # callers escape text cells
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _token_cell(token: Any) -> str:
    return f"<code>{html.escape(printable_token(token))}</code>"


def top_tokens(vocab: Any, n: int = TOP_TOKENS) -> list[tuple[Any, int, int]]:
    """``(token, id, count)`` of the ``n`` most frequent reserved and learned tokens."""
    start = vocab.layout.reserved_start
    retired = getattr(vocab, "retired", frozenset())
    rows = [
        (token, start + offset, count)
        for offset, (token, count) in enumerate(zip(vocab.token_bytes, vocab.counts))
        if start + offset not in retired
    ]
    rows.sort(key=lambda row: (-row[2], row[1]))
    return rows[:n]


def render_html(
    vocab: Any, curve: CoverageCurve, sample: SampleStats | None, top: int = TOP_TOKENS
) -> str:
    """The report page (links ``coverage.png`` next to it)."""
    e = html.escape
    ref = vocab.ref or "unpublished vocabulary"
    # The pad and OOV tokens as used (the spec's None means the default, e.g. [PAD]).
    spec = {**vocab.spec.to_dict(), "pad_token": vocab.pad_token, "oov_token": vocab.oov_token}
    spec_rows = [(f"<code>{e(k)}</code>", f"<code>{e(repr(v))}</code>") for k, v in spec.items()]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>vocabguard report: {e(ref)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Vocabulary <code>{e(ref)}</code></h1>",
        _table(("", ""), [(e(k), v) for k, v in _summary_rows(vocab, curve)]),
        *_coverage_parts(ref, curve),
        *_sample_parts(sample),
        f"<h2>Top {top} tokens</h2>",
        _top_tokens_table(vocab, top),
        "<h2>Spec</h2>",
        _table(("field", "value"), spec_rows),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary_rows(vocab: Any, curve: CoverageCurve) -> list[tuple[str, Any]]:
    """The page's first table: identity, id layout, corpus and categorical facts."""
    e = html.escape
    stats = vocab.stats
    layout = vocab.layout
    summary = [
        ("reference", f"<code>{e(vocab.ref or 'unpublished vocabulary')}</code>"),
        ("fingerprint", f"<code>{e(vocab.fingerprint)}</code>"),
        ("input_dim", vocab.input_dim),
        (
            "id layout",
            e(
                f"pad 0, OOV {vocab.oov_ids.start}..{vocab.oov_ids.stop - 1}, "
                f"{layout.num_reserved} reserved, {layout.num_learned} learned"
                + (
                    f", {vocab.input_dim - layout.used_ids} unused"
                    if vocab.input_dim > layout.used_ids
                    else ""
                )
            ),
        ),
        ("documents", stats.get("documents", "-")),
        (f"corpus {curve.unit}", curve.total_tokens),
        ("distinct tokens", stats.get("distinct_tokens", "-")),
        ("coverage", f"{curve.coverage[-1]:.4f}" if len(curve.coverage) else "-"),
    ]
    # Categorical facts (fields, missing values, weights, aligned input_dim), as inspect shows.
    learned = vocab.tokens[len(vocab.tokens) - layout.num_learned :]
    for line in categorical_facts(vocab.manifest or {}) + wordpiece_facts(
        vocab.manifest or {}, learned if vocab.spec.tokenizer == "wordpiece" else None
    ):
        label, _, text = line.partition(" ")
        summary.append((label, e(text.strip())))
    return summary


def _coverage_parts(ref: str, curve: CoverageCurve) -> list[str]:
    """The coverage curve, what it means, and the sizes that reach each target."""
    e = html.escape
    targets = []
    for target in TARGETS:
        size = curve.size_for(target)
        targets.append(
            (
                f"{target:.0%}",
                size
                if size is not None
                else e(
                    f"not reached with {curve.chosen} learned tokens "
                    f"({curve.coverage[-1]:.2%}): raise max_tokens or lower min_count"
                ),
            )
        )
    return [
        "<h2>Coverage of the build corpus</h2>",
        f'<p><img src="{COVERAGE_PNG}" alt="coverage curve of {e(ref)}" width="800"></p>',
        '<p class="note">Share of the build corpus\'s tokens covered when the vocabulary '
        "keeps only its <i>n</i> most frequent learned tokens. The artifact keeps only the "
        "tokens it learned, so the curve ends at the chosen size; tokens cut by "
        "<code>min_count</code> or <code>max_tokens</code> count as not covered."
        + (
            " WordPiece: the units are pieces (each counted word split into pieces, weighted "
            "by its count; a word that cannot be split is one OOV piece); words below "
            "<code>min_count</code> are left out, and fewer pieces would split words "
            "otherwise, so the curve is the pieces' frequency, not a rebuild."
            if curve.unit == "pieces"
            else ""
        )
        + "</p>",
        _table(("coverage", "learned tokens needed"), targets),
    ]


def _sample_parts(sample: SampleStats | None) -> list[str]:
    """The OOV rate on the sample and its most frequent OOV tokens (none without one)."""
    if sample is None:
        return []
    parts = [
        "<h2>OOV rate on the sample</h2>",
        _table(
            ("", ""),
            [
                ("files", html.escape(", ".join(sample.files))),
                ("documents", sample.documents),
                ("tokens", sample.tokens),
                ("OOV tokens", sample.oov),
                ("OOV rate (of non-pad tokens)", f"{sample.oov_rate:.4f}"),
            ],
        ),
    ]
    if sample.top_oov:
        parts += [
            "<h3>Most frequent OOV tokens in the sample</h3>",
            _table(
                ("token", "count"),
                [(_token_cell(token), count) for token, count in sample.top_oov],
            ),
        ]
    return parts


def _top_tokens_table(vocab: Any, top: int) -> str:
    """The ``top`` most frequent tokens: id, count (or weight) and documents if counted."""
    weighted = bool(vocab.stats.get("weighted"))
    unit = float(vocab.stats.get("weight_unit") or 1.0)
    # Builds with document-frequency rules record the documents holding each token.
    documents = getattr(vocab, "document_counts", None)
    start = vocab.layout.reserved_start
    header = (
        "token",
        "id",
        f"weight ({html.escape(str(vocab.build.get('weight_field')))})" if weighted else "count",
    ) + (("documents",) if documents is not None else ())
    return _table(
        header,
        [
            (_token_cell(token), id_, f"{count * unit:g}" if weighted else count)
            + ((documents[id_ - start],) if documents is not None else ())
            for token, id_, count in top_tokens(vocab, top)
        ],
    )


def write_report(
    vocab: Any,
    output: str | os.PathLike,
    *,
    data: Sequence[str] | None = None,
    format: str | None = None,
    field: str | None = None,
    top: int = TOP_TOKENS,
) -> str:
    """Write ``report.html`` and ``coverage.png`` into the new (or empty) directory ``output``.

    Returns a short summary for the terminal. Raises ``OutputExistsError`` if
    ``output`` exists and is not an empty directory.
    """

    output = os.fspath(output)
    if top < 0:
        raise ConfigError(
            "The number of top tokens to list must be 0 or more. " + received(top=top)
        )
    check_new_directory(output)  # before the (slow) sample statistics
    curve = coverage_curve(vocab)
    sample = sample_stats(vocab, data, format=format, field=field) if data else None
    page = render_html(vocab, curve, sample, top)
    # Written to a staging directory and renamed: no half-written report on failure.
    with new_directory(output) as staging:
        _plot(curve, f"Coverage: {vocab.ref or 'vocabulary'}", os.path.join(staging, COVERAGE_PNG))
        with open(os.path.join(staging, REPORT_HTML), "w", encoding="utf-8") as fh:
            fh.write(page)
    reached = ", ".join(
        f"{t:.0%} at {s}" if s is not None else f"{t:.0%} not reached"
        for t, s in ((t, curve.size_for(t)) for t in TARGETS)
    )
    lines = [
        f"wrote {os.path.join(output, REPORT_HTML)} and {COVERAGE_PNG} for {vocab.ref}",
        f"  coverage {curve.coverage[-1]:.4f} with {curve.chosen} learned {curve.unit}; {reached}",
    ]
    if sample is not None:
        lines.append(
            f"  sample: {sample.documents} documents, {sample.tokens} tokens, "
            f"OOV rate {sample.oov_rate:.4f}"
        )
    return "\n".join(lines)


__all__ = [
    "CoverageCurve",
    "SampleStats",
    "coverage_curve",
    "render_html",
    "sample_stats",
    "top_tokens",
    "write_report",
]
