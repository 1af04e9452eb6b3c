"""Token ids -> text from a model folder's tokenizer.json, for what the worker must read back
(answer checks, samples, served tokens). Encoding is not done here: the runner tokenizes with the
shared TypeScript tokenizer (transformers.js), so there is one encoder and the two sides cannot
disagree on ids.

Two decoder families, as the HF `tokenizers` library runs them:
  ByteLevel (GPT-2, Qwen, Llama 3)   each token string maps char -> byte through GPT-2's
                                     bytes_to_unicode table; bytes joined, then UTF-8 decoded
  Metaspace / SentencePiece (Llama 2) "▁" -> " ", "<0xNN>" byte-fallback tokens, optional Strip
Added tokens (<|im_end|>, <think>, …) decode to their content; `skip_special` drops those marked
special (so <think>, not special in Qwen3, stays in the text).
"""
from __future__ import annotations

import json
import os
import re
from typing import Dict, Iterable, List, Optional, Set


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


class TokenizerError(ValueError):
    pass


class Detokenizer:
    def __init__(self, path: str) -> None:
        file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
        try:
            with open(file, "r", encoding="utf-8") as f:
                tj = json.load(f)
        except FileNotFoundError:
            raise TokenizerError(f"{file}: no such file (a model folder needs tokenizer.json to turn ids into text)") from None
        except json.JSONDecodeError as e:
            raise TokenizerError(f"{file}: invalid JSON at line {e.lineno}: {e.msg}") from None
        model = tj.get("model") or {}
        vocab = model.get("vocab")
        if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            self.pieces: Dict[int, str] = {i: p[0] for i, p in enumerate(vocab)}
        elif isinstance(vocab, dict):
            self.pieces = {int(i): s for s, i in vocab.items()}
        else:
            raise TokenizerError(f"{file}: field 'model.vocab' is missing")
        self.special: Set[int] = set()
        for t in tj.get("added_tokens") or []:
            self.pieces[int(t["id"])] = t["content"]
            if t.get("special"):
                self.special.add(int(t["id"]))
        self.added = {int(t["id"]) for t in tj.get("added_tokens") or []}
        self.size = max(self.pieces) + 1
        decoder = json.dumps(tj.get("decoder")) + json.dumps(tj.get("pre_tokenizer"))
        self.byte_level = "ByteLevel" in decoder
        self.strip_start = 0
        dec = tj.get("decoder") or {}
        for d in dec.get("decoders", []) if dec.get("type") == "Sequence" else [dec]:
            if d.get("type") == "Strip":
                self.strip_start = int(d.get("start", 0))
        self._byte_of = {c: b for b, c in bytes_to_unicode().items()}
        self.file = file

    def token_bytes(self, i: int) -> bytes:
        piece = self.pieces.get(i)
        if piece is None:
            return b""
        if i in self.added:
            return piece.encode("utf-8")
        if self.byte_level:
            return bytes(self._byte_of.get(c, ord("?")) for c in piece)
        m = _BYTE_FALLBACK.match(piece)
        if m:
            return bytes([int(m.group(1), 16)])
        return piece.replace("▁", " ").encode("utf-8")

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        raw = b"".join(self.token_bytes(i) for i in ids if not (skip_special and i in self.special))
        text = raw.decode("utf-8", errors="replace")
        if not self.byte_level and self.strip_start:
            text = text[self.strip_start:] if text.startswith(" " * self.strip_start) else text
        return text

    def piece(self, i: int) -> str:
        """One token's text (a partial UTF-8 sequence shows as U+FFFD)."""
        return self.token_bytes(i).decode("utf-8", errors="replace")


class StreamDecoder:
    """Incremental text for streamed tokens: emits only complete UTF-8 characters."""

    def __init__(self, tok: Detokenizer, skip_special: bool = True) -> None:
        self.tok, self.skip = tok, skip_special
        self.pending = b""

    def push(self, i: int) -> str:
        if self.skip and i in self.tok.special:
            return ""
        self.pending += self.tok.token_bytes(i)
        # hold back at most 3 bytes: the start of a character whose rest comes with the next token
        for cut in range(len(self.pending), max(0, len(self.pending) - 3) - 1, -1):
            try:
                text = self.pending[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self.pending = self.pending[cut:]
            return text
        return self.flush()  # invalid bytes: show them as U+FFFD rather than stall

    def flush(self) -> str:
        text, self.pending = self.pending.decode("utf-8", errors="replace"), b""
        return text


def load_detokenizer(folder: str) -> Optional[Detokenizer]:
    return Detokenizer(folder) if os.path.isfile(os.path.join(folder, "tokenizer.json")) else None


def tokenizer_size(folder: str, fallback: int) -> int:
    """Ids the tokenizer can produce (logits beyond are vocab padding); `fallback` without tokenizer.json."""
    tok = load_detokenizer(folder)
    return tok.size if tok is not None else fallback


def eos_ids(folder: str) -> List[int]:
    """eos ids from generation_config.json, else config.json."""
    for name in ("generation_config.json", "config.json"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "r", encoding="utf-8") as f:
                eos = json.load(f).get("eos_token_id")
            if eos is not None:
                return [int(e) for e in (eos if isinstance(eos, list) else [eos])]
    return []


def tokenizer_fingerprint(folder: str) -> Optional[str]:
    """A hash of id -> token text (added tokens included); None without tokenizer.json. Equal
    fingerprints mean teacher and student logits index the same tokens."""
    import hashlib
    tok = load_detokenizer(folder)
    if tok is None:
        return None
    h = hashlib.sha256()
    for i in sorted(tok.pieces):
        h.update(f"{i}\t{tok.pieces[i]}\n".encode("utf-8"))
    return h.hexdigest()
