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
# # 03 · The agent at work: static evaluation and real-time rollouts
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/umi-workbook/umi-workbook/blob/main/notebooks/03_rollouts.ipynb)
#
# The **α-UMi agent** answers one step of a tool-use conversation in two moves
# ([docs/agent.md](../docs/agent.md#routing-the-planner-output)):
#
# 1. the **planner** reads the tools and the history and writes a thought ending in `Next: caller.`,
#    `Next: conclusion.` or `Next: give up.`;
# 2. the label routes the step: the **caller** writes `Action: <tool>\nAction Input: <json>`, the
#    **summarizer** writes the final answer, and a give-up ends the step.
#
# The **single-LLM** baseline writes thought, call or conclusion in one output from the backbone prompt.
# Static evaluation (the paper's Table 1) replays every planner step of the out-of-domain test set with the
# **gold** history (teacher forcing) and scores the predictions with `umi score` (notebook 04).
#
# Here all five systems share one base in memory: each role is an adapter switch. Steps are batched by phase
# (all planner prompts, then all caller prompts, then all summarizer prompts), in length-sorted batches, with
# greedy decoding. The official pipeline ran one sample at a time, with sampling, and loaded one full model
# after another. In the `cpu` profile a fixed subset of steps keeps this notebook to a few minutes: read the
# numbers as a demonstration of the pipeline, not as a reproduction (see notebook 02 for what the training
# budget costs).

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
# Profile: "smoke" (tests), "cpu" (default), "colab-t4", "gpu-7b".
profile_name = None

# %%
from umi_lib import config, names
from umi_lib.agent import build
from umi_lib.evaluation import selection, static
from umi_lib.realtime import dispatch
from umi_lib.realtime import run as realtime
from umi_lib.workbook import bfcl, estimates, glpft, rollouts, viewer

# %%
profile = config.load_profile(profile_name)
profile.eval

# %% [markdown]
# ## 1. The steps
#
# A seeded subset of whole trajectories (`eval.limit`, `eval.per_trajectory` in the profile). Each step has the
# planner prompt (`input`), the gold history and the reference in the official format.

# %%
steps = selection.eval_steps(profile)
rollouts.steps_table(steps)

# %% [markdown]
# ## 2. One base, five systems
#
# The systems trained in notebook 02 (a system not trained yet is trained first, with the same recipes), plus the
# untrained base with the α-UMi role prompts (zero-shot).

# %%
loaded = glpft.load_all(profile)

# %%
estimates.announce(profile, "static evaluation")
runs = [static.evaluate_system(loaded, profile, system, steps) for system in names.SYSTEMS]

# %% [markdown]
# ### Prefill only what is new
#
# Consecutive steps of a trajectory send a role almost the same prompt: the tool list and the history so far,
# then a few new turns. Reading a prompt (the *prefill*) is most of the work on a CPU. With `eval.prefix_reuse`
# the backend keeps the keys and values of each trajectory's last prompt per role, cuts them back to the longest
# common token prefix with the next prompt, and prefills only the rest; the outputs stay the same
# ([docs/agent.md](../docs/agent.md#prefix-reuse)).
#
# Below, each planner prompt against the previous selected step of its trajectory: the tokens they share at the
# start, for the whole prompts and after the profile's left cut to `eval.max_input_tokens`. A cut moves the first
# token, so every position shifts and nothing can be reused: with the `cpu` profile's 512-token cut there is
# nothing to save, and that profile switches reuse off. On whole prompts of 1-2k tokens reuse halves the
# prefill and nearly doubles the speed of static evaluation (README, Benchmarks).

# %%
rollouts.shared_prefixes(steps, loaded.run.tokenizer, profile.eval.max_input_tokens)

# %% [markdown]
# What each system's run actually prefilled: prompt tokens, tokens computed and reused, and the prompts cut on
# the left. Without reuse (as in the `cpu` profile) a batch prefills every prompt to the length of its longest
# one, so the share saved is negative: that is the padding.

# %%
rollouts.prefill_table(runs)

# %% [markdown]
# ## 3. Scores
#
# Table-1 columns ×100 on this subset. `unparseable` counts planner outputs without a `Next:` label (routed to
# the caller, as the official pipeline does), caller outputs without `Action:`, and backbone outputs the
# single-LLM parser could not split; each of them is scored as a wrong prediction, never dropped.
# Predictions are in `runs/<profile>/predictions/static_<system>.json`, metrics in `runs/<profile>/metrics/`.

# %%
rollouts.static_summary(runs)

# %% [markdown]
# ## 4. A readable view of a few steps
#
# The last observation, the reference step, and each system's plan, call or answer with its thought. Green: the
# plan (and the tool, on call steps) is right; red: it is not.

# %%
rollouts.trajectory_view(runs, steps, n=4)

# %% [markdown]
# ### Step by step, role by role
#
# Pick a step from the menu. First the gold context: the user's query and the last tool observation of the
# history. Then the reference and each system's prediction, one block per role: **PLANNER** (the thought and
# its `Next:` decision; solid border), **CALLER** (action and arguments; dashed), **TOOL** (the observation;
# dotted), **SUMMARIZER** (the final answer; double border). `plan ✓/✗` and `tool ✓/✗` are the official
# per-step scores. In an exported copy of this notebook the menu cannot be used: you see the first step only.

# %%
viewer.static_steps(runs, steps)

# %% [markdown]
# ## 5. Real time: the agent against (replayed) tools
#
# The paper's Table 2 lets the agent call live RapidAPI tools and asks ChatGPT whether each task was solved. The
# live server is gone for most users, so the tools here are a **replay environment**: every tool call recorded
# in the bundled data (out-of-domain trajectories, DFS search trees with all their branches, training chains),
# keyed on the canonical JSON of the arguments. A call that was recorded gets its recorded answer; a call that
# was not gets a fixed "API not working" error (the miss policy), so a run is deterministic and offline. Unknown
# tools, broken JSON and wrong parameters get ToolBench's own error messages
# ([docs/realtime.md](../docs/realtime.md#environment)).
#
# Queries are the StableToolBench solvable queries of the two groups our recordings cover (G1_category,
# G2_category). The search is DFSDT: depth-first, up to two tries per step; after a give-up the agent backtracks
# and is shown its earlier tries in ToolBench's "this is not the first time" message
# ([our search](../docs/realtime.md#search), [the official one](../docs/agent.md#dfsdt-search-loop)).

# %%
env = dispatch.load_env()
queries = realtime.select_queries(profile, env.catalog)
rollouts.queries_table(queries)

# %%
estimates.announce(profile, "rollouts")
rt_runs = [
    realtime.run_system(build.make_agent(loaded, profile, system), profile, system, env, queries)
    for system in profile.realtime.systems
]

# %% [markdown]
# ### Proxy metrics (no judge)
#
# Without an LLM judge we only report what can be counted: how often the agent finished with an answer, gave up,
# or ran out of budget; how many calls it made; how many of them the replay store could answer; how often it
# called a tool that does not exist; and how many answers rest on at least one call that returned something
# useful. **None of these is a pass rate**: a confident wrong answer counts as "finished".

# %%
rollouts.realtime_summary(rt_runs)

# %%
rollouts.proxy_figure(rt_runs, profile)

# %% [markdown]
# ### One rollout as a tree
#
# Each line is one agent step: the planner's thought, then the call with its arguments, how the environment
# served it (`hit`: recorded; `miss`: not recorded; `input_error`, `unknown_function`), and the observation.
# A second entry at the same depth is a backtrack.

# %%
print(rollouts.tree_text(rt_runs[-1].rollouts[0]))

# %% [markdown]
# ### Every rollout, step by step
#
# The same tree for any system and query (choose it from the menu). Indentation is depth; `↩ BACKTRACK` marks a
# second try at the same step (after a give-up or a dead end); `★ final chain` marks the path that produced the
# answer. The TOOL block says how the replay environment served the call (`hit`: recorded, `miss`: not recorded,
# `unknown_function`, `input_error`); observations are cut to 300 characters. Real-time rollouts have no gold
# answer: the reference shown is the list of APIs relevant to the query.

# %%
viewer.rollouts(rt_runs)

# %% [markdown]
# ### With a judge (optional)
#
# Set `UMI_JUDGE_URL` (an OpenAI-compatible `/v1` endpoint) and `UMI_JUDGE_MODEL` to compute ToolEval's pass
# rate (three samples per query, majority vote) and win rate against the bundled ChatGPT-ReACT answers, and to
# plot them next to the paper's Table 2. Judged numbers depend on the judge model: compare them only with runs
# judged by the same model.

# %%
judge = rollouts.judge_from_env()
judged = rollouts.judge_runs(rt_runs, profile, judge) if judge else "no judge configured: proxies only"
judged

# %%
rollouts.judged_figure(judged, profile) if judge else None

# %% [markdown]
# ## 6. BFCL's multi-turn world: a pass rate without a judge
#
# The Berkeley Function Calling Leaderboard ships executable multi-turn tasks: its tools are Python classes (a
# file system, a trading bot, travel booking, …) with an initial state, and a task passes when, after every user
# turn, the tools' state and results equal what the ground-truth calls produce. No judge, fully offline. Each
# task's functions become the α-UMi tool list, each user turn a user message, each result an observation; the
# agent's calls are validated before they run, never evaluated ([docs/bfcl.md](../docs/bfcl.md)). The ground truth,
# played through the same loop, must pass every task. On the `cpu` profile (6 tasks, at most 4 call steps per
# turn) the numbers only show the code path. The data is optional: `make bfcl`.

# %%
bfcl_runs = bfcl.evaluate_all(loaded, profile)

# %%
bfcl.table(bfcl_runs)

# %%
bfcl.figure(bfcl_runs, profile)

# %% [markdown]
# ## Exercises
#
# Cells run in this folder, `notebooks/`, so paths start with `../`; in a `!` line, `{profile.name}` is this
# notebook's profile. If `!umi` says *command not found*, Jupyter was started without the environment on `PATH`:
# `import sys` and write `!{sys.executable} -m umi_lib.cli` instead.
# Solutions: [docs/solutions.md](../docs/solutions.md#notebook-03-rollouts).
#
# * 🐢 Find a step where α-UMi's planner chose the right label but its caller picked the wrong tool (in the view
#   above, or in α-UMi's predictions, `runs[-1].predictions`, scored one by one with
#   `umi_lib.evaluation.metrics.score_item`). Which of the two models would you train more?
# * 🐕 Run `!umi eval static --profile {profile.name} --system alpha-umi --steps-per-trajectory 1 --limit 20` and
#   compare its plan accuracy and 95% interval (`ci95` in `../runs/<profile>/metrics/static_alpha-umi.json`) with
#   those of the subset above (`runs[-1].metrics`). The command rewrites α-UMi's prediction and metrics files,
#   which notebook 04 reads: rerun the static-evaluation cell afterwards.
# * 🦁 Point `!umi eval static --profile {profile.name} --endpoint http://localhost:8000/v1 --model <name>` at a
#   local llama.cpp or vLLM server (OpenAI-compatible `/v1/completions`): one served model plays planner, caller
#   and summarizer with the α-UMi prompts, zero-shot, like the paper's ChatGPT and GPT-4 (0-shot) rows. Add
#   `--tokenizer <Hub id or folder>` to truncate long prompts as the official collator does.
# * 🐕 Which calls missed the replay store? `{r.system: r.metrics["environment"]["counts"] for r in rt_runs}`
#   says how each system's calls were served; misses are listed in
#   `../runs/<profile>/realtime/alpha-umi_<method>/misses.jsonl` when there are any (the small profiles' models
#   rarely get a call past the argument check). Make one: take a recorded call from `env.store.exact`, change one
#   argument and send it with `env.call(function, arguments, offered_functions)`. Then send it to
#   `dispatch.load_env(dispatch.MissPolicy(nearest=True))`, the environment of `umi eval realtime --nearest`: what
#   comes back?
# * 🦁 Serve the replay environment in StableToolBench's `/virtual` format: `server, url = virtual.serve(env)`
#   (after `from umi_lib.realtime import virtual`). Send it one request as ToolBench's client does
#   (`virtual.virtual_request(endpoint, arguments)` builds the body), then roll α-UMi out against it with
#   `!umi eval realtime --profile {profile.name} --env-url {url}` (it rewrites α-UMi's folder in
#   `../runs/<profile>/realtime/`). What can the client no longer tell apart?
