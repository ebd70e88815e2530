# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Results: the paper's static metrics, with confidence intervals
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/umi-workbook/umi-workbook/blob/main/notebooks/04_results.ipynb)
#
# α-UMi's Table 1 scores **teacher-forced steps**: for every labelled planner step of a test trajectory the
# model sees the gold history and predicts that one step
# ([static-evaluation items](../docs/formats.md#static-evaluation-items)). This notebook scores prediction files
# the way the paper's evaluator (`evaluate-multi_agent.py`) does, byte for byte in its parsing rules, and adds
# what the paper does not report: 95% bootstrap intervals, a planner confusion matrix, and breakdowns.
#
# Every `runs/<profile>/metrics/*.json` is a run (`umi score --predictions FILE --out FILE` writes one).
# Until a trained model has produced predictions (notebook 03), two files made **without a model** give the
# code real inputs: the **oracle** (prediction = reference, must score 100 / 0 hallucination) and a
# **degraded** copy with one seeded mistake in about 45% of the steps (wrong tool, changed argument, wrong
# plan, half an answer).

# %%
# Colab setup: on a fresh Colab runtime (google.colab loaded, umi_lib not importable) clone and install the
# repository; then, on Colab, import it without a restart, work from its notebooks/ folder so that ../data,
# ../configs and ../runs resolve as in a checkout, and take the colab-t4 profile on a GPU (UMI_PROFILE or the
# papermill parameter profile_name still win). In a checkout, or wherever umi_lib is importable, it only prints.
import importlib.util, os, shutil, subprocess, sys  # noqa: E401, I001

REPO, HOME = "https://github.com/umi-workbook/umi-workbook", "/content/umi-workbook"  # pyproject's Repository
colab = "google.colab" in sys.modules
if colab and importlib.util.find_spec("umi_lib") is None:  # a fresh Colab runtime
    subprocess.run(["git", "clone", "--depth", "1", REPO, HOME], check=True)
    subprocess.run(["pip", "install", "-q", "-e", f"{HOME}[gpu]"], check=True)
if colab and os.path.isdir(HOME):  # on Colab, also after a runtime restart
    sys.path.insert(0, HOME)
    os.chdir(f"{HOME}/notebooks")
    if shutil.which("nvidia-smi"):
        os.environ.setdefault("UMI_PROFILE", "colab-t4")
print(f"Colab: working in {os.getcwd()}" if colab else "not on Colab: nothing to set up")

# %% tags=["parameters"]
# Profile: "smoke" (tests), "cpu" (default), "colab-t4", "gpu-7b". None: UMI_PROFILE, else "cpu".
profile_name = None
# Paper rows to show next to our runs (names as in umi_lib.evaluation.paper.rows()); out-of-domain split.
paper_rows = ["α-UMi w/ reuse 7B", "Single-LLM 7B"]

# %%
from umi_lib import config
from umi_lib.evaluation import selection
from umi_lib.workbook import results

# %%
profile = config.load_profile(profile_name)
profile.name

# %% [markdown]
# ## 1. Score the model-free prediction files
#
# Each file is a JSON list of `{"reference", "predictions", "tools"}` items (the official format) plus
# `trajectory` and `step`, which the bootstrap and the by-step breakdown use. Steps are grouped by how many
# tools the query offers (the out-of-domain file has no G1/G2/G3 labels).
#
# Besides the metrics, every run counts what the paper's script could not have scored
# (`official_crashes`: it would have stopped with an exception; here each case has a defined value, see
# [docs/metrics.md](../docs/metrics.md#where-the-official-script-crashes)) and predictions that did not parse
# as a tool call (`parse_failures`).

# %%
scored = results.score_bundled(profile)
results.diagnostics(scored)

# %% [markdown]
# ## 2. The results table
#
# Columns are Table 1's, ×100. The intervals resample **trajectories** (400 in the out-of-domain set), not
# steps: steps of one trajectory share a query and a history, so treating them as independent would make
# the intervals too narrow. The paper's rows are the numbers printed in its Table 1 (LLaMA-2-chat 7B
# backbone), shown for orientation only: they were not rerun here.

# %%
runs = selection.load_metrics(profile)
results.results_table(runs, paper_rows)

# %% [markdown]
# ## 3. What each metric measures, on one real step
#
# * **Plan ACC** (`plan_em`): did the planner choose the right next speaker (`call`, `finish` or
#   `give up`)? Over all steps.
# * **Act. EM** (`action_em`): on steps whose reference calls a tool, is the predicted tool name exactly the
#   reference's?
# * **Arg F1** (`f1`; `easy_f1` for calls without arguments, `hard_f1` with): per argument, the same value is
#   a full match and a different value half a match; a wrong tool scores 0 in all three.
# * **Hallu.** (`hallu_rate`): share of *all* steps whose predicted tool is not in the query's tool list.
# * **R-L** (`rouge`): ROUGE-L of the final answer on `finish` steps, with the `rouge` 1.0.1 package's
#   semantics (sentences split on `.`, distinct tokens; `rouge_score_rougeL` in the metrics file is the
#   other, more common ROUGE-L, for comparison: [two packages](../docs/metrics.md#rouge-l-two-packages)).
#
# The exact rules, including how a prediction string is parsed, are in
# [docs/metrics.md](../docs/metrics.md#official-parse-rules).
#
# The table shows, for each metric, the first degraded step that loses on it.

# %%
results.metric_examples(profile)

# %% [markdown]
# ## 4. Figures (saved as PNG, PDF and the numbers behind them as CSV under `figures/`)
#
# For a one-column paper call `plots.set_style(width="one-column")` (≈3.3 in) before drawing; two-column
# (≈6.9 in) is the default.
#
# Table-1 style bars, with our intervals as error bars and the paper's numbers as hatched white bars.

# %%
results.table1_plot(runs, profile, paper_rows)

# %% [markdown]
# Where do planner mistakes go? Rows are the reference plan, columns the prediction.

# %%
results.confusion_plot(runs, profile, "degraded")

# %% [markdown]
# Do later steps (longer histories) get harder? Positions with fewer than 10 steps are left out.

# %%
results.by_step_plot(runs, profile)

# %%
results.by_group_plot(runs, profile)

# %% [markdown]
# Training-loss curves per GLPFT stage read `runs/<profile>/logs/<system>/<stage>.jsonl` (format in
# `umi_lib/train/logs.py`); the panel stays empty until notebook 02 has trained.

# %%
results.loss_plot(profile)

# %% [markdown]
# ## Exercises
#
# Cells run in this folder, `notebooks/`, so paths start with `../`; in a `!` line, `{profile.name}` is this
# notebook's profile. If `!umi` says *command not found*, Jupyter was started without the environment on `PATH`:
# `import sys` and write `!{sys.executable} -m umi_lib.cli` instead.
# Solutions: [docs/solutions.md](../docs/solutions.md#notebook-04-results).
#
# * 🐢 Run `!umi score --predictions ../runs/{profile.name}/predictions/degraded.json --out /tmp/m.json` and find
#   `official_crashes` and `parse_failures` in its output and in `/tmp/m.json`. Which mistakes of the degraded file
#   show up there? (`model_free.degraded` in `umi_lib/evaluation/model_free.py` makes them.)
# * 🐕 Copy `../runs/<profile>/predictions/oracle.json` to `/tmp`, change one answer of the copy to `...` (the text
#   after the last `conclusion: ` of a finish step's prediction) and score the copy: the paper's script would stop
#   with `ValueError`; what does `umi score` report instead
#   ([docs/metrics.md](../docs/metrics.md#where-the-official-script-crashes))?
# * 🦁 Score the degraded file with `--resamples 2000` and two seeds (`--seed 1`, `--seed 2`). How much do the
#   interval bounds move? Then give every item of a copy its own `trajectory` id, so that the bootstrap resamples
#   steps, and compare the widths metric by metric. Why does R-L not narrow, why is the change small for this
#   file, and why is resampling steps wrong for a model's predictions?
