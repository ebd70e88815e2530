"""The offline tool environment: catalog names, replay of recorded calls, ToolBench's error behaviour,
miss policies, the StableToolBench cache layout and the /virtual protocol."""

from __future__ import annotations

import json
import urllib.request

import pytest

from umi_lib.data.jsonio import load_json
from umi_lib.paths import data_path
from umi_lib.realtime import catalog, dispatch, keys, store, toolnames, virtual
from umi_lib.realtime.toolnames import function_name, standardize


@pytest.fixture(scope="module")
def env():
    return dispatch.load_env()


@pytest.fixture(scope="module")
def ood():
    return load_json(data_path("alpha_umi/test/out_of_domain.json"))


def test_name_rules():
    assert standardize("Transportistas de Argentina") == "transportistas_de_argentina"
    assert standardize("/offices/search/:service") == "offices_search_service"
    assert function_name("1. Shoot thumbnail", "Pagepeeker") == "get_1_shoot_thumbnail_for_pagepeeker"
    assert function_name("id", "X Tool") == "is_id_for_x_tool"
    assert len(function_name("a" * 80, "tool")) == 64


def test_tool_docs_built_from_queries_equal_the_test_sets(ood):
    """Docs built from StableToolBench's api_list reproduce the test set's tool lists (one known exception)."""
    from umi_lib.realtime.toolnames import tool_doc

    by_query = {t["instruction"]: t["tools"] for t in ood}
    same, different = 0, []
    for group in catalog.COVERED_GROUPS:
        for rec in load_json(data_path(f"stabletoolbench/solvable_queries/test_instruction/{group}.json")):
            recorded = by_query.get(rec["query"])
            if recorded is None:
                continue
            for api, tool in zip(rec["api_list"], recorded, strict=True):
                if tool_doc(api) == tool:
                    same += 1
                else:
                    different.append(tool["Name"])
    # API names starting with a digit: the test set writes them with and without the get_ prefix
    digit_names = {
        "5000img_for_random_anime_img",
        "1_shoot_thumbnail_for_pagepeeker",
        "2_thumbnail_ready_for_pagepeeker",
    }
    assert same + len(different) == 1372 and set(different) <= digit_names and same == 1369


def test_catalog_covers_all_solvable_queries(env):
    assert len(env.catalog.queries) == 765
    covered = env.catalog.select()
    assert len(covered) == 277 and {q.group for q in covered} == {"G1_category", "G2_category"}
    assert all(f in env.catalog.endpoints for q in covered for f in q.functions)


def test_replaying_recorded_trajectories_reproduces_their_observations(env, ood):
    """Every recorded call of the out-of-domain set, replayed: the agent sees the recorded observation."""
    same = differ = 0
    for traj in ood:
        offered = [t["Name"] for t in traj["tools"]]
        for name, args, obs in store.calls_in_conversation(traj["conversations"]):
            out = env.call(name, args, offered, traj["instruction"])
            if keys.observation_text(out.envelope) == obs:  # input errors: recorded as empty observations
                same += 1
                continue
            # otherwise the same query got different live answers to this very call: the first one replays
            recs = env.store.exact[(out.function, keys.canonical_key(keys.parse_arguments(args)))]
            own = [r for r in recs if r.query == traj["instruction"]]
            assert obs in {keys.observation_text(r.envelope) for r in own}
            assert out.envelope == own[0].envelope
            differ += 1
    assert (same, differ) == (1126, 20)


def test_canonical_key_ignores_whitespace_and_key_order():
    a = keys.parse_arguments('{"b": 1,\n  "a": "x"}')
    b = keys.parse_arguments('{"a":"x","b":1}')
    assert keys.canonical_key(a) == keys.canonical_key(b) == '{"a":"x","b":1}'
    assert keys.canonical_key({"a": 1}) != keys.canonical_key({"a": "1"})  # types matter
    assert keys.stb_key(b) == "{'a': 'x', 'b': 1}"


def _first_query_with_required(env):
    for q in env.catalog.select():
        for f in q.functions:
            ep = env.catalog.endpoints[f]
            if ep.required:
                return q, ep
    raise AssertionError("no endpoint with a required parameter")


def test_malformed_calls_get_toolbench_errors(env):
    q, ep = _first_query_with_required(env)
    api = ep.function.split("_for_")[0]
    out = env.call("no_such_tool_at_all", "{}", q.functions)
    assert (out.code, out.envelope["error"]) == (1, "No such function name: no_such_tool_at_all")
    out = env.call(ep.function, '{"a": ', q.functions)
    assert (out.code, out.envelope["error"]) == (2, "Tool input parse error...\n")
    out = env.call(ep.function, "[1, 2]", q.functions)
    assert out.code == 2 and out.kind == "input_error"
    out = env.call(ep.function, "{}", q.functions)
    assert out.code == 2 and out.envelope["error"].endswith(dispatch._missing_message(api, ep.required))
    assert out.envelope["error"].startswith(f"Function executing from my_tools.{ep.category}.{ep.tool}.api import")
    args = {k: "x" for k in ep.required} | {"zzz_unknown": 1}
    out = env.call(ep.function, json.dumps(args), q.functions)
    assert out.envelope["error"].endswith(f"{api}() got an unexpected keyword argument 'zzz_unknown'")
    huge = json.dumps({ep.required[0]: "x" * (dispatch.MAX_ARGUMENT_CHARS + 1)})
    out = env.call(ep.function, huge, q.functions)
    assert out.code == 2 and "longer than" in out.envelope["error"]
    out = env.call(ep.function, "[" * 5000, q.functions)  # too deep for json: an input error, not a crash
    assert (out.code, out.envelope["error"]) == (2, "Tool input parse error...\n")
    assert dispatch.finish("[" * 5000).code == dispatch.INPUT_ERROR
    assert env.counts["input_error"] >= 4 and env.counts["unknown_function"] >= 1


def test_missing_arguments_message_matches_python():
    def f(a, b, c): ...

    for names in (["a"], ["a", "b"], ["a", "b", "c"]):
        with pytest.raises(TypeError) as exc:
            f(**{k: 1 for k in "abc" if k not in names})
        assert dispatch._missing_message("f", names) == str(exc.value).split(".")[-1].removeprefix("<locals>.")


def test_finish_semantics():
    assert dispatch.finish('{"return_type": "give_answer", "final_answer": "42"}').code == dispatch.ANSWERED
    assert dispatch.finish('{"return_type": "give_up_and_restart"}').code == dispatch.GAVE_UP
    assert dispatch.finish('{"return_type": "give_answer"}').code == dispatch.INPUT_ERROR
    assert dispatch.finish('{"return_type": "maybe"}').code == dispatch.INPUT_ERROR
    assert (
        dispatch.finish('{"return_type": "give_answer", "final_answer": "broken').code == dispatch.ANSWERED
    )  # salvaged


def test_suffix_matching_is_toolbench_loose(env):
    offered = ["advanced_search_for_ott_details", "search_for_ott_details"]
    assert env.resolve("search_for_ott_details", offered) == "advanced_search_for_ott_details"  # first that ends so
    assert env.resolve("details", offered[1:]) == "search_for_ott_details"
    assert env.resolve("", offered) == offered[0]  # ToolBench: an empty name matches the first function
    assert env.resolve("nope", offered) is None


def test_miss_policy_default_error_and_nearest(env):
    q, ep = _first_query_with_required(env)
    args = {k: "surely-never-recorded-value" for k in ep.required}
    strict = dispatch.ReplayEnv(env.catalog, env.store)
    out = strict.call(ep.function, json.dumps(args), q.functions)
    assert out.kind == "miss" and out.code == dispatch.API_ERROR
    assert out.envelope == strict.call(ep.function, json.dumps(args), q.functions).envelope  # deterministic
    assert strict.misses[0] == {"function": ep.function, "arguments": keys.canonical_key(args)}
    assert strict.report()["hit_rate"] == 0.0
    # nearest: a recorded call with two arguments, one of them changed, replays approximately
    fn, key = next((fn, k) for (fn, k) in env.store.exact if len(json.loads(k)) >= 2)
    recorded = json.loads(key)
    changed = dict(recorded, **{next(iter(recorded)): "changed-value"})
    offered = [fn]
    near = dispatch.ReplayEnv(env.catalog, env.store, dispatch.MissPolicy(nearest=True))
    out = near.call(fn, json.dumps(changed), offered)
    assert out.kind == "approximate" and out.envelope == env.store.lookup(fn, recorded).envelope
    nothing_shared = {k: "changed-value" for k in recorded}
    assert near.call(fn, json.dumps(nothing_shared), offered).kind == "miss"


def test_observation_styles_and_truncation():
    env = {"error": "", "response": "x" * 2000}
    assert keys.observation_text(env) == "x" * 1024 + "..."
    assert keys.observation_text({"error": "boom", "response": ""}) == ""
    assert keys.observation_text({"error": "boom", "response": ""}, "official") == '{"message": "boom"}'
    assert json.loads(keys.observation_text({"error": "", "response": "ok"}, "envelope")) == {
        "error": "",
        "response": "ok",
    }
    with pytest.raises(catalog.EnvError):
        keys.observation_text(env, "xml")


def test_stabletoolbench_cache_imports_unchanged(env, tmp_path):
    q, ep = _first_query_with_required(env)
    args = {k: f"cached-{k}" for k in ep.required}
    folder = tmp_path / catalog.category_folder(ep.category) / f"{ep.tool}_for_{catalog.category_folder(ep.category)}"
    folder.mkdir(parents=True)
    api = ep.function.split("_for_")[0]
    (folder / f"{api}.json").write_text(json.dumps({str(args): {"error": "", "response": "from the cache"}}))
    recorded = store.harvest()
    counts = recorded.import_stb_cache(tmp_path, env.catalog)
    assert counts["imported"] == 1
    out = dispatch.ReplayEnv(env.catalog, recorded).call(ep.function, json.dumps(args), q.functions)
    assert (out.kind, out.envelope["response"]) == ("hit", "from the cache")


def test_virtual_server_and_http_client_agree_with_in_process(env):
    server, url = virtual.serve(env)
    try:
        client = virtual.HttpEnv(url, env.catalog)
        for traj in load_json(data_path("alpha_umi/test/out_of_domain.json"))[:5]:
            offered = [t["Name"] for t in traj["tools"]]
            for name, args, _ in store.calls_in_conversation(traj["conversations"]):
                assert client.call(name, args, offered).envelope == env.call(name, args, offered).envelope
        assert client.counts["server"] > 0
        assert client.call("nope", "{}", offered).code == dispatch.NO_FUNCTION  # never sent
        broken = virtual.HttpEnv("http://127.0.0.1:9/virtual", env.catalog, timeout=2)
        q = env.catalog.select()[0]
        fn = next(f for f in q.functions if not env.catalog.endpoints[f].required)
        assert broken.call(fn, "{}", q.functions).kind == "server_error"
    finally:
        server.shutdown()


def test_names_starting_with_a_digit_are_found_under_both_spellings(env):
    """The test set records ``1_shoot_thumbnail_for_pagepeeker``; ToolBench's clients send ``get_1_shoot_thumbnail``
    (standardize() prefixes ``get_``). The server and the store answer to both spellings, over HTTP too."""
    assert toolnames.spellings("1_shoot_thumbnail") == ["1_shoot_thumbnail", "get_1_shoot_thumbnail"]
    assert toolnames.spellings("get_1_shoot_thumbnail") == ["get_1_shoot_thumbnail", "1_shoot_thumbnail"]
    assert toolnames.spellings("get_thumbnail") == ["get_thumbnail"]
    short, cut = "1" + "x" * 61, ("get_1" + "x" * 61)[-64:]  # 62 characters: the prefixed name loses its head
    assert toolnames.function_spellings(short) == [short, cut] and toolnames.function_spellings(cut) == [cut, short]
    assert toolnames.function_spellings("1" + "x" * 63) == ["1" + "x" * 63]  # 64 characters read the same
    recorded = {"size": "s", "url": "www.blogexample.com"}  # recorded only as 1_shoot_thumbnail_for_pagepeeker
    plain, prefixed = "1_shoot_thumbnail_for_pagepeeker", "get_1_shoot_thumbnail_for_pagepeeker"
    assert (plain, keys.canonical_key(recorded)) in env.store.exact
    assert (prefixed, keys.canonical_key(recorded)) not in env.store.exact
    want = env.store.lookup(plain, recorded).envelope
    assert env.store.lookup(prefixed, recorded).envelope == want
    assert env.call(prefixed, json.dumps(recorded), [prefixed]).kind == "hit"  # in process, catalog spelling
    server, url = virtual.serve(env)
    try:
        ep = env.catalog.endpoints[prefixed]
        for api in ("get_1_shoot_thumbnail", "1_shoot_thumbnail"):  # ToolBench's spelling and the older one
            body = {"category": catalog.category_folder(ep.category), "tool_name": ep.tool, "api_name": api,
                    "tool_input": json.dumps(recorded), "strip": "truncate", "toolbench_key": ""}  # fmt: skip
            assert virtual.virtual_request(ep, recorded)["api_name"] == "get_1_shoot_thumbnail"
            req = urllib.request.Request(
                url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert json.loads(resp.read().decode()) == want
        client = virtual.HttpEnv(url, env.catalog)
        for name in (plain, prefixed):
            out = client.call(name, json.dumps(recorded), [name])
            assert (out.kind, out.envelope) == ("server", want)
    finally:
        server.shutdown()


def test_simulator_answers_misses_and_is_replayed_from_its_layer(env, tmp_path, chat_server):
    url, handler = chat_server
    q, ep = _first_query_with_required(env)
    args = json.dumps({k: "simulate-me" for k in ep.required})
    handler.script = [{"role": "assistant", "content": "not json at all"},
                      {"role": "assistant", "content": json.dumps({"error": "", "response": "invented"})}]  # fmt: skip
    layer = tmp_path / "simulated.jsonl"
    policy = dispatch.MissPolicy(simulator_url=url, simulator_model="m", simulated_file=str(layer))
    sim = dispatch.ReplayEnv(env.catalog, store.harvest(), policy)
    assert sim.call(ep.function, args, q.functions).kind == "miss"  # malformed reply: not used
    out = sim.call(ep.function, args, q.functions)
    assert (out.kind, out.envelope["response"]) == ("simulated", "invented")
    assert handler.seen[-1]["temperature"] == 0 and "New call input" in handler.seen[-1]["messages"][1]["content"]
    assert sim.call(ep.function, args, q.functions).kind == "simulated"  # asked again: still not a recording
    assert sim.report()["hit_rate"] == 0.0 and len(handler.seen) == 2
    # a later run without any simulator replays the layer
    again = dispatch.load_env(dispatch.MissPolicy(simulated_file=str(layer)))
    out = again.call(ep.function, args, q.functions)
    assert (out.kind, out.envelope["response"]) == ("simulated", "invented")
