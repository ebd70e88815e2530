"""The workshop trajectory viewer: role-by-role HTML, escaping, widget selection, and the static fallback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from umi_lib import prompts as P
from umi_lib.evaluation.static import EvalRun
from umi_lib.realtime.catalog import Query
from umi_lib.realtime.dispatch import ANSWERED, GAVE_UP, OK, Outcome
from umi_lib.realtime.run import RealtimeRun
from umi_lib.realtime.search import Rollout, node_from_prediction
from umi_lib.workbook import viewer

ROOT = Path(__file__).resolve().parents[1]
TOOLS = [{"Name": "get_weather", "description": "weather of a city"}]
ARGS = '{"city": "Paris"}'


def planner(thought: str, label: str) -> str:
    return P.assistant_value(thought, label)


def reference_call(thought: str) -> str:
    return P.render_turn(P.ROLE_ASSISTANT, planner(thought, P.NEXT_CALLER)) + P.render_turn(
        P.ROLE_CALLER, P.caller_value("get_weather", ARGS)
    )


def prediction_call(thought: str, action: str, args: str) -> str:
    return (
        P.PREDICTION_ASSISTANT + planner(thought, P.NEXT_CALLER) + P.EOS + P.TURN_CALLER + P.caller_value(action, args)
    )


def prediction_finish(thought: str, answer: str) -> str:
    return P.PREDICTION_ASSISTANT + planner(thought, P.NEXT_CONCLUSION) + P.EOS + P.TURN_CONCLUSION + answer


def fake_static(tmp_path: Path) -> tuple[list[EvalRun], list[dict]]:
    query = P.render_turn(P.ROLE_USER, "What is the weather in Paris?")
    first_turns = reference_call("I should look the weather up")
    steps = [
        {"tools": TOOLS, "history": query, "input": "", "reference": reference_call("I should look the weather up"),
         "trajectory": 0, "step": 0, "plan": P.PLAN_CALL},
        {"tools": TOOLS, "history": query + first_turns + P.render_turn(P.ROLE_OBSERVATION, "sunny, 21 degrees"),
         "input": "", "trajectory": 0, "step": 1, "plan": P.PLAN_FINISH,
         "reference": P.render_turn(P.ROLE_ASSISTANT, planner("I can answer", P.NEXT_CONCLUSION))
         + P.render_turn(P.ROLE_CONCLUSION, "It is sunny in Paris.")},
    ]  # fmt: skip
    preds = [prediction_call("weather <script>alert(1)</script> needed", "get_weather", ARGS),
             prediction_finish("time to conclude", "Sunny and 21 degrees in Paris.")]  # fmt: skip
    items = [{**{k: s[k] for k in ("tools", "reference", "trajectory", "step", "plan")}, "predictions": p}
             for s, p in zip(steps, preds, strict=True)]  # fmt: skip
    path = tmp_path / "static_alpha-umi.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    run = EvalRun("static_alpha-umi", path, tmp_path / "m.json", {}, len(steps), 1.0)
    return [run], steps


def blocks(html_text: str, role: str) -> list[str]:
    return re.findall(rf'<div class="umi-block umi-{role}"[^>]*>(.*?)</div>', html_text, flags=re.S)


def test_step_html_has_every_role_in_its_block_and_the_reference(tmp_path):
    runs, steps = fake_static(tmp_path)
    v = viewer.static_steps(runs, steps)
    first = v.html()
    planners, callers = blocks(first, "planner"), blocks(first, "caller")
    assert "I should look the weather up" in planners[0]  # the reference comes first
    assert all(viewer._esc(P.NEXT_CALLER) in b for b in planners)
    assert "alpha-umi" in first and "plan ✓" in first and "tool ✓" in first
    assert all("get_weather" in b and viewer._esc(ARGS) in b for b in callers) and len(callers) == 2
    assert "What is the weather in Paris?" in blocks(first, "user")[0]
    v.select(1)
    second = v.html()
    assert "sunny, 21 degrees" in blocks(second, "tool")[0]
    assert "time to conclude" in blocks(second, "planner")[1]
    assert viewer._esc(P.NEXT_CONCLUSION) in blocks(second, "planner")[1]
    summaries = blocks(second, "summarizer")
    assert "It is sunny in Paris." in summaries[0] and "Sunny and 21 degrees in Paris." in summaries[1]
    assert "ROUGE-L" in second


def test_model_output_is_escaped(tmp_path):
    runs, steps = fake_static(tmp_path)
    page = viewer.static_steps(runs, steps).html()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def fake_rollout() -> Rollout:
    query = Query("G1_category", "42", "Weather in <b>Paris</b>?", TOOLS, ["get_weather"], [["Weather", "get_weather"]])
    call = node_from_prediction(prediction_call("look it up", "get_weather", ARGS), 0)
    call.outcome = Outcome({"error": "", "response": "sunny"}, OK, "hit", "get_weather")
    call.observation = "sunny " + "x" * 1000
    give_up = node_from_prediction(P.PREDICTION_ASSISTANT + planner("I am stuck", P.NEXT_GIVE_UP), 1)
    finish = node_from_prediction(prediction_finish("now I know", "It is sunny."), 1)
    finish.outcome = Outcome({}, ANSWERED, "finish")
    call.children = [give_up, finish]
    return Rollout(query, "dfsdt", roots=[call], chain=[call, finish], model_steps=3, stopped="answered")


def test_rollout_html_shows_the_tree_backtracks_and_the_answer():
    page = viewer.rollout_html(fake_rollout(), "alpha-umi")
    planners = blocks(page, "planner")
    assert [("look it up" in planners[0]), ("I am stuck" in planners[1]), ("now I know" in planners[2])] == [True] * 3
    assert viewer._esc(P.NEXT_GIVE_UP) in planners[1] and "BACKTRACK" in planners[2] and "BACKTRACK" not in planners[1]
    assert "★ final chain" in planners[0] and "★ final chain" not in planners[1]
    assert "get_weather" in blocks(page, "caller")[0] and viewer._esc(ARGS) in blocks(page, "caller")[0]
    (tool,) = blocks(page, "tool")
    assert "sunny" in tool and "served: hit" in tool and "x" * 400 not in tool  # truncated
    assert all("It is sunny." in b for b in blocks(page, "summarizer"))  # the finish step and the final answer
    assert "&lt;b&gt;Paris&lt;/b&gt;" in page and "Weather / get_weather" in page
    lone = node_from_prediction(P.PREDICTION_ASSISTANT + planner("no way", P.NEXT_GIVE_UP), 0)
    lone.outcome = Outcome({}, GAVE_UP, "finish")
    r = Rollout(fake_rollout().query, "react", roots=[lone], chain=[lone], model_steps=1, stopped="exhausted")
    assert (
        r.finish_type == "give_up"
        and "no answer (stopped: exhausted)" in blocks(viewer.rollout_html(r), "summarizer")[0]
    )


def test_selecting_through_the_widget_changes_the_html(tmp_path):
    pytest.importorskip("ipywidgets")
    runs, steps = fake_static(tmp_path)
    v = viewer.static_steps(runs, steps)
    box = v.widget
    before = v.pane.value
    v.dropdown.value = 1
    assert v.pane.value != before and "sunny, 21 degrees" in v.pane.value and box.children[1] is v.pane
    rt = viewer.rollouts([RealtimeRun("alpha-umi", [fake_rollout(), fake_rollout()], {}, Path("."))])
    assert rt.widget.children[0] is rt.dropdown
    rt.dropdown.value = 1
    assert rt.index == 1 and "now I know" in rt.pane.value


def test_mimebundle_has_the_static_html_and_the_widget_inside_a_kernel(tmp_path, monkeypatch):
    runs, steps = fake_static(tmp_path)
    v = viewer.static_steps(runs, steps)
    bundle = v._repr_mimebundle_()
    assert "I should look the weather up" in bundle["text/html"] and "text/plain" in bundle
    if viewer.in_kernel():
        assert "application/vnd.jupyter.widget-view+json" in bundle
    else:  # no kernel here: the widget part is left out; with one (simulated) it is added next to the HTML
        assert "application/vnd.jupyter.widget-view+json" not in bundle
        monkeypatch.setattr(viewer, "in_kernel", lambda: True)
        bundle = v._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle and "weather up" in bundle["text/html"]


def test_executed_notebook_keeps_a_static_html_rendering(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    runs, steps = fake_static(tmp_path)
    (tmp_path / "steps.json").write_text(json.dumps(steps), encoding="utf-8")
    setup = (
        "import json, types\nfrom pathlib import Path\nfrom umi_lib.workbook import viewer\n"
        f"steps = json.loads(Path({str(tmp_path / 'steps.json')!r}).read_text())\n"
        f"runs = [types.SimpleNamespace(name='static_alpha-umi', predictions=Path({str(runs[0].predictions)!r}))]\n"
        "v = viewer.static_steps(runs, steps)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell("v")])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": ROOT}})
    client.execute()
    (out,) = nb.cells[1].outputs
    assert "I should look the weather up" in out["data"]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in out["data"]
