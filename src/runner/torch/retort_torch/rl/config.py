"""The `rl` block of a stage (zod: src/core/schema/rl.ts), parsed with spec.py's reader so errors
name the field (`spec.json: stages.1.rl.clip: ...`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

ALGORITHMS = ("ppo", "grpo")
SIMILARITY_METRICS = ("token-f1", "bleu")
REFERENCES = ("data", "teacher")
KL_TARGETS = ("teacher", "reference")


@dataclass
class RLConfig:
    algorithm: str = "ppo"  # ppo (GAE + value head) | grpo (group baseline)
    task_weight: float = 0.3  # reward = task_weight · correct + similarity_weight · similarity
    similarity_weight: float = 0.7
    similarity: str = "token-f1"  # token-f1 | bleu
    reference: str = "data"  # the teacher's answer: the data's completion, or the teacher's greedy answer
    kl_coef: float = 0.05  # β
    kl_target: str = "teacher"  # teacher | reference (the student as the stage starts, frozen)
    group_size: int = 4  # samples per prompt (GRPO's G)
    epochs: int = 2  # optimizer updates per rollout batch
    clip: float = 0.2  # ε, for the ratio and the value
    gamma: float = 1.0
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    temperature: float = 1.0
    max_new_tokens: int = 96

    @property
    def needs_teacher(self) -> bool:
        return self.kl_target == "teacher" or self.reference == "teacher"


def parse_rl(r: Any) -> Optional[RLConfig]:
    """`r`: spec.py's _Reader over the block, or None when the stage has none."""
    if r is None:
        return None
    c = RLConfig(
        algorithm=r.enum("algorithm", ALGORITHMS, "ppo"),
        task_weight=r.num("taskWeight", 0.3, 0, 100), similarity_weight=r.num("similarityWeight", 0.7, 0, 100),
        similarity=r.enum("similarity", SIMILARITY_METRICS, "token-f1"), reference=r.enum("reference", REFERENCES, "data"),
        kl_coef=r.num("klCoef", 0.05, 0, 100), kl_target=r.enum("klTarget", KL_TARGETS, "teacher"),
        group_size=r.integer("groupSize", 4, 1, 1024), epochs=r.integer("epochs", 2, 1, 100),
        clip=r.num("clip", 0.2, 0, 10, lo_open=True), gamma=r.num("gamma", 1.0, 0, 1), gae_lambda=r.num("gaeLambda", 0.95, 0, 1),
        value_coef=r.num("valueCoef", 0.5, 0, 100), temperature=r.num("temperature", 1.0, 0, 10, lo_open=True),
        max_new_tokens=r.integer("maxNewTokens", 96, 1, 32768),
    )
    if c.task_weight + c.similarity_weight == 0:
        r.fail("similarityWeight", "taskWeight and similarityWeight are both 0: the reward would be 0 for every answer")
    if c.algorithm == "grpo" and c.group_size < 2:
        r.fail("groupSize", "GRPO compares samples of one prompt: needs at least 2")
    r.done()
    return c
