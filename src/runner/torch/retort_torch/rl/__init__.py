"""RL alignment of the student against the teacher (issue 8; seed 000's reinforced distillation, stage 3
of seed 003): an RL stage samples the student on the stage's prompts, rewards each answer with
w_task · correctness + w_sim · similarity to the teacher's answer, penalises the per-token KL to the
teacher (or a frozen copy of the student), and updates by PPO (GAE with a value head, clipped
objective) or GRPO (group-relative baseline, no value head).

    config.py      RLConfig (the stage's `rl` block, schema src/core/schema/rl.ts) and its parser
    rewards.py     token F1, BLEU, the task reward through answers.py
    advantages.py  GAE(γ, λ), group-relative advantages, masked whitening
    objective.py   the clipped policy objective, the clipped value loss, KL estimators
    trainer.py     one RL step: rollouts, scoring, advantages, `epochs` optimizer updates, metrics
"""
