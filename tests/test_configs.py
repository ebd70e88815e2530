"""Every shipped profile loads into its dataclass; broken configs fail with a clear message."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import assert_fields_documented

from umi_lib.config import (
    PROFILES,
    BfclConfig,
    ConfigError,
    DataConfig,
    EvalConfig,
    Profile,
    RealtimeConfig,
    load_profile,
)


@pytest.mark.parametrize("name", PROFILES)
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.name == name and profile.max_tokens >= 512
    d = profile.data
    assert d.resolve(d.answers_dir).is_dir()
    assert d.resolve(d.test_file).exists()
    assert all(d.resolve(f).exists() for f in d.stage1_files)


def test_every_profile_file_is_known():
    assert_fields_documented(Profile, DataConfig, EvalConfig, RealtimeConfig, BfclConfig)


def test_every_field_has_a_docstring():
    import inspect

    for cls in (Profile, DataConfig, BfclConfig):
        source = inspect.getsource(cls)
        for f in dataclasses.fields(cls):
            after = source.split(f"    {f.name}:", 1)[1].split("\n", 2)[1]
            assert after.strip().startswith('"""'), f"{cls.__name__}.{f.name} has no docstring"


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\ndescription: d\nbase_model: b\nmax_tokens: 1024\nlr: 3\n", "unknown key(s) lr"),
        ("name: x\ndescription: d\nbase_model: b\nmax_tokens: many\n", "max_tokens: expected int"),
        ("name: x\ndescription: d\nbase_model: b\nmax_tokens: 1024\ndata: {compat: 1}\n", "compat: expected bool"),
        ("name: x\nbase_model: b\nmax_tokens: 1024\n", "description"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: x\ndescription: d\nbase_model: b\nmax_tokens: 8\n", "below 64"),
    ],
)
def test_broken_profiles_fail_clearly(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_profile(path)


def test_env_selects_profile(monkeypatch):
    monkeypatch.setenv("UMI_PROFILE", "smoke")
    assert load_profile().name == "smoke"


@pytest.mark.parametrize("name", ["smoke", "cpu", "colab-t4", "gpu-7b"])
def test_a_profile_renders_as_a_table_of_documented_settings(name):
    from umi_lib.config import load_profile, settings_rows

    profile = load_profile(name)
    rows = {setting: (value, meaning) for setting, value, meaning in settings_rows(profile)}
    assert rows["base_model"][0] == profile.base_model and rows["eval.limit"][0] == str(profile.eval.limit or "–")
    assert all(meaning for _, meaning in rows.values())  # every setting says what it means
    assert "realtime.max_depth" in profile._repr_html_() and "``" not in profile._repr_html_()
