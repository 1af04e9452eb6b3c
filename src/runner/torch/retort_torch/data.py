"""Tokenized rows (protocol.py: TokenRow) -> deterministic, resumable micro-batches.

The runner tokenizes with the shared TypeScript code, so the worker never needs a tokenizer to
train. Order: a seeded permutation per epoch (or the curriculum's fixed order); one optimizer step
takes the next `micro_batch × grad_accumulation × world` rows, rank r keeps every world-th of them,
split into `grad_accumulation` micro-batches. The position in that order (epoch, cursor) is the whole
data state a checkpoint needs.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch


class DataError(ValueError):
    """A bad row; the message is `FILE:LINE: field 'x': problem`."""


@dataclass
class Row:
    ids: List[int]  # [T]
    labels: List[int]  # [T], -1 = not trained
    doc_starts: List[int]
    topk_ids: Optional[List[List[int]]] = None  # one entry per trained label, in order
    topk_logprobs: Optional[List[List[float]]] = None
    difficulty: Optional[float] = None
    line: int = 0  # line in the tokenized file
    source_line: Optional[int] = None  # line in the user's JSONL
    negative: bool = False  # a wrong trace, trained by unlikelihood (negatives.py)
    teacher_ids: Optional[List[int]] = None  # the same text in the teacher's tokenizer (cross-tokenizer ULD)
    teacher_labels: Optional[List[int]] = None

    @property
    def trained(self) -> int:
        return sum(1 for l in self.labels if l >= 0)


def _fail(file: str, line: int, field: Optional[str], message: str) -> None:
    at = f"{file}:{line}"
    raise DataError(f"{at}: field '{field}': {message}" if field else f"{at}: {message}")


def _int_list(v: Any, file: str, line: int, field: str, lo: int, hi: int) -> List[int]:
    if not isinstance(v, list):
        _fail(file, line, field, f"expected an array of integers, got {type(v).__name__}")
    for i, x in enumerate(v):
        if isinstance(x, bool) or not isinstance(x, int) or not lo <= x < hi:
            _fail(file, line, f"{field}[{i}]", f"expected an integer in [{lo}, {hi}), got {x!r}")
    return v


def parse_row(obj: Any, file: str, line: int, vocab: int, max_len: Optional[int] = None) -> Row:
    if not isinstance(obj, dict):
        _fail(file, line, None, "expected a JSON object {ids, labels, ...}")
    for key in ("ids", "labels"):
        if key not in obj:
            _fail(file, line, key, "is required (the runner writes tokenized rows, see protocol.py)")
    ids = _int_list(obj["ids"], file, line, "ids", 0, vocab)
    labels = _int_list(obj["labels"], file, line, "labels", -1, vocab)
    if len(ids) != len(labels):
        _fail(file, line, "labels", f"has {len(labels)} entries but ids has {len(ids)}")
    if not ids:
        _fail(file, line, "ids", "is empty")
    if max_len is not None and len(ids) > max_len:
        _fail(file, line, "ids", f"has {len(ids)} tokens, more than maxSeqLen {max_len}")
    starts = obj.get("doc_starts", [0])
    starts = _int_list(starts, file, line, "doc_starts", 0, len(ids))
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
        _fail(file, line, "doc_starts", f"must start at 0 and increase, got {starts}")
    row = Row(ids, labels, starts, line=line, source_line=obj.get("line"))
    if "teacher_ids" in obj or "teacher_labels" in obj:  # no teacher vocab here: uld.py checks the upper bound
        row.teacher_ids = _int_list(obj.get("teacher_ids"), file, line, "teacher_ids", 0, 2**31)
        row.teacher_labels = _int_list(obj.get("teacher_labels"), file, line, "teacher_labels", -1, 2**31)
        if len(row.teacher_ids) != len(row.teacher_labels):
            _fail(file, line, "teacher_labels", f"has {len(row.teacher_labels)} entries but teacher_ids has {len(row.teacher_ids)}")
    if "difficulty" in obj:
        d = obj["difficulty"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d):
            _fail(file, line, "difficulty", f"expected a number, got {d!r}")
        row.difficulty = float(d)
    if "negative" in obj:
        if not isinstance(obj["negative"], bool):
            _fail(file, line, "negative", f"expected true or false, got {obj['negative']!r}")
        row.negative = obj["negative"]
    if "teacher_topk" in obj:
        entries = obj["teacher_topk"]
        if not isinstance(entries, list):
            _fail(file, line, "teacher_topk", "expected an array of {ids, logprobs}")
        if len(entries) != row.trained:
            _fail(file, line, "teacher_topk", f"has {len(entries)} entries but the row has {row.trained} trained labels (one entry per label ≠ −1)")
        row.topk_ids, row.topk_logprobs = [], []
        for j, e in enumerate(entries):
            field = f"teacher_topk[{j}]"
            if not isinstance(e, dict) or not isinstance(e.get("ids"), list) or not isinstance(e.get("logprobs"), list):
                _fail(file, line, field, 'expected {"ids": [...], "logprobs": [...]}')
            if not e["ids"] or len(e["ids"]) != len(e["logprobs"]):
                _fail(file, line, field, f"has {len(e['ids'])} ids and {len(e['logprobs'])} logprobs; expected the same non-zero count")
            _int_list(e["ids"], file, line, f"{field}.ids", 0, vocab)
            if len(set(e["ids"])) != len(e["ids"]):
                _fail(file, line, f"{field}.ids", "repeats an id")
            for c, lp in enumerate(e["logprobs"]):
                if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not lp <= 1e-6:
                    _fail(file, line, f"{field}.logprobs[{c}]", f"expected a log-probability ≤ 0, got {lp!r}")
            row.topk_ids.append(e["ids"])
            row.topk_logprobs.append([float(x) for x in e["logprobs"]])
    return row


def load_rows(path: str, vocab: int, max_len: Optional[int] = None, display: Optional[str] = None) -> List[Row]:
    """Every row of a tokenized JSONL file; blank lines skipped; errors name `display:line`."""
    name = display or path
    rows: List[Row] = []
    try:
        f = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{name}: no such file (the runner tokenizes each dataset into the job's data/ folder before starting the worker)") from None
    with f:
        for n, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(f"{name}:{n}: invalid JSON: {e.msg} (column {e.colno})") from None
            rows.append(parse_row(obj, name, n, vocab, max_len))
    if not rows:
        raise DataError(f"{name}: no rows")
    with_topk = sum(1 for r in rows if r.topk_ids is not None)
    if with_topk not in (0, len(rows)):
        odd = next(r for r in rows if r.topk_ids is None)
        raise DataError(f"{name}:{odd.line}: field 'teacher_topk': missing, but other rows carry it; all rows or none")
    return rows


def curriculum_order(rows: Sequence[Row], curriculum: str) -> Optional[List[int]]:
    """A fixed easy→hard order, or None for shuffled epochs."""
    if curriculum == "by-length":
        return sorted(range(len(rows)), key=lambda i: (len(rows[i].ids), i))
    if curriculum == "by-difficulty":
        missing = [r for r in rows if r.difficulty is None]
        if missing:
            raise DataError(f"line {missing[0].line}: field 'difficulty': required by curriculum 'by-difficulty' ({len(missing)} rows lack it)")
        return sorted(range(len(rows)), key=lambda i: (rows[i].difficulty, i))
    return None


@dataclass
class Cursor:
    epoch: int = 0
    position: int = 0  # index into the epoch's order


class BatchPlan:
    """Which rows each optimizer step reads, rank by rank, reproducibly from (seed, epoch, position)."""

    def __init__(self, n_rows: int, seed: int, fixed_order: Optional[List[int]] = None) -> None:
        if n_rows <= 0:
            raise ValueError("no training rows")
        self.n, self.seed, self.fixed = n_rows, seed, fixed_order
        self.cursor = Cursor()
        self._epoch_order: Tuple[int, List[int]] = (-1, [])

    def order(self, epoch: int) -> List[int]:
        if self.fixed is not None:
            return self.fixed
        if self._epoch_order[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch_order = (epoch, torch.randperm(self.n, generator=g).tolist())
        return self._epoch_order[1]

    def take(self, count: int) -> List[int]:
        out: List[int] = []
        while len(out) < count:
            order = self.order(self.cursor.epoch)
            grab = order[self.cursor.position:self.cursor.position + count - len(out)]
            out.extend(grab)
            self.cursor.position += len(grab)
            if self.cursor.position >= self.n:
                self.cursor = Cursor(self.cursor.epoch + 1, 0)
        return out

    def step_rows(self, micro_batch: int, accumulation: int, rank: int = 0, world: int = 1) -> List[List[int]]:
        """Row indices of this rank's micro-batches for the next optimizer step."""
        mine = self.take(micro_batch * accumulation * world)[rank::world]
        return [mine[i * micro_batch:(i + 1) * micro_batch] for i in range(accumulation)]

    def state(self) -> Dict[str, int]:
        return {"epoch": self.cursor.epoch, "position": self.cursor.position}

    def load_state(self, s: Dict[str, int]) -> None:
        self.cursor = Cursor(int(s["epoch"]), int(s["position"]))


@dataclass
class Batch:
    ids: torch.Tensor  # [B, T]
    labels: torch.Tensor  # [B, T], -1 = not trained
    positions: torch.Tensor  # [B, T]
    doc: torch.Tensor  # [B, T] document number within the row, -1 on padding
    packed: bool  # some row holds several documents
    topk_ids: Optional[torch.Tensor] = None  # [B, T, k], -1 = empty slot
    topk_logprobs: Optional[torch.Tensor] = None  # [B, T, k]

    @property
    def mask(self) -> torch.Tensor:  # [B, T] tokens that count in the loss
        return (self.labels >= 0).to(torch.int64)

    @property
    def real(self) -> torch.Tensor:  # [B, T] 1 on real tokens
        return (self.doc >= 0).to(torch.int64)

    def attention_mask(self) -> Optional[torch.Tensor]:
        """What the model takes: None (plain causal, the fast SDPA path), [B, T] key padding, or for
        packed rows [B, 1, T, T] bool — causal within a document; a padded query sees itself."""
        if not self.packed:
            real = self.real
            return None if bool(real.all()) else real
        t = self.ids.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=self.ids.device).tril()  # [T, T]
        same_doc = self.doc[:, :, None] == self.doc[:, None, :]  # [B, T, T]
        eye = torch.eye(t, dtype=torch.bool, device=self.ids.device)[None]
        return ((causal[None] & same_doc & (self.doc >= 0)[:, None, :]) | eye)[:, None]  # [B, 1, T, T]

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.ids), move(self.labels), move(self.positions), move(self.doc), self.packed,
                     move(self.topk_ids), move(self.topk_logprobs))


def collate(rows: Sequence[Row], pad_id: int = 0) -> Batch:
    """Right-pad to the longest row; positions restart at each document start."""
    b, t = len(rows), max(len(r.ids) for r in rows)
    ids = torch.full((b, t), pad_id, dtype=torch.long)
    labels = torch.full((b, t), -1, dtype=torch.long)
    positions = torch.zeros((b, t), dtype=torch.long)
    doc = torch.full((b, t), -1, dtype=torch.long)
    k = max((len(e) for r in rows for e in (r.topk_ids or [])), default=0)
    has_topk = rows[0].topk_ids is not None
    topk_ids = torch.full((b, t, k), -1, dtype=torch.long) if has_topk else None
    topk_lp = torch.zeros((b, t, k), dtype=torch.float32) if has_topk else None
    for i, r in enumerate(rows):
        n = len(r.ids)
        ids[i, :n] = torch.tensor(r.ids)
        labels[i, :n] = torch.tensor(r.labels)
        bounds = list(r.doc_starts) + [n]
        for d, (s, e) in enumerate(zip(bounds, bounds[1:])):
            positions[i, s:e] = torch.arange(e - s)
            doc[i, s:e] = d
        if topk_ids is not None and topk_lp is not None and r.topk_ids is not None and r.topk_logprobs is not None:
            where = [p for p, l in enumerate(r.labels) if l >= 0]
            for p, e_ids, e_lp in zip(where, r.topk_ids, r.topk_logprobs):
                topk_ids[i, p, :len(e_ids)] = torch.tensor(e_ids)
                topk_lp[i, p, :len(e_lp)] = torch.tensor(e_lp)
    packed = any(len(r.doc_starts) > 1 for r in rows)
    return Batch(ids, labels, positions, doc, packed, topk_ids, topk_lp)
