"""JobSpec (src/core/schema) -> typed dataclasses, with the schema's defaults and bounds.

The runner validated the spec with zod already; reading it again here gives Python code typed
fields and names the field when a spec reaches the worker some other way (CLI, hand edits):
`spec.json: stages.0.loss.alpha: must be ≤ 1`. Field names are the schema's (camelCase).
Unknown fields are reported through `warnings` rather than refused, so a newer runner can add
fields the worker does not use yet.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .negatives import NegativesConfig, parse_negatives
from .rl.config import RLConfig, parse_rl


class SpecError(ValueError):
    """A spec the worker cannot run; the message is `SOURCE: field.path: problem`."""


_MISSING = object()


class _Reader:
    """Walks one JSON object, applying defaults and bounds, remembering unknown keys."""

    def __init__(self, obj: Any, path: str, source: str, warnings: List[str]) -> None:
        self.source, self.path, self.warnings = source, path, warnings
        if not isinstance(obj, dict):
            self.fail("", f"expected an object, got {_kind(obj)}")
        self.obj: Dict[str, Any] = obj
        self.used = {"$schema"}

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path and key else self.path or key

    def fail(self, key: str, message: str) -> None:
        at = self.where(key)
        raise SpecError(f"{self.source}: {at}: {message}" if at else f"{self.source}: {message}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.obj or self.obj[key] is None:
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        return self.obj[key]

    def num(self, key: str, default: Any = _MISSING, lo: Optional[float] = None, hi: Optional[float] = None,
            lo_open: bool = False, integer: bool = False) -> Any:
        v = self.raw(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(key, f"expected {'an integer' if integer else 'a number'}, got {_kind(v)}")
        if integer and v != int(v):
            self.fail(key, f"must be an integer (got {v})")
        if lo is not None and (v <= lo if lo_open else v < lo):
            self.fail(key, f"must be {'>' if lo_open else '≥'} {lo:g} (got {v})")
        if hi is not None and v > hi:
            self.fail(key, f"must be ≤ {hi:g} (got {v})")
        return int(v) if integer else float(v)

    def integer(self, key: str, default: Any = _MISSING, lo: Optional[float] = None, hi: Optional[float] = None) -> Any:
        return self.num(key, default, lo, hi, integer=True)

    def text(self, key: str, default: Any = _MISSING) -> Any:
        v = self.raw(key, default)
        if v is not None and (not isinstance(v, str) or not v):
            self.fail(key, f"expected a non-empty string, got {_kind(v)}")
        return v

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        v = self.raw(key, default)
        if v is not None and not isinstance(v, bool):
            self.fail(key, f"expected true or false, got {_kind(v)}")
        return v

    def enum(self, key: str, options: Sequence[str], default: Any = _MISSING) -> Any:
        v = self.raw(key, default)
        if v is not None and v not in options:
            self.fail(key, f"must be one of {', '.join(repr(o) for o in options)} (got {v!r})")
        return v

    def sub(self, key: str, default: Any = _MISSING) -> Optional["_Reader"]:
        v = self.raw(key, default)
        return None if v is None else _Reader(v, self.where(key), self.source, self.warnings)

    def items(self, key: str, default: Any = _MISSING, min_items: int = 0) -> Optional[List[Any]]:
        v = self.raw(key, default)
        if v is None:
            return None
        if not isinstance(v, list):
            self.fail(key, f"expected an array, got {_kind(v)}")
        if len(v) < min_items:
            self.fail(key, f"must have at least {min_items} item{'s' if min_items != 1 else ''}")
        return v

    def done(self) -> None:
        for key in sorted(set(self.obj) - self.used):
            self.warnings.append(f"{self.where(key)}: unknown field, ignored by the torch worker")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


# ---- shared pieces ----------------------------------------------------------------------------------

DTYPES = ("f32", "f16", "bf16")
SEED_MAX = 2 ** 32 - 1


@dataclass
class ModelRef:
    path: str
    dtype: Optional[str] = None  # None = as stored (the worker trains in fp32 master weights anyway)
    init: Union[str, List[int]] = "pretrained"  # student only: 'pretrained' | 'random' | teacher layers


def _model_ref(r: _Reader, student: bool = False) -> ModelRef:
    ref = ModelRef(r.text("path"), r.enum("dtype", DTYPES, None))
    if student:
        init = r.raw("init", "pretrained")
        if isinstance(init, dict):
            sub = _Reader(init, r.where("init"), r.source, r.warnings)
            layers = sub.items("fromTeacherLayers", min_items=1)
            for i, layer in enumerate(layers or []):
                if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                    sub.fail(f"fromTeacherLayers.{i}", f"expected a layer index ≥ 0, got {layer!r}")
            sub.done()
            ref.init = list(layers or [])
        elif init in ("pretrained", "random"):
            ref.init = init
        else:
            r.fail("init", f"must be 'pretrained', 'random' or {{fromTeacherLayers: [...]}} (got {init!r})")
    r.done()
    return ref


# ---- distill --------------------------------------------------------------------------------------

DIVERGENCES = ("forward-kl", "reverse-kl", "gjsd", "skew-kl", "skew-reverse-kl", "tvd", "none")
TEACHER_TARGETS = ("online", "offline-topk", "none")
CURRICULA = ("none", "by-difficulty", "by-length")


@dataclass
class TemperatureSchedule:
    kind: str = "constant"  # constant | linear | cosine
    start: float = 1.0  # `value` for constant, `from` otherwise
    end: float = 1.0  # `to`


@dataclass
class FeatureLoss:
    weight: float
    layer_map: List[Tuple[int, int]]  # [(student layer, teacher layer)]
    kind: str = "mse"  # hidden only: mse | cosine


@dataclass
class OnPolicy:
    """GKD: a `fraction` of micro-batches train on continuations sampled by `source` (schema recipes.ts)."""
    fraction: float = 0.5
    source: str = "student"  # student = on-policy GKD | teacher = sequence-level KD
    temperature: float = 1.0
    max_new_tokens: int = 128


@dataclass
class Selection:
    """Selective distillation: per-token weights on the soft term from a teacher signal."""
    by: str  # teacher-entropy | teacher-attention
    mode: str = "top"  # top | soft
    top_fraction: float = 0.5


@dataclass
class StageLoss:
    divergence: str = "forward-kl"
    beta: float = 0.5
    lam: float = 0.1  # `lambda` in the schema
    alpha: float = 0.5
    temperature: TemperatureSchedule = field(default_factory=TemperatureSchedule)
    teacher_targets: str = "online"
    hidden: Optional[FeatureLoss] = None
    attention: Optional[FeatureLoss] = None
    on_policy: Optional[OnPolicy] = None
    selection: Optional[Selection] = None
    uld_weight: Optional[float] = None  # `uld.weight`: cross-tokenizer ULD term (divergence 'none')

    @property
    def soft_weight(self) -> float:
        """α as applied: no teacher or no divergence means plain cross-entropy."""
        return 0.0 if self.divergence == "none" or self.teacher_targets == "none" else self.alpha


@dataclass
class DataConfig:
    path: str
    format: str = "auto"
    chat_template: bool = True
    max_seq_len: int = 2048
    truncation: str = "right"
    packing: bool = False
    teacher_top_k: Optional[int] = None
    curriculum: str = "none"
    negatives: Optional[NegativesConfig] = None  # rows flagged negative: unlikelihood of their first wrong token


@dataclass
class StopRule:
    steps: int
    max_tokens: Optional[int] = None
    early_stop_patience: Optional[int] = None
    metric: str = "eval_loss"


@dataclass
class Stage:
    name: str
    data: DataConfig
    loss: StageLoss
    stop: StopRule
    lr: Optional[float] = None
    rl: Optional[RLConfig] = None  # an RL stage (rl/): rollouts + PPO/GRPO instead of the supervised loss


@dataclass
class LrSchedule:
    kind: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1


@dataclass
class Optimizer:
    lr: float = 2e-5
    betas: Tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    schedule: LrSchedule = field(default_factory=LrSchedule)


@dataclass
class Lora:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class Qat:
    bits: int = 4
    group_size: int = 128
    symmetric: bool = True
    per_channel: bool = True


@dataclass
class DistillSpec:
    teacher: ModelRef
    student: ModelRef
    stages: List[Stage]
    seed: int = 42
    optimizer: Optimizer = field(default_factory=Optimizer)
    micro_batch: int = 4
    grad_accumulation: int = 1
    lora: Optional[Lora] = None
    qat: Optional[Qat] = None
    checkpoint_every: int = 500
    keep_last: int = 3
    eval_every: int = 0
    eval_dataset: Optional[str] = None
    eval_max_samples: int = 64
    output_dir: Optional[str] = None
    # maxBadSteps: consecutive non-finite steps skipped before giving up (the engine's trainer reads the same field)
    max_bad_steps: int = 3
    kind: str = "distill"


def _temperature(r: _Reader) -> TemperatureSchedule:
    kind = r.enum("kind", ("constant", "linear", "cosine"), "constant")
    if kind == "constant":
        v = r.num("value", 1.0, 0, 100, lo_open=True)
        out = TemperatureSchedule(kind, v, v)
    else:
        out = TemperatureSchedule(kind, r.num("from", lo=0, hi=100, lo_open=True), r.num("to", lo=0, hi=100, lo_open=True))
    r.done()
    return out


def _layer_map(r: _Reader) -> List[Tuple[int, int]]:
    pairs = r.items("layerMap", min_items=1) or []
    out = []
    for i, pair in enumerate(pairs):
        ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in pair)
        if not ok:
            r.fail(f"layerMap.{i}", f"expected [studentLayer, teacherLayer] (non-negative integers), got {pair!r}")
        out.append((pair[0], pair[1]))
    return out


def _feature(r: _Reader, with_kind: bool) -> FeatureLoss:
    f = FeatureLoss(r.num("weight", 1.0, 0, 1000), _layer_map(r))
    if with_kind:
        f.kind = r.enum("kind", ("mse", "cosine"), "mse")
    r.done()
    return f


def _stage_loss(r: _Reader) -> StageLoss:
    loss = StageLoss(
        divergence=r.enum("divergence", DIVERGENCES, "forward-kl"),
        beta=r.num("beta", 0.5, 0, 1), lam=r.num("lambda", 0.1, 0, 1), alpha=r.num("alpha", 0.5, 0, 1),
        temperature=_temperature(r.sub("temperature", {"kind": "constant"})),  # type: ignore[arg-type]
        teacher_targets=r.enum("teacherTargets", TEACHER_TARGETS, "online"),
    )
    hidden, attention = r.sub("hidden", None), r.sub("attention", None)
    loss.hidden = _feature(hidden, True) if hidden else None
    loss.attention = _feature(attention, False) if attention else None
    _recipes(r, loss)
    if loss.teacher_targets == "none":
        if loss.divergence != "none":
            r.fail("divergence", f"must be 'none' when teacherTargets is 'none' (got '{loss.divergence}')")
        for key in ("hidden", "attention"):
            if getattr(loss, key) is not None:
                r.fail(key, "needs the teacher online (teacherTargets is 'none')")
    if loss.teacher_targets == "offline-topk":
        for key in ("hidden", "attention"):
            if getattr(loss, key) is not None:
                r.fail(key, "needs the teacher online (teacherTargets is 'offline-topk')")
    r.done()
    return loss


def _recipes(r: _Reader, loss: StageLoss) -> None:
    """onPolicy, selection and uld (src/core/schema/recipes.ts), with the same cross-field rules."""
    on, sel, uld = r.sub("onPolicy", None), r.sub("selection", None), r.sub("uld", None)
    if on is not None:
        loss.on_policy = OnPolicy(on.num("fraction", 0.5, 0, 1), on.enum("source", ("student", "teacher"), "student"),
                                  on.num("temperature", 1.0, 0, 10), on.integer("maxNewTokens", 128, 1, 4096))
        on.done()
        if loss.on_policy.source == "student" and loss.teacher_targets != "online":
            r.fail("onPolicy", "the teacher must score the student's samples: teacherTargets 'online'")
    if sel is not None:
        loss.selection = Selection(sel.enum("by", ("teacher-entropy", "teacher-attention")), sel.enum("mode", ("top", "soft"), "top"),
                                   sel.num("topFraction", 0.5, 0, 1, lo_open=True))
        sel.done()
    if uld is not None:
        loss.uld_weight = uld.num("weight", 1.0, 0, 1000)
        uld.done()
        if loss.divergence != "none":
            r.fail("uld", f"replaces the id-by-id divergence: set divergence 'none' (got '{loss.divergence}')")
    if loss.teacher_targets != "online":
        for key, value in (("selection", loss.selection), ("uld", loss.uld_weight)):
            if value is not None:
                r.fail(key, f"needs the teacher online (teacherTargets is '{loss.teacher_targets}')")


def _data(r: _Reader) -> DataConfig:
    d = DataConfig(
        path=r.text("path"), format=r.enum("format", ("auto", "chat", "prompt-completion", "text"), "auto"),
        chat_template=r.flag("chatTemplate", True), max_seq_len=r.integer("maxSeqLen", 2048, 8, 131072),
        truncation=r.enum("truncation", ("left", "right", "error"), "right"), packing=r.flag("packing", False),
        curriculum=r.enum("curriculum", CURRICULA, "none"),
    )
    topk = r.sub("teacherTopK", None)
    if topk is not None:
        d.teacher_top_k = topk.integer("k", 20, 1, 1024)
        topk.done()
    d.negatives = parse_negatives(r.sub("negatives", None))
    if d.negatives is not None and d.packing:
        r.fail("negatives", "a negative row is paired with its correct row by prompt: set packing false")
    r.done()
    return d


def _stage(r: _Reader) -> Stage:
    stop = r.sub("stop")
    assert stop is not None
    rule = StopRule(stop.integer("steps", lo=1, hi=100_000_000), stop.integer("maxTokens", None, lo=1),
                    stop.integer("earlyStopPatience", None, 1, 1000), stop.enum("metric", ("eval_loss",), "eval_loss"))
    stop.done()
    stage = Stage(
        name=r.text("name", "main"), data=_data(r.sub("data")),  # type: ignore[arg-type]
        loss=_stage_loss(r.sub("loss", {})), stop=rule,  # type: ignore[arg-type]
        lr=r.num("lr", None, 0, 1, lo_open=True), rl=parse_rl(r.sub("rl", None)),
    )
    if len(stage.name) > 64:
        r.fail("name", "must be at most 64 characters")
    if stage.loss.teacher_targets == "offline-topk" and stage.data.teacher_top_k is None:
        r.fail("data.teacherTopK", "required when loss.teacherTargets is 'offline-topk' (the data must carry cached top-k)")
    r.done()
    return stage


def _distill(r: _Reader) -> DistillSpec:
    spec = DistillSpec(
        teacher=_model_ref(r.sub("teacher")),  # type: ignore[arg-type]
        student=_model_ref(r.sub("student"), student=True),  # type: ignore[arg-type]
        stages=[], seed=r.integer("seed", 42, 0, SEED_MAX),
    )
    stages = r.items("stages", min_items=1) or []
    for i, raw in enumerate(stages):
        spec.stages.append(_stage(_Reader(raw, r.where(f"stages.{i}"), r.source, r.warnings)))
    seen: Dict[str, int] = {}
    for i, st in enumerate(spec.stages):
        if st.name in seen:
            r.fail(f"stages.{i}.name", f"duplicate stage name '{st.name}' (also stages.{seen[st.name]}.name)")
        seen[st.name] = i

    o = r.sub("optimizer", {})
    assert o is not None
    betas = o.items("betas", [0.9, 0.999])
    if len(betas or []) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas or []):
        o.fail("betas", f"expected [β1, β2] with 0 ≤ β < 1, got {betas!r}")
    s = o.sub("schedule", {})
    assert s is not None
    spec.optimizer = Optimizer(
        lr=o.num("lr", 2e-5, 0, 1, lo_open=True), betas=(float(betas[0]), float(betas[1])),  # type: ignore[index]
        eps=o.num("eps", 1e-8, 0, 1, lo_open=True), weight_decay=o.num("weightDecay", 0.01, 0, 1),
        grad_clip=o.num("gradClip", 1.0, 0, 1e6),
        schedule=LrSchedule(s.enum("kind", ("constant", "linear", "cosine"), "cosine"),
                            s.integer("warmupSteps", 0, 0, 10_000_000), s.num("minLrRatio", 0.1, 0, 1)),
    )
    s.done()
    o.done()

    b = r.sub("batch", {})
    assert b is not None
    spec.micro_batch, spec.grad_accumulation = b.integer("microBatch", 4, 1, 4096), b.integer("gradAccumulation", 1, 1, 4096)
    b.done()
    lora = r.sub("lora", None)
    if lora is not None:
        targets = lora.items("targetModules", ["q_proj", "k_proj", "v_proj", "o_proj"], min_items=1) or []
        if not all(isinstance(t, str) and t for t in targets):
            lora.fail("targetModules", f"expected layer names, got {targets!r}")
        spec.lora = Lora(lora.integer("rank", 16, 1, 1024), lora.num("alpha", 32.0, 0, 4096, lo_open=True),
                         lora.num("dropout", 0.05, 0, 1), list(targets))
        if spec.lora.dropout >= 1:
            lora.fail("dropout", "must be < 1")
        lora.done()
    qat = r.sub("qat", None)
    if qat is not None:
        bits, group = qat.raw("bits", 4), qat.raw("groupSize", 128)
        if bits not in (8, 4):
            qat.fail("bits", f"must be one of 8, 4 (got {bits!r})")
        if group not in (32, 128):
            qat.fail("groupSize", f"must be one of 32, 128 (got {group!r})")
        spec.qat = Qat(bits, group, qat.flag("symmetric", True), qat.flag("perChannel", True))
        qat.done()
    c = r.sub("checkpoint", {})
    assert c is not None
    spec.checkpoint_every, spec.keep_last = c.integer("everySteps", 500, 0, 100_000_000), c.integer("keepLast", 3, 1, 1000)
    c.done()
    e = r.sub("eval", {})
    assert e is not None
    spec.eval_every, spec.eval_dataset = e.integer("everySteps", 0, 0, 100_000_000), e.text("dataset", None)
    spec.eval_max_samples = e.integer("maxSamples", 64, 1, 1_000_000)
    e.done()
    out = r.sub("output", {})
    assert out is not None
    spec.output_dir = out.text("dir", None)
    out.done()
    spec.max_bad_steps = r.integer("maxBadSteps", 3, 1, 1000)
    for i, st in enumerate(spec.stages):
        if st.stop.early_stop_patience is not None and spec.eval_every == 0:
            r.fail(f"stages.{i}.stop.earlyStopPatience", "needs periodic evaluation (eval.everySteps > 0)")
    r.done()
    return spec


# ---- teacher-generate -----------------------------------------------------------------------------

@dataclass
class TeacherSource:
    kind: str  # local | openai
    path: Optional[str] = None
    dtype: Optional[str] = None
    base_url: Optional[str] = None
    api_key: Optional[str] = None
    model: Optional[str] = None
    concurrency: int = 8
    retries: int = 3


@dataclass
class Sampling:
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    max_new_tokens: int = 4096
    samples_per_prompt: int = 1
    seed: int = 0


@dataclass
class TraceFilters:
    answer_check: bool = False
    min_length: int = 0
    max_length: Optional[int] = None
    require_think: bool = False
    dedup: str = "exact"
    near_dup_threshold: float = 0.9


@dataclass
class TeacherGenerateSpec:
    source: TeacherSource
    prompts: str
    output: str
    sampling: Sampling = field(default_factory=Sampling)
    logprobs_top_k: Optional[int] = None
    filters: TraceFilters = field(default_factory=TraceFilters)
    curriculum: str = "none"
    kind: str = "teacher-generate"


def _teacher_generate(r: _Reader) -> TeacherGenerateSpec:
    s = r.sub("source")
    assert s is not None
    kind = s.enum("kind", ("local", "openai"))
    if kind == "local":
        source = TeacherSource(kind, path=s.text("path"), dtype=s.enum("dtype", DTYPES, None))
    else:
        url = s.text("baseUrl")
        if not url.startswith(("http://", "https://")):
            s.fail("baseUrl", f"must be an http(s) URL (got {url!r})")
        source = TeacherSource(kind, base_url=url, api_key=s.text("apiKey", None), model=s.text("model"),
                               concurrency=s.integer("concurrency", 8, 1, 1024), retries=s.integer("retries", 3, 0, 100))
    s.done()
    sp = r.sub("sampling", {})
    assert sp is not None
    sampling = Sampling(sp.num("temperature", 0.6, 0, 10), sp.num("topP", 0.95, 0, 1, lo_open=True),
                        sp.integer("topK", 0, 0, 100_000), sp.integer("maxNewTokens", 4096, 1, 131072),
                        sp.integer("samplesPerPrompt", 1, 1, 1024), sp.integer("seed", 0, 0, SEED_MAX))
    sp.done()
    f = r.sub("filters", {})
    assert f is not None
    filters = TraceFilters(f.flag("answerCheck", False), f.integer("minLength", 0, 0), f.integer("maxLength", None, 1),
                           f.flag("requireThink", False), f.enum("dedup", ("exact", "near", "none"), "exact"),
                           f.num("nearDupThreshold", 0.9, 0, 1, lo_open=True))
    if filters.max_length is not None and filters.max_length < filters.min_length:
        f.fail("maxLength", "must be ≥ minLength")
    f.done()
    lp = r.sub("logprobs", None)
    top_k = None
    if lp is not None:
        top_k = lp.integer("topK", 20, 1, 1024)
        lp.done()
    spec = TeacherGenerateSpec(source, r.text("prompts"), r.text("output"), sampling, top_k, filters,
                               r.enum("curriculum", CURRICULA, "none"))
    r.done()
    return spec


# ---- eval -----------------------------------------------------------------------------------------

@dataclass
class EvalSpec:
    model: ModelRef
    dataset: str
    limit: Optional[int] = None
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.0, top_p=1.0))
    kind: str = "eval"


def _eval(r: _Reader) -> EvalSpec:
    sp = r.sub("sampling", {})
    assert sp is not None
    sampling = Sampling(temperature=sp.num("temperature", 0.0, 0, 10), top_p=sp.num("topP", 1.0, 0, 1, lo_open=True),
                        max_new_tokens=sp.integer("maxNewTokens", 4096, 1, 131072),
                        samples_per_prompt=sp.integer("n", 1, 1, 1024), seed=sp.integer("seed", 0, 0, SEED_MAX))
    sp.done()
    spec = EvalSpec(_model_ref(r.sub("model")), r.text("dataset"), r.integer("limit", None, 1), sampling)  # type: ignore[arg-type]
    r.done()
    return spec


# ---- entry ----------------------------------------------------------------------------------------

JobSpec = Union[DistillSpec, TeacherGenerateSpec, EvalSpec]
KINDS = ("distill", "teacher-generate", "eval", "export")


def parse_spec(obj: Any, source: str = "spec.json") -> Tuple[JobSpec, List[str]]:
    """(typed spec, warnings about ignored fields). Raises SpecError naming the field."""
    warnings: List[str] = []
    r = _Reader(obj, "", source, warnings)
    kind = r.enum("kind", KINDS)
    if kind == "export":
        r.fail("kind", "'export' jobs run in the Node runner (ONNX export), not the torch worker")
    parsed: JobSpec = {"distill": _distill, "teacher-generate": _teacher_generate, "eval": _eval}[kind](r)
    return parsed, warnings


def load_spec(path: str) -> Tuple[JobSpec, List[str]]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file (the runner writes the job spec there)") from None
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    return parse_spec(obj, path)
