"""Markdown tables, the summary lines under them, and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

from harness.process import CONTENDED_CORES, RSS_SAMPLE_S


def markdown(headers: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def speed(result: dict | None, tokens: int) -> float | None:
    """Tokens per second of a result's median run (None for failed or missing rows)."""
    if not result or "error" in result or not result.get("median_s"):
        return None
    return tokens / result["median_s"]


def rss(result: dict) -> str:
    text = f"{result['peak_rss_mb']:,.0f}"
    if result.get("max_processes", 1) > 1:
        text += f" ({result['max_processes']} procs)"
    return text


def cpu(result: dict) -> str:
    """CPU seconds per timed run: the row's process and its waited-for children (not
    the Beam multi_processing workers or a Dask cluster, which it does not wait for)."""
    value = result.get("cpu_per_run_s")
    return "n/a" if value is None else f"{value:.1f}"


def contention(result: dict) -> str:
    cores = result.get("other_cpu_cores")
    if cores is None:
        return "n/a"
    return f"{cores:.2f}" + (" (contended)" if cores > CONTENDED_CORES else "")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


METHOD = (
    "seconds: median of the timed runs (runs column), from the files to a vocabulary; "
    "imports and interpreter start-up not included. tokens/s = corpus tokens / median "
    "seconds. peak RSS (MiB): the row's process plus every process it started (Beam "
    "multi_processing workers) and the services it used (the Dask scheduler and workers), "
    f"summed, sampled every {RSS_SAMPLE_S} s from /proc, and at least the process's own "
    "getrusage peak; 'procs' = the most processes seen at once. CPU s/run: CPU seconds "
    "per timed run of the row's process (and the children it waited for; not Beam's "
    "multi_processing workers nor a Dask cluster): other work inflates it much less than "
    "wall time. other CPU: cores that "
    "processes outside the row used while it ran (/proc/stat minus the row's own CPU); "
    f"above {CONTENDED_CORES} the row was slowed by other work."
)


def contention_line(results: dict[str, dict], cpus: int | None) -> str | None:
    others = {n: r["other_cpu_cores"] for n, r in results.items() if "other_cpu_cores" in r}
    if not others:
        return None
    busiest = max(others.values())
    return (
        f"contention: CPU used by other processes while each row ran, in cores (of {cpus}): "
        + ", ".join(f"{n} {v:.2f}" for n, v in others.items())
        + (
            f"; above {CONTENDED_CORES} the row was slowed by other work: rerun on a quiet machine"
            if busiest > CONTENDED_CORES
            else ""
        )
    )


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")
