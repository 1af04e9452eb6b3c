"""A small OpenAI-compatible chat-completions client on urllib (no third-party packages): one call
per sample, retries with exponential backoff on network errors, 429 and 5xx, a thread pool for
concurrency. Works with vLLM, SGLang and hosted APIs (DeepSeek, OpenAI)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

RETRY_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)


class EndpointError(RuntimeError):
    def __init__(self, message: str, status: Optional[int] = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status, self.retryable = status, retryable


@dataclass
class Completion:
    text: str
    finish: str  # 'stop' | 'length' | …
    tokens: Optional[int]  # completion tokens (usage), None when the server does not say
    # per generated token: top-k alternatives as ids (vLLM's return_tokens_as_token_ids) or strings
    topk: Optional[List[Dict[str, Any]]] = None
    topk_are_ids: bool = False
    raw: Dict[str, Any] = field(default_factory=dict)


class ChatClient:
    def __init__(self, base_url: str, model: str, api_key: Optional[str] = None, retries: int = 3,
                 timeout: float = 600.0, backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.retries = model, api_key, retries
        self.timeout, self.backoff, self.max_backoff = timeout, backoff, max_backoff

    def complete(self, messages: List[Dict[str, str]], temperature: float, top_p: float, max_tokens: int,
                 seed: Optional[int] = None, top_k: int = 0, logprobs: Optional[int] = None) -> Completion:
        body: Dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature, "top_p": top_p,
                                "max_tokens": max_tokens, "n": 1, "stream": False}
        if seed is not None:
            body["seed"] = seed
        if top_k > 0:
            body["top_k"] = top_k  # vLLM / SGLang extension
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = logprobs
            body["return_tokens_as_token_ids"] = True  # vLLM: "token_id:N" strings, so targets are ids
        return _parse(self.post(body))

    def post(self, body: Dict[str, Any]) -> Dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Optional[EndpointError] = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", errors="replace")[:500]
                last = EndpointError(f"{self.url}: HTTP {e.code}: {detail}", e.code, e.code in RETRY_STATUS)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = EndpointError(f"{self.url}: {getattr(e, 'reason', e)}", None, True)
            except json.JSONDecodeError as e:
                last = EndpointError(f"{self.url}: response is not JSON ({e.msg})", None, True)
            if not last.retryable:
                break
        assert last is not None
        raise EndpointError(f"{last} (after {attempt + 1} attempt{'s' if attempt else ''})", last.status, False)


def _parse(resp: Dict[str, Any]) -> Completion:
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices:
        raise EndpointError(f"response has no choices: {json.dumps(resp)[:300]}")
    c = choices[0]
    msg = c.get("message") or {}
    text = msg.get("content") or ""
    reasoning = msg.get("reasoning_content")  # DeepSeek / vLLM reasoning parsers split the trace off
    if reasoning:
        text = f"<think>\n{reasoning}\n</think>\n\n{text}"
    usage = resp.get("usage") or {}
    out = Completion(text, c.get("finish_reason") or "stop", usage.get("completion_tokens"), raw=resp)
    content = (c.get("logprobs") or {}).get("content")
    if isinstance(content, list):
        entries, as_ids = [], True
        for tok in content:
            tops = tok.get("top_logprobs") or [{"token": tok.get("token"), "logprob": tok.get("logprob")}]
            keys = [t.get("token") for t in tops]
            ids = [_token_id(k) for k in keys]
            as_ids = as_ids and all(i is not None for i in ids)
            entries.append({"tokens": keys, "ids": ids, "logprobs": [float(t.get("logprob", 0.0)) for t in tops]})
        out.topk_are_ids = as_ids
        out.topk = [{"ids": e["ids"], "logprobs": e["logprobs"]} if as_ids else {"tokens": e["tokens"], "logprobs": e["logprobs"]}
                    for e in entries]
        if out.tokens is None:
            out.tokens = len(content)
    return out


def _token_id(token: Any) -> Optional[int]:
    if isinstance(token, str) and token.startswith("token_id:") and token[9:].lstrip("-").isdigit():
        return int(token[9:])
    return None
