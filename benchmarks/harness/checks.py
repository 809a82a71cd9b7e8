"""Do the rows' vocabularies agree? Fingerprints of vocabguard's paths, token counts
against the corpus manifest, and each tool's tokens against the exact top-k computed
from the bare pyarrow row's counts (count descending, then UTF-8 bytes ascending)."""

from __future__ import annotations

import itertools
from pathlib import Path

from harness.rows import VOCABGUARD_ROWS


def read_tokens(path: str) -> list[bytes]:
    return Path(path).read_bytes().split(b"\n")[:-1]


def reference(results: dict, top_k: int) -> tuple[dict, list[bytes]] | None:
    """Counts of every token that can be in a top-k, and the exact top-k (count desc, bytes asc)."""
    pyarrow = results.get("pyarrow", {})
    if "reference_counts" not in pyarrow:
        return None
    counts: dict[bytes, int] = {}
    for line in Path(pyarrow["reference_counts"]).read_bytes().split(b"\n")[:-1]:
        count, token = line.split(b"\t", 1)
        counts[token] = int(count)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return counts, [token for token, _ in order]


def describe_topk(tokens: list[bytes], counts: dict, exact: list[bytes]) -> dict:
    """How a tool's vocabulary compares with the exact top-k."""
    kth = counts[exact[-1]] if exact else 0
    must = {t for t in exact if counts[t] > kth}  # in every exact top-k, whatever the tie rule
    have = set(tokens)
    got = [counts.get(t, 0) for t in tokens]
    valid = (
        len(tokens) == len(exact)
        and len(have) == len(tokens)
        and sorted(got) == sorted(counts[t] for t in exact)
    )
    ordered = all(a >= b for a, b in itertools.pairwise(got))
    ties = [(a, b) for a, b, ca, cb in zip(tokens, tokens[1:], got, got[1:]) if ca == cb]
    if not ties:
        tie_order = "none"
    elif all(a < b for a, b in ties):
        tie_order = "bytes ascending"
    elif all(a > b for a, b in ties):
        tie_order = "bytes descending"
    else:
        tie_order = "mixed"
    return {
        "same_as_exact": tokens == exact,
        "valid_topk": valid,
        "count_ordered": ordered,
        "tie_order": tie_order,
        "recall_above_cut": len(must & have) / len(must) if must else 1.0,
        "overlap": len(have & set(exact)) / len(exact) if exact else 1.0,
        "kth_count": kth,
    }


def fingerprints(results: dict) -> list[str]:
    """One line: do vocabguard's paths in ``results`` (name -> result) give one fingerprint."""
    found = {
        name: r["fingerprint"] for name, r in results.items() if r.get("fingerprint") is not None
    }
    if len(found) < 2:
        return []
    if len(set(found.values())) == 1:
        return [f"OK: same fingerprint {next(iter(found.values()))[:16]} from " + ", ".join(found)]
    return [f"MISMATCH: fingerprints differ: {found}"]


def checks(results: dict, manifest_tokens: int, top_k: int) -> list[str]:
    ok = {name: r for name, r in results.items() if "error" not in r}
    notes = fingerprints({n: ok[n] for n in VOCABGUARD_ROWS if n in ok})
    counted = {name: r["tokens"] for name, r in ok.items() if r.get("tokens") is not None}
    wrong = {name: n for name, n in counted.items() if n != manifest_tokens}
    if counted and not wrong:
        notes.append(
            f"OK: {', '.join(counted)} counted {manifest_tokens:,} tokens, as the corpus manifest"
        )
    elif wrong:
        notes.append(
            f"MISMATCH: token counts differ from the manifest's {manifest_tokens:,}: {wrong}"
        )
    tokens = {
        name: read_tokens(r["tokens_file"])
        for name, r in ok.items()
        if name != "pyarrow" and r.get("tokens_file") and Path(r["tokens_file"]).is_file()
    }
    if "beam-wordcount" in tokens:
        wordcount = tokens["beam-wordcount"]
        for name in VOCABGUARD_ROWS:
            if name in tokens:
                same = tokens[name] == wordcount
                notes.append(
                    f"{'OK' if same else 'MISMATCH'}: {name} tokens in id order "
                    f"{'==' if same else '!='} plain Beam word count's Top.Of "
                    f"({len(wordcount):,} tokens, count desc then bytes asc)"
                )
    found = reference(results, top_k)
    if found is not None:
        counts, exact = found
        for name, got in tokens.items():
            info = describe_topk(got, counts, exact)
            results[name]["topk_check"] = info
            if info["same_as_exact"]:
                notes.append(
                    f"OK: {name} == the exact top-{len(exact):,} from pyarrow's counts "
                    "(count desc, bytes asc)"
                )
                continue
            kind = "OK" if info["valid_topk"] else "NOTE"
            notes.append(
                f"{kind}: {name}: "
                + ("a valid exact top-k set" if info["valid_topk"] else "NOT an exact top-k")
                + f", ties at the cut (count {info['kth_count']}) {info['tie_order']}, "
                f"{'count-ordered' if info['count_ordered'] else 'NOT count-ordered'}; holds "
                f"{info['recall_above_cut']:.1%} of the tokens every exact top-k holds, "
                f"{info['overlap']:.1%} overlap with the exact top-k (bytes ascending ties)"
            )
    return notes
