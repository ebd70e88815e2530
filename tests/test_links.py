"""Relative links in the README, docs/, data READMEs and notebook markdown resolve, anchors included.

A link's target file must exist; a ``#anchor`` into a Markdown file (or a notebook) must be produced by one of
its headings under GitHub's rule (lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for
repeats). http(s) and mailto links are not checked. The docs are the project's own reference, so no text may
cite the old external specification ("spec §...") any more.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

from conftest import ROOT

SKIP_SCHEMES = ("http://", "https://", "mailto:")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the target may be <...> and may carry a "title"
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def doc_files(root: Path = ROOT) -> list[Path]:
    """The Markdown and notebook files whose links must resolve."""
    files = [root / "README.md"]
    files += sorted((root / "docs").rglob("*.md"))
    files += sorted((root / "data").rglob("README.md"))
    files += sorted((root / "notebooks").glob("*.ipynb"))
    return [f for f in files if f.is_file() and ".ipynb_checkpoints" not in f.parts]


def markdown_text(path: Path) -> str:
    """The Markdown of a file: the file itself, or a notebook's markdown cells joined by blank lines."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        markdown = [c["source"] for c in cells if c["cell_type"] == "markdown"]
        return "\n\n".join(s if isinstance(s, str) else "".join(s) for s in markdown)
    return path.read_text(encoding="utf-8")


def prose_lines(text: str) -> list[str]:
    """Lines outside fenced code blocks, with inline code spans blanked out."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line))
    return out


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading (before de-duplication)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images -> their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # drop punctuation; letters (any script), digits, _ and - stay
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file or notebook provides: heading slugs (with GitHub's -1, -2 suffixes) and
    explicit ``<a name=...>`` / ``id=...`` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = markdown_text(path)
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        m = HEADING.match(line)
        if m:
            slug = github_slug(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(a.lower() for a in HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[str]:
    """Every link and image target in the prose of a file (code blocks and code spans excluded)."""
    out = []
    for line in prose_lines(markdown_text(path)):
        out += [m.group(1) for m in INLINE_LINK.finditer(line)]
        m = REFERENCE_DEF.match(line)
        if m:
            out.append(m.group(1))
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in out]


def broken_links(files: list[Path]) -> list[str]:
    """``"file: target (reason)"`` for every relative link whose file or anchor does not exist."""
    problems = []
    cache: dict[Path, set[str]] = {}
    for f in files:
        for target in links(f):
            if target.lower().startswith(SKIP_SCHEMES):
                continue
            path_part, _, anchor = target.partition("#")
            dest = (f.parent / unquote(path_part)).resolve() if path_part else f.resolve()
            if not dest.exists():
                problems.append(f"{f}: {target} (no such file)")
                continue
            if anchor and dest.suffix in (".md", ".ipynb"):
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if unquote(anchor).lower() not in cache[dest]:
                    problems.append(f"{f}: {target} (no heading gives #{anchor})")
    return problems


def test_every_relative_link_and_anchor_resolves():
    files = doc_files()
    assert any(f.parent.name == "docs" for f in files) and any(f.suffix == ".ipynb" for f in files)
    assert sum(len(links(f)) for f in files) > 50, "the link extraction found almost nothing"
    assert broken_links(files) == []


def test_checker_catches_broken_links_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.md").write_text(
        "# Title\n\n## Real heading: `code`, and more!\n\n## Dup\n\n## Dup\n\n```\n# not a heading\n```\n"
    )
    (tmp_path / "sub" / "img.png").write_bytes(b"")
    (tmp_path / "a.md").write_text(
        "[ok](b.md#real-heading-code-and-more) [ok dup](b.md#dup-1) [ok file](b.md) ![ok image](sub/img.png)\n"
        "[ok web](https://example.org/x.md) [ok self](#local) `[in code](missing-in-code.md)`\n"
        "## Local\n"
        "[missing file](nope.md) ![missing image](sub/none.png) [bad anchor](b.md#no-such-heading)\n"
        "[fenced heading is not an anchor](b.md#not-a-heading) [bad self](#nowhere)\n"
        "```\n[in a fence](also-missing.md)\n```\n"
    )
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# NB\n", "[good](a.md#local) [bad](b.md#dup-2)"]},
            {"cell_type": "code", "metadata": {}, "source": ["# [not markdown](gone.md)"], "outputs": []},
        ]
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    problems = broken_links([tmp_path / "a.md", tmp_path / "n.ipynb"])
    reported = sorted(p.split(": ", 1)[1] for p in problems)
    assert reported == sorted(
        [
            "nope.md (no such file)",
            "sub/none.png (no such file)",
            "b.md#no-such-heading (no heading gives #no-such-heading)",
            "b.md#not-a-heading (no heading gives #not-a-heading)",
            "#nowhere (no heading gives #nowhere)",
            "b.md#dup-2 (no heading gives #dup-2)",
        ]
    )


def test_github_slugs():
    assert github_slug("Official script bugs") == "official-script-bugs"
    assert github_slug("ROUGE-L: two packages") == "rouge-l-two-packages"
    assert github_slug("StableToolBench: SoPR, SoWR and FAC") == "stabletoolbench-sopr-sowr-and-fac"
    assert github_slug("Stage 1: tool documentation") == "stage-1-tool-documentation"
    assert github_slug("The α-UMi agent") == "the-α-umi-agent"
    assert github_slug("Precision per device (`umi_lib.train`)") == "precision-per-device-umi_libtrain"


def test_no_citation_of_the_external_spec():
    files = doc_files() + sorted((ROOT / "notebooks").glob("*.py"))
    offenders = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if "spec §" in line or re.search(r"\bspec/[a-z_]+\.md\b", line):
                offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_every_fixed_bug_is_in_the_docs_and_readme_tables():
    """``BUG_FIXES`` (the code's list of official bugs that the default mode fixes) and the two tables agree."""
    from umi_lib.data.stage1 import BUG_FIXES

    for text in (ROOT / "docs" / "formats.md", ROOT / "README.md"):
        rows = [line.split("|")[1].strip() for line in text.read_text().splitlines() if line.startswith("| ")]
        missing = [name for name, *_ in BUG_FIXES if name not in rows]
        assert not missing, f"{text.name}: no bug-table row for {missing}"


# --- the code cites the docs, not the old specification ----------------------------------------------------

CODE_DIRS = ("umi_lib", "tests", "bench", "configs")
# "spec §4.4", "Spec 1.3", "spec section 2.1", "spec/toolbench_env.md", "DESIGN.md", "(issue 12)"
STALE_CITATION = re.compile(
    r"spec\s*§|\bspec/[a-z_]+\.md\b|\bspec\s+(?:section\s+)?\d+(?:\.\d+)*\b|\bDESIGN\.md\b|\(issue \d+\)",
    re.IGNORECASE,
)
# docs/<file>.md with an optional #anchor, as written in comments and docstrings
DOCS_REF = re.compile(r"(?<![\w/.-])docs/([\w./-]+?\.md)(?:#([\w-]+))?")


def code_files(root: Path = ROOT) -> list[Path]:
    """Every text file under the code folders (caches and binaries left out)."""
    files = []
    for folder in CODE_DIRS:
        for f in sorted((root / folder).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".png", ".gz", ".zip"):
                files.append(f)
    return files


def stale_citations(files: list[Path], root: Path = ROOT) -> list[str]:
    """``"file:line: text"`` for every line that still cites the old specification or a build note."""
    out = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if STALE_CITATION.search(line):
                out.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    return out


def broken_docs_refs(files: list[Path], root: Path = ROOT) -> list[str]:
    """``"file:line: docs/x.md#a (reason)"`` for every docs reference whose file or heading anchor is missing."""
    problems = []
    cache: dict[Path, set[str]] = {}
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            for m in DOCS_REF.finditer(line):
                dest, anchor = root / "docs" / m.group(1), m.group(2)
                where = f"{f.relative_to(root)}:{n}: {m.group(0)}"
                if not dest.is_file():
                    problems.append(f"{where} (no such file)")
                    continue
                if anchor:
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if anchor.lower() not in cache[dest]:
                        problems.append(f"{where} (no heading gives #{anchor})")
    return problems


def test_code_does_not_cite_the_external_spec():
    files = [f for f in code_files() if f != Path(__file__).resolve()]  # this file spells the patterns out
    assert len(files) > 50, "the code file listing found almost nothing"
    assert stale_citations(files) == []


def test_every_docs_reference_in_the_code_resolves():
    files = [f for f in code_files() if f != Path(__file__).resolve()]  # this file's examples point nowhere
    refs = sum(len(DOCS_REF.findall(f.read_text(encoding="utf-8"))) for f in files)
    assert refs > 30, "the docs-reference extraction found almost nothing"
    assert broken_docs_refs(files) == []


def test_code_checkers_catch_stale_citations_and_broken_docs_refs(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Official parse rules\n\n```\n## fenced\n```\n")
    (tmp_path / "umi_lib").mkdir()
    code = tmp_path / "umi_lib" / "m.py"
    code.write_text(
        '"""Parse rules: ``docs/a.md#official-parse-rules``; the whole file: docs/a.md."""\n'
        "# bad anchor (docs/a.md#fenced), no file (see docs/b.md#x).\n"
        "# spec §4.4, Spec 1.3, (spec 4.2), spec section 2.1, spec/alpha_umi_spec.md, DESIGN.md, (issue 7)\n"
        "for arg, spec in props.items():  # a variable named spec is fine\n"
    )
    assert code_files(tmp_path) == [code]
    assert broken_docs_refs([code], tmp_path) == [
        "umi_lib/m.py:2: docs/a.md#fenced (no heading gives #fenced)",
        "umi_lib/m.py:2: docs/b.md#x (no such file)",
    ]
    assert [s.split(":")[1] for s in stale_citations([code], tmp_path)] == ["3"]
    for cite in ("spec §4.4", "Spec 1.3", "(spec 4.2)", "spec section 2.1", "spec/alpha_umi_spec.md", "DESIGN.md"):
        assert STALE_CITATION.search(cite), cite
    assert STALE_CITATION.search("(issue 7)")
    assert not STALE_CITATION.search("for arg, spec in props.items():")
