"""``make html``: the executed notebooks as a static HTML folder (a workshop handout, a paper's supplement).

Every figure is embedded in the page (no external files), and an ``index.html`` lists the notebooks.

    python -m umi_lib.workbook.report runs/cpu/notebooks runs/cpu/html
"""

from __future__ import annotations

import html
import sys
from pathlib import Path


def notebook_html(path: Path) -> str:
    """One executed notebook as a self-contained HTML page (images inline as data URIs)."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(path, as_version=4)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})  # progress text: only each bar's final state
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return body


def build(src: str | Path, out: str | Path) -> list[Path]:
    """Render every ``NN_*.ipynb`` of ``src`` into ``out`` and write ``out/index.html``; returns the pages."""
    src, out = Path(src), Path(out)
    notebooks = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {src}: run `make workbook` first")
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for nb in notebooks:
        page = out / f"{nb.stem}.html"
        page.write_text(notebook_html(nb), encoding="utf-8")
        pages.append(page)
    items = "".join(f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem)}</a></li>' for p in pages)
    index = f"<!doctype html><meta charset='utf-8'><title>umi-workbook</title><h1>umi-workbook</h1><ol>{items}</ol>"
    (out / "index.html").write_text(index, encoding="utf-8")
    return pages


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m umi_lib.workbook.report EXECUTED_NOTEBOOKS_DIR OUT_DIR", file=sys.stderr)
        return 2
    try:
        pages = build(*args)
    except FileNotFoundError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(f"{len(pages)} pages in {args[1]} (open {Path(args[1]) / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
