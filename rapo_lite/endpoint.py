"""A minimal client for OpenAI-compatible chat endpoints (vLLM, llama.cpp server, hosted APIs).

Standard library only. The API key is read from the environment variable the recipe names,
sent only in the Authorization header, and never put in a message or a log line.

Every request is bounded: each attempt has `timeout_s` to connect and `timeout_s` in all to
read the reply, and a timeout, a dropped connection, an HTTP 408/429/5xx or a reply that is
not the expected JSON is retried `max_retries` times with exponential backoff. What is left
after that is one RapoError naming the field, the URL (without its query string) and the
last failure; the caller decides whether that stops the run or scores the item neutral.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from rapo_lite.errors import RapoError
from rapo_lite.recipe import EndpointConfig

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_STATUS_HINTS = {401: "check the key", 403: "check the key", 404: "check url (it usually ends in /v1) and model"}
MAX_BACKOFF_S = 30.0
MAX_REPLY_BYTES = 8 * 1024 * 1024  # far more than any chat reply; bounds memory when a server misbehaves


class _BadReply(Exception):
    """A reply that arrived but is not an OpenAI chat completion."""


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str  # "length" means the reply was cut at max_tokens


def shown_url(url: str) -> str:
    """The URL as error messages show it: no query string or fragment, which may hold a key."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _read_key(env_name: str, field: str) -> str:
    key = (os.environ.get(env_name) or "").strip()
    if not key:
        raise RapoError(f"{field}.api_key_env: environment variable {env_name} is not set")
    if any(c.isspace() or not c.isprintable() for c in key) or not key.isascii():
        # http.client would echo the header value in its error; say what is wrong, not what it is
        raise RapoError(f"{field}.api_key_env: the value of {env_name} holds spaces or control characters; "
                        "it cannot be sent as a key (the value is not shown)")
    return key


def _parse_chat(payload: Any) -> ChatReply:
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"]
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _BadReply("a reply without choices[0].message.content") from None
    if text is not None and not isinstance(text, str):
        raise _BadReply("a reply whose message content is not text")
    return ChatReply(text=text or "", finish_reason=finish if isinstance(finish, str) and finish else "stop")


class ChatEndpoint:
    def __init__(self, cfg: EndpointConfig, field: str = "sft.endpoint", backoff_s: float = 0.5) -> None:
        if not cfg.url:
            raise RapoError(f"{field}.url: set the endpoint's base URL, e.g. http://localhost:8000/v1")
        if not cfg.url.startswith(("http://", "https://")):
            raise RapoError(f"{field}.url: expected an http:// or https:// URL such as http://localhost:8000/v1")
        if not cfg.model:
            raise RapoError(f"{field}.model: set the model name the endpoint serves")
        self.cfg = cfg
        self.field = field
        self.backoff_s = backoff_s
        self._key = _read_key(cfg.api_key_env, field) if cfg.api_key_env else None

    def chat(self, messages: list[dict[str, str]], max_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0) -> ChatReply:
        body = {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        return self._post("/chat/completions", body, _parse_chat)

    def _post(self, route: str, body: dict[str, Any], parse: Any) -> Any:
        url = self.cfg.url.rstrip("/") + route
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode()
        last, wait = "", 0.0
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(min(max(self.backoff_s * 2 ** (attempt - 1), wait), MAX_BACKOFF_S))
            wait = 0.0
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                raw = self._send(request)
            except urllib.error.HTTPError as err:
                if err.code not in _RETRYABLE_STATUS:
                    hint = _STATUS_HINTS.get(err.code, "check url, model and key")
                    raise RapoError(f"{self.field}: {shown_url(url)} answered HTTP {err.code}; {hint}") from None
                last, wait = f"HTTP {err.code}", _retry_after(err)
                continue
            except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, bad status lines
                last = _describe(err, self.cfg.timeout_s)
                continue
            except _BadReply as err:
                last = str(err)
                continue
            try:
                return parse(json.loads(raw))
            except (ValueError, RecursionError):
                last = "a reply that is not JSON"
            except _BadReply as err:
                last = str(err)
        raise RapoError(f"{self.field}: {shown_url(url)} failed after {self.cfg.max_retries + 1} attempts "
                        f"(last: {last})")

    def _send(self, request: urllib.request.Request) -> bytes:
        """The reply body, read within timeout_s in all (a server that trickles bytes cannot
        keep the socket's per-read timeout from ever firing) and at most MAX_REPLY_BYTES."""
        deadline = time.monotonic() + self.cfg.timeout_s
        chunks, size = [], 0
        with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
            while chunk := response.read1(65536):
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise _BadReply(f"a reply larger than {MAX_REPLY_BYTES // 2**20} MiB")
                if time.monotonic() > deadline:
                    raise TimeoutError("the reply took longer than timeout_s")
                chunks.append(chunk)
        return b"".join(chunks)


def _describe(err: BaseException, timeout_s: float) -> str:
    """A failed attempt in words; never the request, so never the key."""
    reason = getattr(err, "reason", err)
    if isinstance(err, TimeoutError) or isinstance(reason, TimeoutError):
        return f"no reply within timeout_s={timeout_s:g}"
    return reason if isinstance(reason, str) else reason.__class__.__name__


def _retry_after(err: urllib.error.HTTPError) -> float:
    """Seconds a 429/503 asks us to wait (Retry-After in seconds), else 0."""
    try:
        return max(0.0, float(err.headers.get("Retry-After", 0)))
    except (TypeError, ValueError, AttributeError):
        return 0.0
