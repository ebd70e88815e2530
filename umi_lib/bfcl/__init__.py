"""BFCL's executable multi-turn tasks: a pass rate without a judge.

The optional ``bfcl-eval`` package (``pip install --no-deps bfcl-eval==2026.3.23 mpmath``, or ``make bfcl``)
brings 800 multi-turn tasks with stateful tool classes and ground truth. This package reads them
(:mod:`~umi_lib.bfcl.tasks`), validates model actions and parses ground-truth calls without ``eval``
(:mod:`~umi_lib.bfcl.calls`), runs calls on each task's tool instances (:mod:`~umi_lib.bfcl.world`),
recomputes BFCL's multi-turn pass/fail and accuracy (:mod:`~umi_lib.bfcl.score`) and provides model-free
reference outputs (:mod:`~umi_lib.bfcl.reference`). :mod:`~umi_lib.bfcl.agents` renders BFCL's function docs as
α-UMi tool entries and builds the reference and endpoint agents; :mod:`~umi_lib.bfcl.run` plays every task
through the α-UMi loop (planner → caller → execute → … → summarizer), batched across tasks, resumable, and is
``umi eval bfcl``. Importing it needs nothing beyond the standard library.
"""

from umi_lib.bfcl.calls import Call, CallError, Rejection, check_action, parse_call
from umi_lib.bfcl.score import TaskResult, accuracy, score_task
from umi_lib.bfcl.tasks import CATEGORIES, BfclTask, BfclUnavailable, available, load_tasks, require

__all__ = [
    "CATEGORIES",
    "BfclTask",
    "BfclUnavailable",
    "Call",
    "CallError",
    "Rejection",
    "TaskResult",
    "accuracy",
    "available",
    "check_action",
    "load_tasks",
    "parse_call",
    "require",
    "score_task",
]
