"""The embedded demo from the Python side: the committed dataset passes the worker's answer checker,
the worker's detokenizer reads the demo tokenizer, and the committed teacher solves test problems
when driven by the worker's own model and greedy generation.

The prompts are encoded here by a small encoder written from the tokenizer's description (added
tokens, then runs of letters looked up whole, then single characters), independent of
transformers.js, so a disagreement between the two sides shows up as a failed round trip.
"""
import json
import os
import re

import torch

from conftest import ROOT
from retort_torch.answers import check_answer, extract_boxed, has_think_format
from retort_torch.generate import generate
from retort_torch.model import load_model
from retort_torch.tokenizer import Detokenizer, eos_ids

DATA = os.path.join(ROOT, "public", "data", "arith")
TEACHER = os.path.join(ROOT, "public", "models", "demo-teacher")


def records(split):
    with open(os.path.join(DATA, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class DemoEncoder:
    """Encodes text for the demo tokenizer: added tokens first, then letter runs (the merged words,
    else their letters), then one id per character."""

    def __init__(self, folder):
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        self.vocab = tj["model"]["vocab"]
        self.added = {t["content"]: t["id"] for t in tj["added_tokens"]}
        alternatives = "|".join(re.escape(t) for t in sorted(self.added, key=len, reverse=True))
        self.pattern = re.compile(f"({alternatives})|([A-Za-z]+)|(.)", re.S)

    def encode(self, text):
        ids = []
        for added, word, char in self.pattern.findall(text):
            if added:
                ids.append(self.added[added])
            elif word:
                ids.extend([self.vocab[word]] if word in self.vocab else [self.vocab[c] for c in word])
            else:
                ids.append(self.vocab[char])
        return ids


def chat(messages, generation_prompt=False):
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if generation_prompt else "")


def test_every_record_passes_the_worker_answer_checker():
    count = 0
    for split in ("train", "val", "test"):
        for i, r in enumerate(records(split)):
            reply = r["messages"][1]["content"]
            where = f"{split}.jsonl:{i + 1}"
            assert has_think_format(reply), where
            assert extract_boxed(reply) == r["answer"], where
            check = check_answer(reply, r["answer"])
            assert check.correct, (where, check)
            count += 1
    print(f"{count} records pass answers.py")


def test_detokenizer_round_trips_the_independent_encoding():
    enc = DemoEncoder(TEACHER)
    detok = Detokenizer(TEACHER)
    worst = 0
    for r in records("test"):
        text = chat(r["messages"])
        ids = enc.encode(text)
        assert detok.decode(ids, skip_special=False) == text
        worst = max(worst, len(ids))
    # digits are single tokens; the special tokens are skipped on request, <think> is not
    assert detok.decode(enc.encode("<|im_start|>assistant\n<think>\n12</think>\\boxed{3}<|im_end|>")) == "assistant\n<think>\n12</think>\\boxed{3}"
    print(f"longest test record {worst} tokens")
    assert worst <= 128


def test_committed_teacher_solves_test_problems_greedily():
    enc = DemoEncoder(TEACHER)
    detok = Detokenizer(TEACHER)
    model = load_model(TEACHER).eval()
    problems = records("test")[:40]  # every difficulty level, 10 each
    prompts = [enc.encode(chat(r["messages"][:1], generation_prompt=True)) for r in problems]
    width = max(len(p) for p in prompts)
    pad = enc.added["<|endoftext|>"]
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # left-padded
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = generate(model, ids, 160, attention_mask=mask, eos_token_ids=eos_ids(TEACHER), pad_token_id=pad)
    correct = 0
    for r, row in zip(problems, out[:, width:].tolist()):
        text = detok.decode(row)
        correct += check_answer(text, r["answer"]).correct
    print(f"teacher: {correct}/{len(problems)} correct on the first test problems")
    assert correct >= 0.9 * len(problems)
