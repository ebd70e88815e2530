"""What made an artifact: a manifest next to every file or folder a run writes, and the check before reuse.

A manifest has two parts. ``inputs`` is everything that determines the artifact (base model id and weight
fingerprint, recipe hash, data hash, agent settings, seed, …): a cached artifact is reused only when its
stored ``inputs`` equal the ones a run would use now. ``recorded`` is provenance that does not decide reuse
(package version, the command that ran, a readable copy of the recipe). Where it lives:

* a folder (an adapter, a checkpoint folder, a profile's converted data): ``<folder>/manifest.json``;
* a file (predictions, metrics, test steps, evaluation chunks): ``<stem>.manifest.json`` beside it.

A stale artifact is never reused silently: :func:`stale_reasons` says what changed, and callers print it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

FOLDER_FILE = "manifest.json"
SUFFIX = ".manifest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_SAMPLE = 64 * 1024  # bytes read per probe when fingerprinting large weight files
_PROBES = 32  # evenly spaced probes per weight file, plus its head and its size

_command: str | None = None


def set_command(argv: Iterable[str]) -> None:
    """Record the ``umi`` command line for the manifests this process writes (called by the CLI)."""
    global _command
    _command = "umi " + shlex.join(list(argv))


def current_command() -> str:
    """The command that is running: ``umi …`` from the CLI, else the Python entry point (no machine paths)."""
    if _command:
        return _command
    main = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return "python (notebook or library call)" if "ipykernel" in main or not main else f"python {main}"


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("umi-workbook")
    except PackageNotFoundError:
        return "unknown"


def digest(obj: Any) -> str:
    """A short SHA-256 of ``obj`` as canonical JSON (sorted keys): equal inputs give equal digests."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _existing(path: str | os.PathLike) -> Path:
    """``x.json`` is read from ``x.json.gz`` when only that exists (as the readers do)."""
    path = Path(path)
    gz = path.with_name(path.name + ".gz")
    return gz if not path.exists() and gz.exists() else path


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of a file's bytes (``x.json`` falls back to ``x.json.gz``)."""
    h = hashlib.sha256()
    with open(_existing(path), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def tree_digest(root: str | os.PathLike, patterns: Iterable[str] = ("*",)) -> str:
    """Digest of every file under ``root`` (relative path and content), or of ``root`` itself if a file."""
    root = _existing(root)
    if root.is_file():
        return file_digest(root)
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    return digest([[p.relative_to(root).as_posix(), file_digest(p)] for p in files])


def _weight_file_fingerprint(path: Path) -> list[Any]:
    """Size, head and evenly spaced probes of a weight file: any retrained or swapped tensor shows up in
    practice, and a 13 GB 7B checkpoint is fingerprinted in milliseconds instead of a full read."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for k in range(_PROBES + 1):
            fh.seek(0 if k == 0 else max(0, size * k // _PROBES - _SAMPLE))
            h.update(fh.read(_SAMPLE))
    return [path.name, size, h.hexdigest()[:16]]


@lru_cache(maxsize=32)
def _folder_fingerprint(folder: str, stamp: tuple) -> str:
    root = Path(folder)
    parts: list[Any] = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json"):
            parts.append(_weight_file_fingerprint(p) if p.suffix in WEIGHT_SUFFIXES else [p.name, file_digest(p)])
    return digest(parts)


def weights_fingerprint(location: str) -> str:
    """Fingerprint of the weights at a local folder or file; for a Hub id, of its locally cached snapshot."""
    path = Path(location)
    if not path.exists():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(location, local_files_only=True))
        except Exception:  # not cached (yet): the id is all we know
            return f"hub:{location}"
    if path.is_file():
        return digest(_weight_file_fingerprint(path))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.iterdir()) if p.is_file())
    return _folder_fingerprint(str(path.resolve()), stamp)


def path_for(artifact: str | os.PathLike) -> Path:
    """Where the manifest of ``artifact`` lives (inside a folder, beside a file)."""
    artifact = Path(artifact)
    if artifact.is_dir() or not artifact.suffix:
        return artifact / FOLDER_FILE
    return artifact.with_name(artifact.name[: -len(artifact.suffix)] + SUFFIX)


def write(artifact: str | os.PathLike, kind: str, inputs: Mapping[str, Any], **recorded: Any) -> dict[str, Any]:
    """Write the manifest of ``artifact`` (atomically) and return it."""
    from umi_lib.data.jsonio import atomic_write_text

    manifest = {
        "kind": kind,
        "inputs": dict(inputs),
        "digest": digest(dict(inputs)),
        "recorded": {"package_version": package_version(), "command": current_command(), **recorded},
    }
    atomic_write_text(path_for(artifact), json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    return manifest


def read(artifact: str | os.PathLike) -> dict[str, Any] | None:
    """The stored manifest of ``artifact``, or None if there is none (or it cannot be read)."""
    path = path_for(artifact)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("inputs"), dict) else None


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def stale_reasons(artifact: str | os.PathLike, inputs: Mapping[str, Any]) -> list[str]:
    """Why the artifact's stored inputs differ from ``inputs`` (empty: it is current and may be reused)."""
    stored = read(artifact)
    if stored is None:
        return [f"no manifest at {path_for(artifact)} (made by an older version, or interrupted)"]
    old = stored["inputs"]
    now = json.loads(json.dumps(dict(inputs), default=str))  # compare as stored: tuples → lists, paths → str
    keys = sorted(set(old) | set(now))
    return [f"{k}: {_short(old.get(k))} → {_short(now.get(k))}" for k in keys if old.get(k) != now.get(k)]


def stored_digest(artifact: str | os.PathLike) -> str | None:
    """The digest of the artifact's stored inputs (what a downstream artifact records as its parent)."""
    stored = read(artifact)
    return None if stored is None else stored.get("digest")
