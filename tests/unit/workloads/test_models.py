"""Model architectures: counts against published sizes, name resolution, the YAML loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.errors import InputError, SchemaError, UnknownNameError
from chipfolio.workloads.models import (
    AttentionKind,
    ModelArch,
    builtin_models,
    get_model,
    load_models_yaml,
    parse_models_yaml_text,
)

# Headline parameter counts published with each model (billions).
PUBLISHED_TOTAL_B = {
    "llama-2-7b": 6.74,
    "llama-2-13b": 13.0,
    "llama-2-70b": 69.0,
    "llama-3.1-8b": 8.03,
    "llama-3.1-70b": 70.6,
    "llama-3.1-405b": 405.0,
    "llama-3.3-70b": 70.6,
    "gpt-3-175b": 175.0,
    "mixtral-8x7b": 46.7,
    "deepseek-v3": 671.0,
    "gpt-oss-120b": 116.8,
    "llama-3.2-1b": 1.24,
    "llama-3.2-3b": 3.21,
    "mistral-7b": 7.25,
    "mixtral-8x22b": 141.0,
    "qwen2.5-7b": 7.61,
    "qwen2.5-72b": 72.7,
}


@pytest.mark.parametrize(("name", "billions"), sorted(PUBLISHED_TOTAL_B.items()))
def test_total_parameters_match_the_published_size(name: str, billions: float) -> None:
    assert get_model(name).total_params / 1e9 == pytest.approx(billions, rel=0.02)


def test_every_required_model_is_built_in() -> None:
    assert set(PUBLISHED_TOTAL_B) <= set(builtin_models().names())


def test_moe_active_parameters_match_the_published_figures() -> None:
    mixtral, deepseek, oss = (
        get_model("mixtral-8x7b"),
        get_model("deepseek-v3"),
        get_model("gpt-oss-120b"),
    )
    assert mixtral.active_params / 1e9 == pytest.approx(12.9, rel=0.02)
    assert get_model("mixtral-8x22b").active_params / 1e9 == pytest.approx(39.0, rel=0.02)
    assert deepseek.active_params / 1e9 == pytest.approx(37.0, rel=0.03)
    # OpenAI's 5.1B active excludes the input embedding.
    assert (oss.active_params - oss.embedding_params) / 1e9 == pytest.approx(5.13, rel=0.02)
    for m in (mixtral, deepseek, oss):
        assert m.is_moe and m.active_params < m.total_params


def test_dense_models_use_all_parameters() -> None:
    m = get_model("llama-3.1-70b")
    assert m.active_params == m.total_params and not m.is_moe
    assert m.weight_params_touched(1) == m.total_params


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("llama-2-70b", "llama-2-70b"),
        ("Llama 2 70B", "llama-2-70b"),
        ("meta-llama/Llama-2-70b-hf", "llama-2-70b"),
        ("LLaMA V2 70B pretraining", "llama-2-70b"),
        ("Llama 3.1 70B", "llama-3.1-70b"),
        ("Llama 3 70B", "llama-3.1-70b"),
        ("llama-3.1-405b", "llama-3.1-405b"),
        ("Llama 3.3 70B Instruct", "llama-3.3-70b"),
        ("Mixtral 8x7B", "mixtral-8x7b"),
        ("deepseek-v3", "deepseek-v3"),
        ("DeepSeek-V3", "deepseek-v3"),
        ("gpt-oss-120b", "gpt-oss-120b"),
        ("GPT-3 175B", "gpt-3-175b"),
    ],
)
def test_aliases_resolve(alias: str, canonical: str) -> None:
    assert get_model(alias).name == canonical


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_model("llama-2-71b")
    assert "llama-2-70b" in str(info.value)
    assert info.value.exit_code == 2


def test_kv_cache_sizes_follow_the_attention_kind() -> None:
    llama = get_model("llama-2-70b")
    assert llama.attention is AttentionKind.GQA
    assert llama.kv_cache_bytes(1, 2.0) == 2 * 80 * 8 * 128 * 2
    assert get_model("llama-2-7b").attention is AttentionKind.MHA
    deepseek = get_model("deepseek-v3")
    assert deepseek.attention is AttentionKind.MLA
    assert deepseek.kv_cache_bytes(1, 2.0) == 61 * (512 + 64) * 2
    oss = get_model("gpt-oss-120b")
    full_only = oss.kv_elements_per_token_layer() * oss.n_layers * 10_000
    assert oss.kv_cache_bytes(10_000, 1.0) < 0.6 * full_only  # half the layers see 128 tokens


def test_expected_experts_touched_grows_from_k_to_all() -> None:
    m = get_model("mixtral-8x7b")
    assert m.expected_experts_touched(1) == pytest.approx(2.0)
    assert m.expected_experts_touched(1000) == pytest.approx(8.0)
    values = [m.expected_experts_touched(t) for t in (1, 2, 4, 8, 16)]
    assert values == sorted(values)
    assert m.weight_params_touched(1) < m.weight_params_touched(64) <= m.total_params


def test_attention_flops_scale_with_context() -> None:
    m = get_model("llama-3.1-8b")
    assert m.attention_flops_per_token(2048) == pytest.approx(2 * m.attention_flops_per_token(1024))


GOOD_YAML = """
models:
  - name: tiny-moe
    n_layers: 4
    d_model: 512
    n_heads: 8
    n_kv_heads: 2
    ffn_hidden: 1024
    vocab_size: 1000
    n_experts: 4
    experts_per_token: 1
    expert_ffn_hidden: 256
    aliases: [Tiny MoE]
"""


def test_yaml_models_load_and_join_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(GOOD_YAML, encoding="utf-8")
    (model,) = load_models_yaml(path)
    assert isinstance(model, ModelArch) and model.head_dim == 64
    registry = builtin_models().with_models([model])
    assert registry.get("Tiny MoE").name == "tiny-moe"
    assert registry.get("llama-2-7b").name == "llama-2-7b"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("models: [\n  {name: a,\n", "not valid YAML"),
        ("models:\n  - name: x\n    n_layers: 2\n", "Field required"),
        ("models: 3\n", "expected a list"),
        ("other: []\n", "'models'"),
        ("models: []\nextra: 1\n", "unknown top-level"),
        (GOOD_YAML.replace("vocab_size: 1000", "vocab_size: -5"), "greater than 0"),
        (GOOD_YAML.replace("n_kv_heads: 2", "n_kv_heads: 3"), "multiple of n_kv_heads"),
        (GOOD_YAML.replace("experts_per_token: 1", "experts_per_token: 9"), "experts_per_token"),
        (GOOD_YAML.replace("aliases:", "colour: red\n    aliases:"), "Extra inputs"),
        (GOOD_YAML.replace("n_layers: 4", "n_layers: 10000000"), "less than or equal"),
        ("models:\n  - 7\n", "expected a mapping"),
    ],
)
def test_bad_yaml_names_file_and_problem(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_models_yaml_text(text, "user.yaml")
    assert "user.yaml" in str(info.value) and fragment in str(info.value)


def test_schema_errors_carry_the_entry_line() -> None:
    text = "models:\n  - name: ok\n    n_layers: 1\n" + GOOD_YAML.split("models:\n", 1)[1].replace(
        "vocab_size: 1000", "vocab_size: zero"
    )
    with pytest.raises(SchemaError) as info:
        parse_models_yaml_text(text, "user.yaml")
    assert info.value.location.line == 2


def test_duplicate_names_are_rejected() -> None:
    body = GOOD_YAML.split("models:\n", 1)[1]
    with pytest.raises(InputError, match="duplicate model name"):
        parse_models_yaml_text("models:\n" + body + body, "dup.yaml")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_models_yaml(tmp_path / "absent.yaml")
