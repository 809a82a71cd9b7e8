"""The inputs: ``gen_zipf``'s deterministic Zipf corpus, or BBC News + Brown (``data/``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import gen_zipf

REPO = Path(__file__).resolve().parents[2]
REAL_SOURCES = (
    REPO / "data" / "bbc_news" / "articles.txt",
    REPO / "data" / "brown" / "sentences.txt",
)


@dataclass(frozen=True)
class Corpus:
    pattern: str  # glob of its files
    manifest: dict  # bytes, lines, tokens, distinct_tokens, files
    description: str

    @property
    def tokens(self) -> int:
        return self.manifest["tokens"]

    @property
    def mb(self) -> float:
        return self.manifest["bytes"] / 1e6

    @property
    def files(self) -> int:
        return len(self.manifest["files"])

    def summary(self) -> str:
        return (
            f"{self.description}; {self.mb:,.1f} MB in {self.files} file"
            f"{'s' if self.files > 1 else ''} ({self.pattern}), {self.manifest['lines']:,} "
            f"lines, {self.tokens:,} tokens, {self.manifest.get('distinct_tokens', 0):,} "
            "distinct (lowercased)"
        )


def _real_corpus(shards: int) -> tuple[Path, dict]:
    """BBC News + Brown, one document per line, cut into ``shards`` files (once)."""
    missing = [str(p) for p in REAL_SOURCES if not p.is_file()]
    if missing:
        raise SystemExit(
            f"error: {', '.join(missing)} not found. Fetch the real corpora first with:\n"
            "    python scripts/fetch_data.py --corpus all"
        )
    folder = REPO / ".cache" / "bench" / f"real_bbc_brown_{shards}shards"
    manifest_path = folder / "MANIFEST.json"
    sources = [{"path": str(p.relative_to(REPO)), "bytes": p.stat().st_size} for p in REAL_SOURCES]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["sources"] == sources and all(
            (folder / f["name"]).stat().st_size == f["bytes"] for f in manifest["files"]
        ):
            return folder, manifest
    except (OSError, ValueError, KeyError):
        pass
    lines: list[bytes] = []
    for path in REAL_SOURCES:
        lines.extend(path.read_bytes().rstrip(b"\n").split(b"\n"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.txt"):
        old.unlink()
    files = []
    per = -(-len(lines) // shards)
    for index in range(shards):
        part = lines[index * per : (index + 1) * per]
        data = b"".join(line + b"\n" for line in part)
        name = gen_zipf.shard_name(index, shards)
        (folder / name).write_bytes(data)
        files.append({"name": name, "bytes": len(data), "lines": len(part)})
    distinct: set[str] = set()
    tokens = 0
    for line in lines:
        words = line.decode("utf-8").lower().split()
        tokens += len(words)
        distinct.update(words)
    manifest = {
        "sources": sources,
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "lines": len(lines),
        "tokens": tokens,  # str.split(); the rows' own counts are checked against it
        "distinct_tokens": len(distinct),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder, manifest


def prepare(kind: str, mb: float, shards: int, lexicon: int = gen_zipf.LEXICON) -> Corpus:
    """The corpus, written first when missing (``kind``: ``zipf`` or ``real``;
    ``lexicon``: the Zipf corpus' distinct words)."""
    if kind == "zipf":
        out = gen_zipf.DEFAULT_OUT
        folder = gen_zipf.corpus_dir(mb, shards, out, lexicon)
        manifest = gen_zipf.existing(mb, shards, out, lexicon)
        if manifest is None:
            # In a child process: the generator needs ~0.5 GB, and this process stays small
            # (a child started with vfork reports its parent's peak RSS as its own).
            script = Path(gen_zipf.__file__).resolve()
            command = [sys.executable, str(script), "--mb", f"{mb:g}", "--shards", str(shards)]
            command += ["--lexicon", str(lexicon)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            manifest = gen_zipf.existing(mb, shards, out, lexicon)
        description = (
            f"synthetic Zipf (s={gen_zipf.ZIPF_S}, {lexicon:,}-word lexicon, "
            f"seed {gen_zipf.SEED}; benchmarks/gen_zipf.py)"
        )
    else:
        folder, manifest = _real_corpus(shards)
        description = "real text: BBC News articles + Brown corpus sentences (data/)"
    return Corpus(str(folder / "part-*.txt"), manifest, description)
