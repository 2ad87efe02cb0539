"""Model architectures: the dimensions of LLMs, their parameter counts and KV-cache sizes.

Built-in architectures ship in ``data/models.yaml`` (each with the source of its figures);
users add their own with :func:`load_models_yaml`. Names resolve case-insensitively through
canonical ids, display names and aliases ("Llama 3.1 70B", "llama-2-70b", "mixtral-8x7b").

Counting conventions: parameters are the weight matrices and embeddings (norms and biases
are left out: well under 0.1% for every built-in model). Mixture-of-experts models count
every expert in ``total_params`` (what must be stored) and only the routed plus shared experts
a token uses in ``active_params`` (what each token computes with).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipfolio.errors import FieldIssue, InputError, SchemaError, UnknownNameError

MODELS_RESOURCE = "models.yaml"


class AttentionKind(StrEnum):
    """How keys and values are stored: one per head, shared by groups, or a latent (MLA)."""

    MHA = "mha"
    GQA = "gqa"
    MLA = "mla"


@dataclass(frozen=True)
class ModelArch:
    """One transformer decoder's dimensions; derived counts are computed once on creation."""

    name: str
    display_name: str
    family: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_hidden: int
    vocab_size: int
    max_context: int
    source: str
    gated_ffn: bool = True
    tied_embeddings: bool = False
    n_experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    expert_ffn_hidden: int = 0
    dense_layers: int = 0
    attention: AttentionKind = AttentionKind.GQA
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    sliding_window: int = 0
    sliding_window_layers: int = 0
    aliases: tuple[str, ...] = ()
    notes: str = ""
    # Derived in __post_init__ (not constructor arguments).
    attn_params_per_layer: int = field(init=False)
    dense_ffn_params: int = field(init=False)
    expert_params: int = field(init=False)
    n_moe_layers: int = field(init=False)
    total_params: int = field(init=False)
    active_params: int = field(init=False)
    embedding_params: int = field(init=False)
    lm_head_params: int = field(init=False)
    matmul_params_per_token: int = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.attention is not AttentionKind.MLA:
            kind = AttentionKind.MHA if self.n_kv_heads == self.n_heads else AttentionKind.GQA
            set_(self, "attention", kind)
        set_(self, "attn_params_per_layer", _attention_params(self))
        set_(
            self, "dense_ffn_params", (3 if self.gated_ffn else 2) * self.d_model * self.ffn_hidden
        )
        expert = (3 if self.gated_ffn else 2) * self.d_model * self.expert_ffn_hidden
        set_(self, "expert_params", expert)
        moe_layers = self.n_layers - self.dense_layers if self.n_experts else 0
        set_(self, "n_moe_layers", moe_layers)
        dense_layers = self.n_layers - moe_layers
        router = self.d_model * self.n_experts
        moe_total = (self.n_experts + self.shared_experts) * expert + router
        moe_active = (self.experts_per_token + self.shared_experts) * expert + router
        embedding = self.vocab_size * self.d_model
        lm_head = 0 if self.tied_embeddings else embedding
        set_(self, "embedding_params", embedding)
        set_(self, "lm_head_params", lm_head)
        body = self.n_layers * self.attn_params_per_layer + dense_layers * self.dense_ffn_params
        set_(self, "total_params", body + moe_layers * moe_total + embedding + lm_head)
        set_(self, "active_params", body + moe_layers * moe_active + embedding + lm_head)
        # The embedding lookup is not a matmul; the output projection always is (tied or not).
        set_(self, "matmul_params_per_token", body + moe_layers * moe_active + embedding)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def qk_head_dim(self) -> int:
        """Width of one head's query/key dot product (MLA adds the rope part)."""
        return self.head_dim + self.qk_rope_head_dim

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def full_attention_layers(self) -> int:
        return self.n_layers - self.sliding_window_layers

    def kv_elements_per_token_layer(self) -> int:
        """KV-cache elements one token adds in one layer (MLA: the latent plus rope key)."""
        if self.attention is AttentionKind.MLA:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.n_kv_heads * self.head_dim

    def attended_tokens(self, context: float) -> float:
        """Sum over layers of the tokens one query attends to at ``context`` tokens."""
        windowed = min(context, self.sliding_window) if self.sliding_window else context
        return self.full_attention_layers * context + self.sliding_window_layers * windowed

    def kv_cache_bytes(self, context: float, bytes_per_element: float) -> float:
        """KV-cache bytes of one sequence holding ``context`` tokens (all layers)."""
        return (
            self.kv_elements_per_token_layer() * self.attended_tokens(context) * (bytes_per_element)
        )

    def attention_flops_per_token(self, context: float) -> float:
        """Forward FLOPs of the score and value products for one token at ``context``."""
        per_position = 2 * self.n_heads * (self.qk_head_dim + self.value_head_dim)
        return per_position * self.attended_tokens(context)

    def expected_experts_touched(self, tokens: float) -> float:
        """Expected number of distinct routed experts a batch of ``tokens`` uses per layer.

        Assumes uniform routing (what load-balancing losses aim for): each token picks
        ``experts_per_token`` of ``n_experts``.
        """
        if not self.is_moe:
            return 0.0
        miss: float = (1.0 - self.experts_per_token / self.n_experts) ** max(tokens, 0.0)
        return self.n_experts * (1.0 - miss)

    def weight_params_touched(self, tokens: float) -> float:
        """Parameters a forward step over ``tokens`` tokens must read (all but unused experts)."""
        if not self.is_moe:
            return float(self.total_params)
        unused = self.n_experts - self.expected_experts_touched(tokens)
        return self.total_params - self.n_moe_layers * unused * self.expert_params

    def summary(self) -> dict[str, object]:
        """A JSON-ready description (dimensions plus derived counts)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "total_params_b": round(self.total_params / 1e9, 2),
            "active_params_b": round(self.active_params / 1e9, 2),
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "attention": str(self.attention),
            "n_experts": self.n_experts,
            "experts_per_token": self.experts_per_token,
            "max_context": self.max_context,
            "source": self.source,
        }


def _attention_params(m: ModelArch) -> int:
    if m.attention is AttentionKind.MLA:
        q = (
            m.d_model * m.q_lora_rank + m.q_lora_rank * m.n_heads * m.qk_head_dim
            if m.q_lora_rank
            else m.d_model * m.n_heads * m.qk_head_dim
        )
        kv_down = m.d_model * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv_up = m.kv_lora_rank * m.n_heads * (m.head_dim + m.value_head_dim)
        out = m.n_heads * m.value_head_dim * m.d_model
        return q + kv_down + kv_up + out
    q_and_o = 2 * m.d_model * m.n_heads * m.head_dim
    return q_and_o + 2 * m.d_model * m.n_kv_heads * m.head_dim


class _ModelSpec(BaseModel):
    """The accepted fields of one model entry in a YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    display_name: str | None = None
    family: str = "custom"
    n_layers: int = Field(gt=0, le=1000)
    d_model: int = Field(gt=0, le=1_000_000)
    n_heads: int = Field(gt=0, le=10_000)
    n_kv_heads: int | None = Field(default=None, gt=0, le=10_000)
    head_dim: int | None = Field(default=None, gt=0, le=10_000)
    ffn_hidden: int = Field(gt=0, le=10_000_000)
    vocab_size: int = Field(gt=0, le=10_000_000)
    max_context: int = Field(default=8192, gt=0, le=100_000_000)
    source: str = "user-supplied"
    gated_ffn: bool = True
    tied_embeddings: bool = False
    n_experts: int = Field(default=0, ge=0, le=100_000)
    experts_per_token: int = Field(default=0, ge=0, le=100_000)
    shared_experts: int = Field(default=0, ge=0, le=1000)
    expert_ffn_hidden: int = Field(default=0, ge=0, le=10_000_000)
    dense_layers: int = Field(default=0, ge=0)
    attention: AttentionKind | None = None
    q_lora_rank: int = Field(default=0, ge=0)
    kv_lora_rank: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)
    sliding_window: int = Field(default=0, ge=0)
    sliding_window_layers: int = Field(default=0, ge=0)
    aliases: list[str] = Field(default_factory=list)
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> _ModelSpec:
        kv = self.n_kv_heads or self.n_heads
        if self.n_heads % kv:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({kv})")
        if self.n_experts:
            if not 0 < self.experts_per_token <= self.n_experts:
                raise ValueError("experts_per_token must be between 1 and n_experts")
            if self.expert_ffn_hidden <= 0:
                raise ValueError("expert_ffn_hidden is required for a mixture-of-experts model")
            if self.dense_layers >= self.n_layers:
                raise ValueError("dense_layers must be fewer than n_layers")
        elif self.experts_per_token or self.shared_experts or self.dense_layers:
            raise ValueError("experts_per_token/shared_experts/dense_layers need n_experts > 0")
        if self.attention is AttentionKind.MLA and self.kv_lora_rank <= 0:
            raise ValueError("attention 'mla' needs kv_lora_rank > 0")
        if self.sliding_window_layers > self.n_layers:
            raise ValueError("sliding_window_layers cannot exceed n_layers")
        if self.sliding_window_layers and not self.sliding_window:
            raise ValueError("sliding_window_layers needs sliding_window > 0")
        return self

    def to_arch(self) -> ModelArch:
        return ModelArch(
            name=self.name.strip().lower(),
            display_name=self.display_name or self.name,
            family=self.family,
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads or self.n_heads,
            head_dim=self.head_dim or self.d_model // self.n_heads,
            ffn_hidden=self.ffn_hidden,
            vocab_size=self.vocab_size,
            max_context=self.max_context,
            source=self.source,
            gated_ffn=self.gated_ffn,
            tied_embeddings=self.tied_embeddings,
            n_experts=self.n_experts,
            experts_per_token=self.experts_per_token,
            shared_experts=self.shared_experts,
            expert_ffn_hidden=self.expert_ffn_hidden,
            dense_layers=self.dense_layers,
            attention=self.attention or AttentionKind.GQA,
            q_lora_rank=self.q_lora_rank,
            kv_lora_rank=self.kv_lora_rank,
            qk_rope_head_dim=self.qk_rope_head_dim,
            v_head_dim=self.v_head_dim,
            sliding_window=self.sliding_window,
            sliding_window_layers=self.sliding_window_layers,
            aliases=tuple(self.aliases),
            notes=self.notes,
        )


# Words that name a release flavour, not an architecture ("Llama 3.3 70B Instruct").
_FLAVOUR_WORDS = frozenset(
    {
        "instruct", "chat", "hf", "base", "it", "pretraining", "model", "meta",
        # quantized releases name the same architecture
        "fp8", "fp4", "bf16", "fp16", "int8", "int4", "awq", "gptq", "nvfp4", "mxfp4",
    }
)  # fmt: skip


def model_key(name: str) -> str:
    """The lookup key of a model name: lower case, no punctuation, no flavour words."""
    text = re.sub(r"\([^)]*\)", " ", name.strip().lower())  # "(MXFP4)" and the like
    text = text.rsplit("/", 1)[-1]  # drop a hub organisation prefix
    tokens = [t for t in re.split(r"[^a-z0-9.]+", text) if t and t not in _FLAVOUR_WORDS]
    return "".join(tokens)


class ModelRegistry:
    """Model architectures by name, with alias resolution and did-you-mean errors."""

    def __init__(self, models: Iterable[ModelArch]) -> None:
        self._models: dict[str, ModelArch] = {}
        self._keys: dict[str, str] = {}
        for model in models:
            self._models[model.name] = model
            for label in (model.name, model.display_name, *model.aliases):
                self._keys.setdefault(model_key(label), model.name)

    def all(self) -> tuple[ModelArch, ...]:
        return tuple(self._models.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._models)

    def find(self, name: str) -> ModelArch | None:
        canonical = self._keys.get(model_key(name))
        return self._models.get(canonical) if canonical else None

    def get(self, name: str) -> ModelArch:
        model = self.find(name)
        if model is None:
            raise UnknownNameError("model", name, self.names())
        return model

    def with_models(self, extra: Iterable[ModelArch]) -> ModelRegistry:
        """A new registry with ``extra`` added (a user model of the same name wins)."""
        extra_list = list(extra)
        names = {m.name for m in extra_list}
        return ModelRegistry([*(m for m in self.all() if m.name not in names), *extra_list])


def parse_models(
    items: object, file: str, lines: Mapping[int, int] | None = None
) -> list[ModelArch]:
    """Validate a list of model entries (as loaded from YAML) into architectures."""
    if not isinstance(items, list):
        raise InputError("expected a list of models", file=file, field="models")
    issues: list[FieldIssue] = []
    models: list[ModelArch] = []
    for index, item in enumerate(items):
        line = (lines or {}).get(index)
        if not isinstance(item, dict):
            issues.append(FieldIssue(f"models[{index}]", "expected a mapping", line))
            continue
        try:
            models.append(_ModelSpec.model_validate(item).to_arch())
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                where = f"models[{index}].{loc}" if loc else f"models[{index}]"
                issues.append(FieldIssue(where, err["msg"], line))
    if issues:
        raise SchemaError(file, issues)
    seen: set[str] = set()
    for index, model in enumerate(models):
        if model.name in seen:
            line = (lines or {}).get(index)
            raise InputError(f"duplicate model name '{model.name}'", file=file, line=line)
        seen.add(model.name)
    return models


def _item_lines(text: str) -> dict[int, int]:
    """1-based line of each entry of the top-level ``models`` list (best effort)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "models":
                node = value
                break
    if not isinstance(node, yaml.SequenceNode):
        return {}
    return {i: child.start_mark.line + 1 for i, child in enumerate(node.value)}


def parse_models_yaml_text(text: str, file: str) -> list[ModelArch]:
    """Architectures from YAML text: a mapping with a ``models`` list, or a bare list."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", file=file, line=line
        ) from exc
    if isinstance(data, dict):
        if "models" not in data:
            raise InputError("expected a top-level 'models' list", file=file, field="models")
        unknown = sorted(str(k) for k in data if k != "models")
        if unknown:
            raise InputError(f"unknown top-level keys {unknown}", file=file, field=unknown[0])
        data = data["models"]
    return parse_models(data, file, _item_lines(text))


def load_models_yaml(path: str | Path) -> list[ModelArch]:
    """Read user model architectures from a YAML file (same fields as the built-in ones)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read models file: {exc}", file=str(p)) from exc
    return parse_models_yaml_text(text, str(p))


@functools.cache
def builtin_models() -> ModelRegistry:
    """The shipped architectures (read once per process)."""
    text = (
        resources.files("chipfolio.workloads").joinpath("data", MODELS_RESOURCE).read_text("utf-8")
    )
    return ModelRegistry(parse_models_yaml_text(text, MODELS_RESOURCE))


def get_model(name: str) -> ModelArch:
    """A built-in architecture by name or alias; UnknownNameError with suggestions otherwise."""
    return builtin_models().get(name)
