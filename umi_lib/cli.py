"""``umi``: the workbook's command line. Names and file formats are stable: other tools depend on them.

    umi convert toolbench --answers DIR --out DIR [--exclude-ids DIR] [--compat]
    umi convert stage1    --stage1 FILE --out DIR [--compat]
    umi convert roles     --stage2 FILE --out DIR [--compat]
    umi steps --test FILE --out FILE
    umi score --predictions FILE --out FILE [--seed N] [--resamples N]
    umi train --profile NAME --system {single-llm,alpha-umi,one-stage,multi-task} [--max-steps N] [--force]
    umi eval static --profile NAME --system {base,single-llm,one-stage,multi-task,alpha-umi}
                    [--limit N] [--steps-per-trajectory K] [--official-role-name]
                    [--endpoint URL (--model NAME | --models planner=A,caller=B,summarizer=C) [--tokenizer T]
                     | --released | --backend vllm]
    umi eval realtime --profile NAME --system S [--method dfsdt|react] [--queries N] [--env-url URL] ...
    umi eval bfcl --profile NAME --system {S,ground-truth,degraded-KIND} [--categories C ...] [--limit N]
                  [--endpoint URL (--model NAME | --models planner=A,caller=B,summarizer=C)]

``umi train`` also runs under ``accelerate launch`` (configs/accelerate/) for DDP / DeepSpeed / FSDP.

``convert`` also takes ``--max-tokens N --tokenizer NAME`` to shorten long samples (oldest turns first).
Bad input never ends in a traceback: the error is printed with its file and the exit code is 2.
Every artifact gets a manifest of what made it (:mod:`umi_lib.manifest`); a stale one is recomputed, saying why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from umi_lib import manifest
from umi_lib.config import ConfigError
from umi_lib.data import pipeline
from umi_lib.data.budget import Budget
from umi_lib.data.records import FormatError, Report
from umi_lib.data.steps import extract_steps
from umi_lib.names import ROLES, SYSTEMS, TRAINED_SYSTEMS
from umi_lib.paths import RootNotFound
from umi_lib.realtime.catalog import EnvError
from umi_lib.train.bases import ModelError


def _budget(args: argparse.Namespace) -> Budget | None:
    if args.max_tokens is None:
        return None
    if args.compat:
        raise ConfigError("--max-tokens changes the samples; it cannot be combined with --compat")
    from umi_lib.train.bases import token_counter

    return Budget(token_counter(args.tokenizer), args.max_tokens)


def _convert(args: argparse.Namespace) -> Report:
    budget = _budget(args)
    if args.source == "toolbench":
        return pipeline.convert_toolbench(args.answers, args.out, args.exclude_ids, args.compat, budget)
    if args.source == "stage1":
        return pipeline.convert_stage1_file(args.stage1, args.out, args.compat, budget)
    return pipeline.convert_roles(args.stage2, args.out, args.compat, budget)


def _steps(args: argparse.Namespace) -> Report:
    return extract_steps(args.test, args.out, compat=args.compat)


def _score(args: argparse.Namespace) -> Report:
    from umi_lib.evaluation.score import score_file, summary

    result = score_file(args.predictions, args.out, args.seed, args.resamples, progress=True)
    print(summary(result))
    report = Report(read=result["items"], converted=result["steps"]["total"])
    report.rejected.update(result["rejected"])
    return report


def _train(args: argparse.Namespace) -> Report:
    from umi_lib.config import load_profile
    from umi_lib.train.stages import train_system

    run = train_system(
        load_profile(args.profile), args.system, args.max_steps, progress=not args.quiet, force=args.force
    )
    report = Report(read=len(run.stages), converted=sum(s.trained for s in run.stages))
    for s in run.stages:
        what = f"trained {s.samples} samples, {s.tokens} tokens in {s.seconds:.0f} s" if s.trained else "already done"
        report.note(f"{s.adapter}: {what}")
    report.note(f"adapters saved in {run.folder}")
    return report


def _eval_static(args: argparse.Namespace) -> Report:
    import dataclasses

    from umi_lib.agent.prefix_cache import describe
    from umi_lib.config import load_profile
    from umi_lib.evaluation import selection, static
    from umi_lib.workbook.rollouts import static_summary

    profile = load_profile(args.profile)
    official = args.official_role_name
    if official is None and args.released:
        official = True  # the released checkpoints' published numbers came from the official prompts
    overrides = {"limit": args.limit, "per_trajectory": args.steps_per_trajectory, "official_role_name": official}
    profile.eval = dataclasses.replace(profile.eval, **{k: v for k, v in overrides.items() if v is not None})
    steps = selection.eval_steps(profile)
    if args.endpoint:
        run = static.evaluate_endpoint(profile, args.endpoint, args.model, steps, args.models, args.tokenizer)
    elif args.released:
        run = static.evaluate_released(profile, steps)
    else:
        from umi_lib.train.loaded import load_all

        if args.backend == "vllm":
            run = static.evaluate_system(None, profile, args.system, steps, backend="vllm")
        else:
            loaded = load_all(profile, () if args.system == "base" else (args.system,))
            run = static.evaluate_system(loaded, profile, args.system, steps)
    print(static_summary([run]).to_string())
    report = Report(read=len(steps), converted=run.steps)
    if describe(run.prefill):
        report.note(describe(run.prefill))
    report.note(f"predictions: {run.predictions}")
    report.note(f"metrics: {run.metrics_file}")
    return report


def _eval_realtime(args: argparse.Namespace) -> Report:
    import dataclasses

    from umi_lib.agent.build import make_agent
    from umi_lib.agent.prefix_cache import describe
    from umi_lib.config import load_profile
    from umi_lib.paths import runs_dir
    from umi_lib.realtime import catalog, dispatch, virtual
    from umi_lib.realtime import run as realtime
    from umi_lib.train.loaded import load_all
    from umi_lib.workbook import rollouts

    profile = load_profile(args.profile)
    overrides = {"queries": args.queries, "method": args.method, "groups": args.groups}
    profile.realtime = dataclasses.replace(profile.realtime, **{k: v for k, v in overrides.items() if v is not None})
    policy = dispatch.MissPolicy(nearest=args.nearest, simulator_url=args.simulator_url,
                             simulator_model=args.simulator_model or "",
                             simulated_file=str(runs_dir(profile.name) / "simulated.jsonl"))  # fmt: skip
    env = (
        virtual.HttpEnv(args.env_url, catalog.Catalog.load())
        if args.env_url
        else dispatch.load_env(policy, args.stb_cache)
    )
    queries = realtime.select_queries(profile, env.catalog)
    loaded = load_all(profile, () if args.system == "base" else (args.system,))
    run = realtime.run_system(make_agent(loaded, profile, args.system), profile, args.system, env, queries)
    print(rollouts.realtime_summary([run]).to_string())
    judge = rollouts.judge_from_env()
    if judge is not None:
        print(rollouts.judge_runs([run], profile, judge).to_string())
    report = Report(read=len(queries), converted=len(run.rollouts))
    report.note(f"answers and metrics: {run.folder}")
    report.note(f"environment: {json.dumps(run.metrics['environment']['counts'])}")
    if describe(run.metrics["prefill"]):
        report.note(describe(run.metrics["prefill"]))
    return report


def _eval_bfcl(args: argparse.Namespace) -> Report:
    import dataclasses

    from umi_lib.bfcl import run as bfcl
    from umi_lib.bfcl.agents import endpoint_agent
    from umi_lib.bfcl.tasks import BfclUnavailable
    from umi_lib.config import load_profile

    profile = load_profile(args.profile)
    overrides = {"categories": args.categories, "limit": args.limit}
    profile.bfcl = dataclasses.replace(profile.bfcl, **{k: v for k, v in overrides.items() if v is not None})
    agent, system = None, args.system
    if args.endpoint:
        agent, system = endpoint_agent(profile, args.endpoint, args.model, args.models, args.tokenizer)
    try:
        run = bfcl.evaluate(profile, system, agent, {"endpoint": args.endpoint} if agent is not None else None)
    except BfclUnavailable as exc:
        raise ConfigError(str(exc)) from exc
    print(bfcl.summary(run))
    from umi_lib.workbook import bfcl as bfcl_view

    bfcl_view.figure([run], profile, name="accuracy", out_dir=run.folder)
    report = Report(read=run.metrics["tasks"], converted=run.metrics["tasks"] - run.resumed)
    report.note(f"transcripts, metrics and accuracy.{{png,pdf,csv}}: {run.folder}")
    if run.resumed:
        report.note(f"tasks finished by an earlier run: {run.resumed}")
    return report


def _role_models(text: str) -> dict[str, str]:
    """``planner=A,caller=B,summarizer=C`` → a role → model mapping (every role named once)."""
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 or not p[1].strip() for p in pairs):
        raise argparse.ArgumentTypeError(f"expected role=model pairs separated by commas, got {text!r}")
    models = {role.strip(): model.strip() for role, model in pairs}
    if sorted(models) != sorted(ROLES):
        raise argparse.ArgumentTypeError(f"name a model for each of {', '.join(ROLES)} (got {', '.join(models)})")
    return models


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="umi", description="alpha-UMi reproduction workbook")
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="ToolBench trajectories -> alpha-UMi role samples")
    conv_sub = conv.add_subparsers(dest="source", required=True)
    tb = conv_sub.add_parser("toolbench", help="raw DFS answer files (G1_answer/ G2_answer/ G3_answer/)")
    tb.add_argument("--answers", required=True, help="folder holding G1_answer/, G2_answer/, G3_answer/")
    tb.add_argument("--exclude-ids", default=None, help="folder of test_query_ids/*.json to exclude")
    s1 = conv_sub.add_parser("stage1", help="a raw_data_stage_1.json file")
    s1.add_argument("--stage1", required=True)
    roles = conv_sub.add_parser("roles", help="a stage-2 trajectory file (training or test format)")
    roles.add_argument("--stage2", required=True)
    for p in (tb, s1, roles):
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--compat", action="store_true", help="byte-identical to the official scripts")
        p.add_argument("--max-tokens", type=int, default=None, help="token budget per sample")
        p.add_argument("--tokenizer", default="smollm2-135m", help="base whose tokenizer counts tokens")
        p.set_defaults(func=_convert)

    steps = sub.add_parser("steps", help="a stage-2 test file -> static evaluation items")
    steps.add_argument("--test", required=True)
    steps.add_argument("--out", required=True)
    steps.add_argument("--compat", action="store_true", help="official placeholder substitution order")
    steps.set_defaults(func=_steps)

    score = sub.add_parser("score", help="official-format predictions -> Table-1 metrics with 95% CIs")
    score.add_argument("--predictions", required=True, help="JSON list of {reference, predictions, tools}")
    score.add_argument("--out", required=True, help="metrics JSON to write")
    score.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    score.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (0: no intervals)")
    score.set_defaults(func=_score)

    tr = sub.add_parser("train", help="GLPFT: train a system's adapters (resumes an interrupted run)")
    tr.add_argument("--profile", default=None, help="profile name or YAML path (default: UMI_PROFILE or cpu)")
    tr.add_argument("--system", required=True, choices=TRAINED_SYSTEMS)
    tr.add_argument("--max-steps", type=int, default=None, help="cap optimizer steps per stage (quick checks)")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.add_argument("--force", action="store_true", help="retrain every stage even if its adapter is current")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("eval", help="evaluate a system")
    ev_sub = ev.add_subparsers(dest="kind", required=True)
    st = ev_sub.add_parser("static", help="teacher-forced steps of the test set -> predictions + metrics")
    st.add_argument("--profile", default=None, help="profile name or YAML path (default: UMI_PROFILE or cpu)")
    st.add_argument("--system", default="alpha-umi", choices=SYSTEMS)
    st.add_argument("--limit", type=int, default=None, help="at most N steps (whole trajectories, seeded order)")
    st.add_argument("--steps-per-trajectory", type=int, default=None, help="at most K seeded steps per trajectory")
    st.add_argument("--endpoint", default=None, help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    st.add_argument("--model", default=None, help="model name for --endpoint (every role)")
    st.add_argument("--models", default=None, type=_role_models,
                    help="one model per role for --endpoint: planner=A,caller=B,summarizer=C")  # fmt: skip
    st.add_argument("--tokenizer", default=None,
                    help="tokenizer that counts --endpoint prompt tokens (default: the model's, if local)")  # fmt: skip
    st.add_argument("--official-role-name", action=argparse.BooleanOptionalAction, default=None,
                    help="history as the official static pipeline writes it ('planner: ...'); "
                         "default: the profile's eval.official_role_name, on with --released")  # fmt: skip
    st.add_argument("--released", action="store_true", help="the released shenwzh3/alpha-umi-*-7b models (online)")
    st.add_argument("--backend", default="transformers", choices=["transformers", "vllm"],
                    help="vllm: multi-LoRA on a GPU (pip install vllm); transformers: everywhere")  # fmt: skip
    st.set_defaults(func=_eval_static)

    rt = ev_sub.add_parser("realtime", help="rollouts against the offline replay environment (ReAct / DFSDT)")
    rt.add_argument("--profile", default=None, help="profile name or YAML path (default: UMI_PROFILE or cpu)")
    rt.add_argument("--system", default="alpha-umi", choices=SYSTEMS)
    rt.add_argument("--method", default=None, choices=["dfsdt", "react"], help="default: the profile's")
    rt.add_argument("--queries", type=int, default=None, help="at most N queries (seeded order)")
    rt.add_argument("--groups", nargs="+", default=None, help="StableToolBench groups (default: the profile's)")
    rt.add_argument("--env-url", default=None, help="a StableToolBench /virtual server instead of the replay store")
    rt.add_argument("--stb-cache", default=None, help="import an official StableToolBench cache folder")
    rt.add_argument("--nearest", action="store_true", help="on a miss, replay the nearest recorded arguments")
    rt.add_argument("--simulator-url", default=None, help="OpenAI-compatible chat endpoint simulating misses")
    rt.add_argument("--simulator-model", default=None)
    rt.set_defaults(func=_eval_realtime)

    bf = ev_sub.add_parser("bfcl", help="BFCL's executable multi-turn tasks (needs: make bfcl) -> accuracy")
    bf.add_argument("--profile", default=None, help="profile name or YAML path (default: UMI_PROFILE or cpu)")
    bf.add_argument("--system", default="alpha-umi",
                    help=f"{', '.join(SYSTEMS)}, or a model-free reference: ground-truth, degraded-KIND "
                         "(wrong_argument, skipped_call, extra_call, wrong_function)")  # fmt: skip
    bf.add_argument("--categories", nargs="+", default=None, help="BFCL categories (default: the profile's)")
    bf.add_argument("--limit", type=int, default=None, help="at most N tasks per category (BFCL's order)")
    bf.add_argument("--endpoint", default=None, help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    bf.add_argument("--model", default=None, help="model name for --endpoint (every role)")
    bf.add_argument("--models", default=None, type=_role_models,
                    help="one model per role for --endpoint: planner=A,caller=B,summarizer=C")  # fmt: skip
    bf.add_argument("--tokenizer", default=None, help="tokenizer that counts --endpoint prompt tokens")
    bf.set_defaults(func=_eval_bfcl)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    manifest.set_command(sys.argv[1:] if argv is None else argv)
    try:
        report = args.func(args)
    except (FormatError, ConfigError, ModelError, EnvError, RootNotFound) as exc:
        print(f"umi: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    if report.converted == 0 and report.rejected:
        print("umi: error: nothing could be converted (see the rejects above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
