"""The long-lived serve worker behind the runner's /v1/load, /v1/probe, /v1/generate and
/v1/chat/completions (protocol.py, "Serve worker"):

    python3 -m retort_torch.serve [--model NAME=DIR ...]

A reader thread takes request lines from stdin; one compute loop answers them. Generations advance
one token per turn, round-robin, so several streams and quick requests (info, probe, load) share
the model without waiting for a whole generation; `cancel` is handled by the reader at once.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, TextIO

import torch
import torch.nn.functional as F

from .config import ARCHITECTURES
from .events import _finite
from .generate import process_logits
from .jobs.common import compute_dtype, load_frozen
from .model import DTYPE_NAMES, CausalLM, KVCache, autocast, load_lora
from .spec import ModelRef
from .tokenizer import Detokenizer, StreamDecoder, eos_ids, load_detokenizer, tokenizer_fingerprint

DTYPE_SHORT = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


class RequestError(ValueError):
    """A request the worker cannot serve; its message goes back as {"ok": false, "error"}."""


@dataclass
class Loaded:
    name: str
    path: str
    model: CausalLM
    detok: Optional[Detokenizer]
    vocab: int
    eos: List[int]
    info: Dict[str, Any]
    fingerprint: Optional[str]


class Server:
    def __init__(self, out: TextIO, device: Optional[torch.device] = None) -> None:
        self.out = out
        self.device = device or (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
        self.amp = compute_dtype(self.device)
        self.models: Dict[str, Loaded] = {}
        self.inbox: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        self.cancelled: Set[int] = set()
        self.streams: Dict[int, Iterator[Dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # ---- wire -------------------------------------------------------------------------------------

    def send(self, msg: Dict[str, Any]) -> None:
        line = json.dumps(_finite(msg), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def read(self, stream: TextIO) -> None:
        """Reader thread: parse lines, answer `cancel` at once, queue the rest; None on EOF."""
        for raw in stream:
            line = raw.strip()
            if not line:
                continue
            try:
                req = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"[retort_torch.serve] ignored a line that is not JSON ({e.msg}): {line[:200]}", file=sys.stderr, flush=True)
                continue
            rid = req.get("id") if isinstance(req, dict) else None
            if not isinstance(rid, int) or isinstance(rid, bool):
                print(f"[retort_torch.serve] ignored a request without a numeric id: {line[:200]}", file=sys.stderr, flush=True)
                continue
            if req.get("op") == "cancel":
                target = req.get("target")
                if isinstance(target, int):
                    self.cancelled.add(target)
                self.send({"id": rid, "ok": True})
                continue
            self.inbox.put(req)
        self.inbox.put(None)

    # ---- loop -------------------------------------------------------------------------------------

    def serve(self, stream: TextIO) -> None:
        threading.Thread(target=self.read, args=(stream,), name="serve-reader", daemon=True).start()
        eof = False
        while not eof or self.streams:
            try:
                req = self.inbox.get(block=not self.streams and not eof, timeout=None)
            except queue.Empty:
                req = None
            else:
                if req is None:
                    eof = True
                else:
                    self.handle(req)
                    continue  # drain waiting requests before the next token
            for rid in list(self.streams):
                try:
                    msg = next(self.streams[rid])
                except StopIteration:
                    del self.streams[rid]
                    continue
                except Exception as e:  # noqa: BLE001 - answer, keep serving
                    del self.streams[rid]
                    self.send({"id": rid, "ok": False, "error": f"generate: {type(e).__name__}: {e}"})
                    continue
                self.send(msg)
                if msg.get("done"):
                    del self.streams[rid]

    def handle(self, req: Dict[str, Any]) -> None:
        rid, op = req["id"], req.get("op")
        try:
            if op == "info":
                self.send({"id": rid, "ok": True, "models": [m.info for m in self.models.values()]})
            elif op == "load":
                self.send({"id": rid, "ok": True, "model": self.load(_str(req, "name"), _str(req, "path"), req.get("dtype"), req.get("adapter"))})
            elif op == "unload":
                self.models.pop(_str(req, "name"), None)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.send({"id": rid, "ok": True})
            elif op == "generate":
                self.streams[rid] = self.generate(rid, req)
            elif op == "probe":
                self.send({"id": rid, "ok": True, "result": self.probe(req)})
            else:
                raise RequestError(f"op: {op!r} is not one of info, load, unload, generate, probe, cancel")
        except Exception as e:  # noqa: BLE001 - every failure is an answer, the worker keeps serving
            message = str(e) if isinstance(e, (RequestError, ValueError, OSError)) else f"{type(e).__name__}: {e}"
            self.send({"id": rid, "ok": False, "error": f"{op}: {message}"})

    # ---- ops --------------------------------------------------------------------------------------

    def load(self, name: str, path: str, dtype: Optional[str] = None, adapter: Optional[str] = None) -> Dict[str, Any]:
        folder = os.path.abspath(path)
        model = load_frozen(ModelRef(folder, dtype), self.device)
        if adapter:
            load_lora(model, os.path.abspath(adapter))
            model.eval()
        detok = load_detokenizer(folder)
        cfg = model.config
        vocab = detok.size if detok is not None else cfg.vocab_size
        stored = next(model.parameters()).dtype
        info = {
            "role": name if name in ("teacher", "student") else "student",
            "name": os.path.basename(folder.rstrip("/")) or folder, "path": path,
            "architecture": ARCHITECTURES[cfg.model_type],
            "params": sum(p.numel() for n, p in model.named_parameters() if ".lora_" not in n),
            "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size, "heads": cfg.num_attention_heads,
            "kvHeads": cfg.num_key_value_heads, "vocab": vocab, "configVocab": cfg.vocab_size,
            "dtype": DTYPE_SHORT.get(DTYPE_NAMES.get(stored, "float32"), "f32"),
        }
        if adapter:
            info["adapter"] = adapter
        self.models[name] = Loaded(name, folder, model, detok, vocab, eos_ids(folder), info, tokenizer_fingerprint(folder))
        return info

    def _model(self, name: Any, field: str = "model") -> Loaded:
        if not isinstance(name, str) or name not in self.models:
            loaded = ", ".join(self.models) or "none"
            raise RequestError(f"{field}: no model named {name!r} is loaded (loaded: {loaded})")
        return self.models[name]

    def generate(self, rid: int, req: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        """Validate now (errors answer at once), then a generator of response lines."""
        m = self._model(req.get("model"))
        ids = _ids(req, m.vocab)
        s = req.get("sampling") or {}
        if not isinstance(s, dict):
            raise RequestError("sampling: expected an object")
        temperature = float(s.get("temperature", 0.6))
        top_p, top_k = float(s.get("topP", 1.0)), int(s.get("topK", 0))
        penalty, max_new = float(s.get("repetitionPenalty", 1.0)), int(s.get("maxNewTokens", 512))
        stops = [x for x in (s.get("stop") or []) if isinstance(x, str) and x]
        logprobs = int(req.get("logprobs") or 0)
        if temperature < 0 or not 0 < top_p <= 1 or top_k < 0 or penalty <= 0 or max_new < 1:
            raise RequestError(f"sampling: out of range: {json.dumps(s)}")
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(s["seed"]) if s.get("seed") is not None else int(time.time_ns() % (2 ** 63)))
        return self._stream(rid, m, ids, temperature, top_p, top_k, penalty, max_new, stops, logprobs, gen)

    @torch.no_grad()
    def _stream(self, rid: int, m: Loaded, ids: List[int], temperature: float, top_p: float, top_k: int, penalty: float,
                max_new: int, stops: Sequence[str], logprobs: int, gen: torch.Generator) -> Iterator[Dict[str, Any]]:
        started = time.perf_counter()
        cache = KVCache()
        seen = torch.tensor([ids], device=self.device)
        step_ids = seen
        decoder = StreamDecoder(m.detok) if m.detok is not None else None
        text, sent = "", 0  # text so far; how much of it went out (a possible stop string is held back)
        out_ids: List[int] = []
        finish = "length"
        for step in range(max_new):
            if rid in self.cancelled:
                finish = "cancelled"
                break
            with autocast(self.device, self.amp):
                logits = m.model(step_ids, past_key_values=cache).logits[:, -1, :m.vocab].float()  # [1, V]
            filtered = process_logits(logits, seen, temperature, top_k, top_p, penalty)
            if temperature > 0:
                nxt = int(torch.multinomial(filtered.softmax(-1), 1, generator=gen)[0, 0])
            else:
                nxt = int(filtered.argmax(-1)[0])
            out_ids.append(nxt)
            seen = torch.cat((seen, torch.tensor([[nxt]], device=self.device)), dim=1)
            step_ids = seen[:, -1:]
            token: Dict[str, Any] = {"id": nxt, "text": ""}
            if logprobs:
                lp = F.log_softmax(logits[0], dim=-1)
                token["logprob"] = float(lp[nxt])
                values, top_ids = lp.topk(min(logprobs, lp.shape[0]))
                token["top"] = [{"id": int(i), "text": m.detok.piece(int(i)) if m.detok else "", "logprob": float(v)}
                                for v, i in zip(values, top_ids)]
            last = nxt in m.eos or step == max_new - 1
            if nxt not in m.eos and decoder is not None:
                text += decoder.push(nxt)
            if last and decoder is not None:
                text += decoder.flush()
            cut = _first_stop(text, stops)
            if cut is not None:
                text, finish = text[:cut], "stop"
            # a possible start of a stop string is held back until it is decided, except at the end
            safe = len(text) if last or cut is not None else len(text) - _held(text, stops)
            token["text"], sent = text[sent:max(sent, safe)], max(sent, safe)
            yield {"id": rid, "done": False, "token": token}
            if cut is not None:
                break
            if nxt in m.eos:
                finish = "eos"
                break
        self.cancelled.discard(rid)
        elapsed = max(time.perf_counter() - started, 1e-9)
        yield {"id": rid, "done": True, "ids": out_ids, "text": text, "finish": finish,
               "stats": {"promptTokens": len(ids), "newTokens": len(out_ids), "tokensPerS": len(out_ids) / elapsed}}

    @torch.no_grad()
    def probe(self, req: Dict[str, Any]) -> Dict[str, Any]:
        t, s = self._model(req.get("teacher"), "teacher"), self._model(req.get("student"), "student")
        if t.fingerprint is not None and s.fingerprint is not None and t.fingerprint != s.fingerprint:
            raise RequestError("teacher and student tokenizers differ; logits cannot be compared token by token")
        vocab = min(t.vocab, s.vocab)
        ids = _ids(req, vocab)
        temps = req.get("temperatures") or [1.0]
        if not isinstance(temps, list) or not all(isinstance(x, (int, float)) and x > 0 for x in temps):
            raise RequestError(f"temperatures: expected positive numbers, got {temps!r}")
        top_k = int(req.get("topK", 10))
        n = len(ids)
        positions = req.get("positions")
        if positions is None:
            positions = [n - 1]
        resolved = []
        for p in positions:
            q = p + n if isinstance(p, int) and p < 0 else p
            if not isinstance(q, int) or not 0 <= q < n:
                raise RequestError(f"positions: {p!r} is outside the {n} tokens")
            resolved.append(q)
        x = torch.tensor([ids], device=self.device)
        with autocast(self.device, self.amp):
            zt = t.model(x.to(next(t.model.parameters()).device)).logits[0, :, :vocab].float().to(self.device)  # [S, V]
            zs = s.model(x).logits[0, :, :vocab].float()  # [S, V]
        detok = s.detok or t.detok
        piece = (lambda i: detok.piece(i)) if detok is not None else (lambda i: "")
        out_positions = []
        for q in resolved:
            entry: Dict[str, Any] = {"position": q, "teacher": [], "student": [], "kl": []}
            if q + 1 < n:
                entry["next"] = {"id": ids[q + 1], "token": piece(ids[q + 1])}
            for temp in temps:
                lt, ls = F.log_softmax(zt[q] / temp, -1), F.log_softmax(zs[q] / temp, -1)
                entry["teacher"].append(_distribution(lt, top_k, piece))
                entry["student"].append(_distribution(ls, top_k, piece))
                entry["kl"].append(float((lt.exp() * (lt - ls)).sum()))
            out_positions.append(entry)
        lt, ls = F.log_softmax(zt[:-1], -1), F.log_softmax(zs[:-1], -1)  # [S-1, V] at T = 1
        kl = (lt.exp() * (lt - ls)).sum(-1)
        ce = -ls.gather(1, x[0, 1:, None])[:, 0]
        return {"ids": ids, "tokens": [piece(i) for i in ids], "temperatures": temps, "positions": out_positions,
                "perToken": {"kl": kl.tolist(), "ce": ce.tolist()}}


def _distribution(logp: torch.Tensor, k: int, piece: Any) -> Dict[str, Any]:
    values, ids = logp.topk(min(k, logp.shape[0]))
    p = logp.exp()
    entropy = float(-(torch.where(p > 0, p * logp, torch.zeros_like(p))).sum())
    return {"top": [{"id": int(i), "token": piece(int(i)), "logprob": float(v)} for v, i in zip(values, ids)],
            "tailMass": max(0.0, 1.0 - float(values.exp().sum())), "entropy": entropy}


def _first_stop(text: str, stops: Sequence[str]) -> Optional[int]:
    cuts = [text.find(s) for s in stops if s in text]
    return min(cuts) if cuts else None


def _held(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could still grow into a stop string (they are not sent yet)."""
    held = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                held = max(held, k)
                break
    return held


def _str(req: Dict[str, Any], key: str) -> str:
    v = req.get(key)
    if not isinstance(v, str) or not v:
        raise RequestError(f"{key}: expected a non-empty string, got {v!r}")
    return v


def _ids(req: Dict[str, Any], vocab: int) -> List[int]:
    ids = req.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise RequestError("ids: expected a non-empty array of token ids")
    bad = next((i for i in ids if not 0 <= i < vocab), None)
    if bad is not None:
        raise RequestError(f"ids: token id {bad} is outside the vocabulary [0, {vocab})")
    return ids


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m retort_torch.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="load a model at start")
    args = ap.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # stdout carries responses only
    server = Server(out)
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path:
            ap.error(f"--model {spec!r}: expected NAME=DIR")
        server.load(name, path)
    server.serve(sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
