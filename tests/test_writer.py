"""The streaming writer gives exactly json.dump(indent=2) bytes, and files appear atomically."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from umi_lib.data.jsonio import JsonListWriter, dump_json_list

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_stream_equals_json_dump(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("w") / "out.json"
    dump_json_list(path, items)
    assert path.read_text() == json.dumps(items, indent=2)


def test_aborted_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.json"
    try:
        with JsonListWriter(path) as w:
            w.write({"a": 1})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not path.exists() and list(tmp_path.iterdir()) == []
