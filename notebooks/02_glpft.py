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
# # 02 · GLPFT: one backbone, then three specialists
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/umi-workbook/umi-workbook/blob/main/notebooks/02_glpft.ipynb)
#
# α-UMi's training recipe is **global-to-local progressive fine-tuning** (GLPFT; the official setup is in
# [docs/training.md](../docs/training.md#the-official-training-setup)):
#
# 1. **Stage 1 (global)**: fine-tune one backbone on the whole agent task. The backbone data (notebook 01)
#    asks for a thought, a call and a final answer in one model.
# 2. **Stage 2 (local)**: copy the backbone three times, into a planner, a caller and a summarizer, and
#    fine-tune each copy on its own role data.
#
# The authors fully fine-tuned 7B/13B LLaMA-2 models on 8×A100 and kept three full models in memory. Here the
# base stays frozen and every stage is a named **LoRA adapter** on the same base: "copying the backbone"
# becomes copying the `global` adapter, and three roles cost one base plus three small adapters. On a GPU the
# base is loaded in 4-bit NF4 (QLoRA); on a CPU it stays in fp32 (bf16 when the CPU has native bf16).
#
# The paper compares GLPFT with three systems built from the same data, and so do we:
#
# | system | what is trained |
# |---|---|
# | Single-LLM | stage 1 only: the `global` adapter does everything |
# | α-UMi (GLPFT) | stage 1, then three role adapters initialised from `global` |
# | Multi-LLM one-stage | three role adapters trained from the base (no global stage) |
# | Single-LLM multi-task | one adapter on the union of the three role sets |

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
# Profile: "smoke" (tests, tiny random Llama), "cpu" (default, SmolLM2-135M), "colab-t4", "gpu-7b".
profile_name = None

# %%
from umi_lib import config
from umi_lib.workbook import glpft

# %%
profile = config.load_profile(profile_name)
profile

# %%
glpft.diagram()

# %% [markdown]
# ## 1. The recipes
#
# One YAML file per stage and profile (`configs/recipes/<profile>/<stage>.yaml`). The `gpu-7b` recipes keep the
# paper's epochs, warm-up ratios, cosine schedule, weight decay, 4096-token length and global batch of 48, with
# the learning rate ×10 for LoRA. Samples longer than the recipe's `max tokens` keep their **last** tokens, as the
# official trainer does. A few trajectories are held out (seeded) and never trained on in any stage; they measure
# the loss on unseen queries below.
#
# **Data.** Training uses the role files of notebook 01: the 15 raw ToolBench answers and the official train
# example, with StableToolBench's test query ids excluded. It never uses `data/toolbench/tooleval_cot/`
# (ChatGPT answers to the G1_category / G2_category test queries, kept for the evaluation notebooks) or the
# out-of-domain test set.
#
# **What the `cpu` budget costs.** On two laptop cores without native bf16, SmolLM2-135M trains at about 80-110
# tokens/s (fp32 LoRA), so each stage here sees 8-12 samples (batches of 2) cut to 512 tokens, for one epoch
# with a high learning rate. That is about 0.1% of the paper's data per stage, and the 512-token window drops
# the tool list and the oldest turns of most samples. The loss falls and the outputs pick up the format, but
# these adapters are not agents yet: use `colab-t4` or `gpu-7b` for real runs.

# %%
glpft.training_plan(profile)

# %% [markdown]
# ## 2. Train the four systems
#
# `umi train --profile <profile> --system <system>` runs the same code from a shell, and under `accelerate launch`
# (DDP, DeepSpeed ZeRO-3 and FSDP configs in `configs/accelerate/`) on several GPUs. An interrupted run resumes
# from its last checkpoint; a finished stage is not trained again, which is why Single-LLM below reports its
# `global` adapter as already done: α-UMi trained it as stage 1.

# %%
glpft.run_system(profile, "alpha-umi")

# %%
glpft.run_system(profile, "single-llm")

# %%
glpft.run_system(profile, "one-stage")

# %%
glpft.run_system(profile, "multi-task")

# %% [markdown]
# ## 3. Loss curves
#
# Every logged step is one line of `runs/<profile>/logs/<system>/<stage>.jsonl` (loss, learning rate,
# tokens/s, peak memory). Left to right: the global stage, then the three roles that start from it.

# %%
glpft.loss_plot(profile, "alpha-umi")

# %%
glpft.loss_plot(profile, "one-stage")

# %% [markdown]
# ## 4. Three roles on one base
#
# Load the base once and attach every trained adapter; switching role is `set_adapter`, a flag flip (about 2 ms).

# %%
loaded = glpft.load_all(profile)
glpft.memory_table(loaded)

# %% [markdown]
# ## 5. Did training help? Held-out loss per role
#
# Mean loss per target token on the held-out trajectories, for the bare base and for each system's adapter for
# that role. Lower is better.

# %%
heldout = glpft.heldout_table(loaded, profile)
heldout

# %%
print("α-UMi lowered the held-out loss of every role:", glpft.lowered_for_every_role(heldout))

# %% [markdown]
# ## 6. One generation per role, before and after
#
# Greedy continuations of a held-out prompt by the bare base and by α-UMi's role adapter (24 new tokens).

# %%
glpft.generations(loaded)

# %% [markdown]
# ## Exercises
#
# Cells run in this folder, `notebooks/`, so paths start with `../`; in a `!` line, `{profile.name}` is this
# notebook's profile. If `!umi` says *command not found*, Jupyter was started without the environment on `PATH`:
# `import sys` and write `!{sys.executable} -m umi_lib.cli` instead.
# Solutions: [docs/solutions.md](../docs/solutions.md#notebook-02-glpft).
#
# * 🐢 Double `max_samples` in `../configs/recipes/<profile>/planner.yaml`, the recipe of this notebook's profile
#   (where it is `null`, all samples, double `epochs`), and rerun the α-UMi cell. Which adapters train again, which
#   are reused, and why ([what a run reuses](../docs/training.md#what-a-run-reuses))? Undo the edit afterwards
#   (`!git checkout ../configs/recipes/{profile.name}/planner.yaml`): the next run retrains the planner once more.
# * 🐕 α-UMi's role adapters start from `global`, so they have had more optimizer steps than one-stage's. Give
#   one-stage as many: `!umi train --profile {profile.name} --system one-stage --max-steps N`, with N the steps of
#   `global` plus those of one role (the last `step` in `../runs/<profile>/logs/glpft/global.jsonl` and in
#   `planner.jsonl`). Rerun the cells of sections 4 and 5: does the gap to α-UMi on the held-out loss shrink? What
#   does that say about where GLPFT's gain comes from? (Rerunning the one-stage cell trains it again without the cap.)
# * 🦁 Kill a training run half-way and resume it. Every adapter is current now, so rerunning the α-UMi cell only
#   loads them: retrain with `--force` and let the process die like `kill -9` right after the planner's step-2
#   checkpoint: `!UMI_KILL_AFTER_SAVE=planner:2 umi train --profile {profile.name} --system alpha-umi --force`
#   (the step must be a multiple of the recipe's `save_steps`, 2 in `smoke` and `cpu`; or interrupt the kernel
#   during a longer run). Find the checkpoint in `../runs/<profile>/models/glpft/checkpoints/planner/`, then resume
#   with `!umi train --profile {profile.name} --system alpha-umi`, without `--force`, which would discard it. Which
#   stages are "already done"? Which lines of `../runs/<profile>/logs/glpft/planner.jsonl` did each run write?
