"""JSON in the official layout (``json.dump(indent=2)``, ASCII escapes), written atomically and streamed."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from umi_lib.data.records import FormatError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Rename a finished temporary file into place with normal (umask) permissions."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    _publish(tmp, path)


class JsonListWriter:
    """Write a JSON list item by item; the bytes equal ``json.dump(items, f, indent=2)``.

    JSON strings never contain raw newlines, so indenting every line of ``json.dumps(item, indent=2)`` by
    two spaces gives exactly the nested layout. The file appears under its name only on ``close()``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0

    def write(self, item: Any) -> None:
        body = json.dumps(item, indent=2).replace("\n", "\n  ")
        self._fh.write(("[\n  " if self.count == 0 else ",\n  ") + body)
        self.count += 1

    def close(self) -> None:
        self._fh.write("[]" if self.count == 0 else "\n]")
        self._fh.close()
        _publish(self._tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> JsonListWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort() if exc_type else self.close()


def dump_json_list(path: str | os.PathLike, items) -> int:
    with JsonListWriter(path) as w:
        for item in items:
            w.write(item)
    return w.count


def load_json(path: str | os.PathLike) -> Any:
    """``json.load`` with a readable error (file name, line, column) instead of a traceback.

    ``.gz`` files are decompressed; ``x.json`` falls back to ``x.json.gz`` when only that exists.
    """
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".gz").exists():
        path = path.with_name(path.name + ".gz")
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise FormatError("bad_json", f"{path}: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise FormatError("bad_encoding", f"{path}: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise FormatError("unreadable", f"{path}: {getattr(exc, 'strerror', None) or exc}") from exc
