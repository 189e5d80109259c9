"""A minimal client for OpenAI-compatible chat endpoints (vLLM, llama.cpp server, hosted APIs).

Standard library only. The API key is read from the environment variable the recipe names,
sent only in the Authorization header, and never put in a message or a log line.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from rapo_lite.errors import RapoError
from rapo_lite.recipe import EndpointConfig

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str  # "length" means the reply was cut at max_tokens


class ChatEndpoint:
    def __init__(self, cfg: EndpointConfig, field: str = "sft.endpoint", backoff_s: float = 0.5) -> None:
        if not cfg.url:
            raise RapoError(f"{field}.url: set the endpoint's base URL, e.g. http://localhost:8000/v1")
        if not cfg.model:
            raise RapoError(f"{field}.model: set the model name the endpoint serves")
        self.cfg = cfg
        self.field = field
        self.backoff_s = backoff_s
        self._key = None
        if cfg.api_key_env:
            self._key = os.environ.get(cfg.api_key_env)
            if not self._key:
                raise RapoError(f"{field}.api_key_env: environment variable {cfg.api_key_env} is not set")

    def chat(self, messages: list[dict[str, str]], max_tokens: int, temperature: float = 0.0, top_p: float = 1.0) -> ChatReply:
        body = {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        payload = self._post("/chat/completions", body)
        try:
            choice = payload["choices"][0]
            return ChatReply(text=choice["message"]["content"] or "", finish_reason=choice.get("finish_reason") or "stop")
        except (KeyError, IndexError, TypeError):
            raise RapoError(f"{self.field}: {self.cfg.url} answered without choices[0].message.content") from None

    def _post(self, route: str, body: dict[str, Any]) -> Any:
        url = self.cfg.url.rstrip("/") + route
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode()
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as err:
                if err.code not in _RETRYABLE_STATUS:
                    raise RapoError(f"{self.field}: {url} answered HTTP {err.code}; check url, model and key") from None
                last = f"HTTP {err.code}"
                continue
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = getattr(err, "reason", None) or err.__class__.__name__
                continue
            try:
                return json.loads(raw)
            except ValueError:
                last = "a reply that is not JSON"
                continue
        raise RapoError(f"{self.field}: {url} failed after {self.cfg.max_retries + 1} attempts (last: {last})")
