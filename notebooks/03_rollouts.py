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
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The agent at work: static evaluation and real-time rollouts
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

# %% tags=["parameters"]
# Profile: "smoke" (tests), "cpu" (default), "colab-t4", "gpu-7b".
profile_name = None

# %%
from umi_lib import config, names
from umi_lib.agent import build
from umi_lib.evaluation import selection, static
from umi_lib.realtime import dispatch
from umi_lib.realtime import run as realtime
from umi_lib.workbook import glpft, rollouts

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
[(s["trajectory"], s["step"], s["plan"]) for s in steps]

# %% [markdown]
# ## 2. One base, five systems
#
# The systems trained in notebook 02 (a system not trained yet is trained first, with the same recipes), plus the
# untrained base with the α-UMi role prompts (zero-shot).

# %%
loaded = glpft.load_all(profile)

# %%
runs = [static.evaluate_system(loaded, profile, system, steps) for system in names.SYSTEMS]

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
[(q.group, q.query_id, q.query[:80]) for q in queries]

# %%
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
# ## Exercises
#
# * 🐢 Find a step where α-UMi's planner chose the right label but its caller picked the wrong tool. Which of
#   the two models would you train more?
# * 🐕 Run `umi eval static --profile cpu --system alpha-umi --steps-per-trajectory 1 --limit 20` and compare the
#   plan accuracy with the subset above. How wide are the bootstrap intervals in `runs/cpu/metrics/`?
# * 🦁 Point `umi eval static --endpoint http://localhost:8000/v1 --model <name>` at a local llama.cpp or vLLM
#   server: that is the paper's "0-shot" row for any model you can serve.
# * 🐕 Which calls missed the replay store? Read `runs/<profile>/realtime/alpha-umi_dfsdt/misses.jsonl`: are the
#   arguments close to a recorded call? Rerun with `umi eval realtime --nearest` and watch the hit rate change.
# * 🦁 Start `umi_lib.realtime.virtual.serve(env)` and point a ToolBench-style client at its `/virtual` URL.
