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
# # 01 · From ToolBench trajectories to α-UMi training samples
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/umi-workbook/umi-workbook/blob/main/notebooks/01_convert.ipynb)
#
# α-UMi splits one tool-using LLM into three: a **planner** that thinks and decides who speaks next, a
# **caller** that writes the API call, and a **summarizer** that writes the final answer. All three (and the
# single-LLM "backbone" of GLPFT stage 1) learn from the same ToolBench DFSDT trajectories, rewritten into
# one training sample per step and role. This notebook walks through that rewrite:
#
# 1. a raw ToolBench trajectory (an OpenAI-style message chain),
# 2. the same trajectory as α-UMi *stage 2* turns (`user` / `assistant` / `caller` / `observation` / `conclusion`),
# 3. the four role samples it yields, with token counts under the profile's tokenizer,
# 4. the whole bundled sample converted into `runs/<profile>/data/`, with statistics and a figure.
#
# Everything runs offline on the data bundled in `data/` (see [data/README.md](../data/README.md) for provenance
# and licence).
# The rules are the official scripts' rules ([docs/formats.md](../docs/formats.md)), byte for byte under
# `compat`; the default mode fixes the documented bugs
# ([table of the official scripts' bugs](../docs/formats.md#official-script-bugs)).

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
# Profile: "smoke" (tests), "cpu" (default, SmolLM2-135M tokenizer), "colab-t4", "gpu-7b".
# None means: the UMI_PROFILE environment variable, else "cpu".
profile_name = None

# %%
from umi_lib import config
from umi_lib.data import profile_data
from umi_lib.train import bases
from umi_lib.workbook import convert, plots

# %%
profile = config.load_profile(profile_name)
profile

# %% [markdown]
# ## 1. One raw trajectory
#
# The official train example ships its 20 trajectories after *stage 1*: the tool list is rewritten
# (name ≤ 64 characters, description ≤ 256, `Finish` removed) and `chains` is ToolBench's final message
# chain ([stage 1](../docs/formats.md#stage-1-tool-documentation)). Stage 2 turns it into labelled turns: every
# assistant message with a function call becomes a planner turn ending in `Next: caller.`, `Next: conclusion.`
# or `Next: give up.`, followed by the `caller` turn (`Action: …\nAction Input: …`) or the `conclusion` (the
# final answer) ([stage 2](../docs/formats.md#stage-2-labelled-conversations)).

# %%
example = convert.example_trajectory(profile)

# %%
convert.raw_chain_table(profile, example)

# %% [markdown]
# The same trajectory after stage 2. Message 0 (ToolBench's system prompt) and message 1 (the query wrapped
# in "Begin!") are replaced by the plain query; each call becomes an `assistant` turn plus a `caller` turn,
# each tool output an `observation` (only its `response` field).

# %%
convert.trajectory_table(example)

# %% [markdown]
# ## 2. The four role samples of that trajectory
#
# * **planner**: one sample per assistant step; the prompt is the planner template with the whole history,
#   the target is the thought plus its `Next:` label.
# * **caller**: one sample per call; the prompt repeats the planner's thought, the target is the action.
# * **summarizer**: one sample per final answer.
# * **backbone** (single LLM, GLPFT stage 1): thought and action (or answer) merged into one target.
#
# Token counts use the tokenizer of the profile's base model. The exact templates and rules are in
# [docs/formats.md](../docs/formats.md#role-sample-files).

# %%
count_tokens = bases.token_counter(profile.base_model)
convert.samples_table(example, count_tokens)

# %% [markdown]
# The full caller prompt, exactly as the model sees it (note the thought appears twice: once in the
# history, once after "The thought of this step is:"):

# %%
print(convert.render_sample(example, "caller", 0))

# %% [markdown]
# ## 3. Convert the bundled sample
#
# Sources: the raw ToolBench DFS answers (15 files, 2 without a usable chain) and the 20 official
# stage-1 trajectories. Test queries are excluded by id. Samples longer than the profile's token budget
# lose their oldest history turns (the query and the target always stay); the few whose tool list alone
# is too long are rejected, and every such case is counted below, never silently dropped.

# %%
data = profile_data.prepare_data(profile)
convert.report_table(data.report)

# %%
convert.role_table(data, count_tokens)

# %% [markdown]
# The static test set (official out-of-domain file) becomes one item per planner step, teacher-forced:
# 1547 steps = 1146 call, 294 finish, 107 give-up.

# %%
convert.report_table(data.steps_report)

# %% [markdown]
# ## 4. Statistics
#
# Planner labels are imbalanced (most steps are calls), and prompts are long because every prompt
# carries the full tool documentation.

# %%
fig = plots.dataset_figure(
    dict(data.report.samples),
    convert.label_counts(data),
    convert.prompt_lengths(data, count_tokens),
    profile.max_tokens,
)
plots.save(fig, f"01_dataset_{profile.name}")
fig

# %% [markdown]
# ## Exercises
#
# Cells run in this folder, `notebooks/`, so paths start with `../`. If `!umi` says *command not found*,
# Jupyter was started without the environment on `PATH`: `import sys` and write `!{sys.executable} -m umi_lib.cli`
# instead. Solutions: [docs/solutions.md](../docs/solutions.md#notebook-01-convert).
#
# * 🐢 Run `!umi convert stage1 --stage1 ../data/alpha_umi/train-example/raw_data/raw_data_stage_1.json.gz
#   --out /tmp/compat --compat` and compare the output with the official files in `../data/alpha_umi/train-example/`
#   (`raw_data_stage_2.json` is in `raw_data/`). Those are gzipped, so compare with `zcmp`, not `cmp`: the files
#   are byte-identical. Convert again without `--compat`, into `/tmp/default`: which files change, and why?
#   ([the bug table](../docs/formats.md#official-script-bugs).)
# * 🐕 Count how many planner targets in `../runs/<profile>/data/train_planner.json` (`data.role_file("planner")`)
#   end in `Next: give up.`. What does this imbalance mean for a planner trained on it?
# * 🦁 Convert the same sources with half the token budget, into a scratch folder so that `../runs/<profile>/data/`
#   (what notebook 02 trains on) stays as it is: after `import dataclasses`, run
#   `half = dataclasses.replace(profile, max_tokens=profile.max_tokens // 2)`,
#   `small = profile_data.prepare_data(half, "/tmp/umi_budget")` and `convert.role_table(small, count_tokens)`.
#   Which role loses the most samples (every reject is a line of `/tmp/umi_budget/report_rejects.jsonl`), and why
#   is the summarizer the last to lose any?
