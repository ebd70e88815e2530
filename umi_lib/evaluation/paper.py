"""The paper's Table 1 (static evaluation), for side-by-side figures. Values are percentages as printed.

Source: α-UMi, "Small LLMs Are Weak Tool Learners: A Multi-LLM Agent" (EMNLP 2024), Table 1, read off
``X-PLUG/Multi-LLM-Agent:assets/result_static.png`` (the README's results image; transcribed in
``docs/paper.md#table-1-static-evaluation``). Columns map to our keys as in
``docs/metrics.md#column-mapping-to-the-paper``: Plan ACC = ``plan_em``, Act. EM =
``action_em``, Hallu. = ``hallu_rate``, Arg F1 = ``f1`` (most likely; the paper does not say), R-L = ``rouge``.
Backbone: LLaMA-2-chat 7B / 13B; ID = ToolBench in-domain, OOD = out-of-domain (our bundled test set).
"""

from __future__ import annotations

from umi_lib.names import TABLE_COLUMNS

CITATION = "α-UMi (Shen et al., EMNLP 2024), Table 1"

COLUMNS = tuple(TABLE_COLUMNS)  # the paper's column order

COLUMN_NAMES = TABLE_COLUMNS

# row: (ID Plan, Act, Hallu, Arg, R-L, OOD Plan, Act, Hallu, Arg, R-L)
_ROWS = {
    "ChatGPT 0-shot": (83.33, 58.67, 7.40, 45.61, 23.08, 81.62, 54.67, 8.19, 40.08, 22.85),
    "GPT-4 0-shot": (80.28, 55.52, 5.98, 48.74, 28.69, 77.80, 55.26, 5.12, 47.45, 30.61),
    "ToolLLaMA 7B len 4096": (66.42, 19.47, 33.94, 15.98, 2.06, 68.21, 30.75, 25.35, 25.07, 5.78),
    "ToolLLaMA 7B len 8192": (77.02, 47.56, 4.03, 42.00, 15.26, 77.76, 45.07, 3.45, 40.41, 18.10),
    "Single-LLM 7B": (81.92, 53.26, 2.32, 45.57, 42.66, 84.61, 56.54, 2.26, 50.09, 47.99),
    "Multi-LLM one-stage 7B": (87.52, 45.11, 7.71, 38.02, 41.01, 88.42, 53.40, 2.52, 45.79, 46.39),
    "Single-LLM multi-task 7B": (85.06, 51.83, 2.96, 44.25, 27.40, 86.55, 56.89, 2.77, 49.50, 32.58),
    "α-UMi w/o reuse 7B": (88.24, 55.50, 0.53, 48.97, 39.98, 87.91, 58.02, 2.32, 50.55, 42.59),
    "α-UMi w/ reuse 7B": (88.92, 58.94, 0.57, 52.24, 43.17, 89.72, 60.47, 0.45, 53.60, 46.26),
    "Single-LLM 13B": (81.01, 59.67, 1.53, 52.35, 42.16, 86.74, 60.04, 2.03, 52.94, 48.46),
    "Multi-LLM one-stage 13B": (86.49, 50.54, 5.11, 41.96, 36.21, 87.45, 56.71, 3.23, 47.49, 41.62),
    "Single-LLM multi-task 13B": (86.36, 58.96, 2.00, 49.28, 28.41, 86.64, 62.78, 3.42, 53.29, 35.46),
    "α-UMi w/o reuse 13B": (86.33, 60.07, 0.39, 53.11, 35.09, 87.75, 61.63, 2.95, 52.54, 37.70),
    "α-UMi w/ reuse 13B": (87.87, 63.03, 0.37, 57.65, 43.46, 88.73, 64.21, 0.24, 57.38, 42.50),
}

SPLITS = ("ID", "OOD")


def table1(row: str, split: str = "OOD") -> dict[str, float]:
    """One row of Table 1 for ``split`` as fractions keyed like ``umi score`` (``{"plan_em": 0.8972, ...}``)."""
    if row not in _ROWS:
        raise KeyError(f"unknown Table 1 row {row!r}; rows: {', '.join(_ROWS)}")
    if split not in SPLITS:
        raise KeyError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    values = _ROWS[row][:5] if split == "ID" else _ROWS[row][5:]
    return {key: v / 100 for key, v in zip(COLUMNS, values, strict=True)}


def rows() -> list[str]:
    return list(_ROWS)


# Table 2 (real-time ToolBench, ChatGPT judge), the two columns our replay environment covers:
# I1-Cat. (G1_category) and I2-Cat. (G2_category); (pass, win vs ChatGPT-ReACT). Source:
# docs/paper.md#table-2-real-time-evaluation, read off X-PLUG/Multi-LLM-Agent:assets/result_real.png; ChatGPT-ReACT
# is the win-rate reference (50).
TABLE2_CITATION = "α-UMi (Shen et al., EMNLP 2024), Table 2, I1-Cat./I2-Cat."

TABLE2 = {
    "ChatGPT ReACT": {"G1_category": (44.5, 50.0), "G2_category": (46.5, 50.0)},
    "ToolLLaMA DFSDT": {"G1_category": (62.0, 54.5), "G2_category": (77.0, 58.0)},
    "ChatGPT DFSDT": {"G1_category": (60.5, 57.3), "G2_category": (71.5, 64.8)},
    "GPT-4 DFSDT": {"G1_category": (67.0, 66.5), "G2_category": (77.5, 63.3)},
    "α-UMi 7B DFSDT": {"G1_category": (64.0, 57.0), "G2_category": (76.5, 72.0)},
}
