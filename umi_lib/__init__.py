"""umi_lib: the tested library under the α-UMi workbook, one subpackage per stage of the data flow.

In data-flow order (each arrow is one function a notebook cell calls, and one ``umi`` sub-command):

1. :mod:`umi_lib.data`: raw ToolBench DFS answers → stage 1 → stage 2 (labelled conversations) → the four
   role-sample files (backbone, planner, caller, summarizer) and the static-evaluation steps.
2. :mod:`umi_lib.train`: base registry and loading, recipes, GLPFT (``global`` then one copy per role) with
   TRL and PEFT, training logs; every adapter on one base in memory.
3. :mod:`umi_lib.agent`: the α-UMi agent (planner → caller or summarizer) and the single-LLM agent over
   pluggable backends (adapters on one base, an OpenAI-compatible endpoint, vLLM).
4. :mod:`umi_lib.evaluation`: teacher-forced static evaluation, the paper's metrics, ROUGE-L, bootstrap
   intervals, ``umi score``, model-free reference predictions and the paper's numbers.
5. :mod:`umi_lib.realtime`: rollouts (ReAct, DFSDT) against an offline replay of ToolBench's tools, answer
   files in ToolBench/ToolEval formats, and the LLM judge.
6. :mod:`umi_lib.bfcl` (optional data): BFCL's executable multi-turn tasks, scored from the tools' state with
   BFCL's own rules, no judge (``umi eval bfcl``).
7. :mod:`umi_lib.workbook`: one module per notebook plus the figures. Nothing above imports it.

Shared by all stages: :mod:`umi_lib.prompts` (every interface string), :mod:`umi_lib.names` (roles, stages,
systems, column labels), :mod:`umi_lib.config` (profiles), :mod:`umi_lib.paths`, :mod:`umi_lib.manifest`
(what made each artifact), :mod:`umi_lib.client` (one JSON-over-HTTP client) and :mod:`umi_lib.cli` (``umi``).
"""
