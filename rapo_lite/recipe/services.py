"""The sections that say how a stage reaches a model other than the policy it trains.

Chat endpoints (teachers, judges, cue detectors), the judges and cue detectors themselves, and
the vLLM server that can sample the RL rollouts. Like the rest of the schema (schema.py), each
section checks its own values when it is built and names the field relative to itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapo_lite.fields import SettingError
from rapo_lite.fields import setting as _f  # short: nearly every line below calls it

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class EndpointConfig:
    url: str = _f("", "Base URL of an OpenAI-compatible API, e.g. http://localhost:8000/v1.")
    model: str = _f("", "Model name sent to the endpoint.")
    api_key_env: str | None = _f(
        None, "Name of the environment variable holding the API key (never the key itself); null for no key."
    )
    timeout_s: float = _f(60.0, "Seconds before one request is abandoned.")
    max_retries: int = _f(3, "Retries after a timeout, connection error or HTTP 5xx/429, with exponential backoff.")

    def __post_init__(self) -> None:
        # None of these messages repeats the value: it may be the very secret put in the wrong place.
        if self.api_key_env is not None and not _ENV_NAME.fullmatch(self.api_key_env):
            raise SettingError(
                "api_key_env", "expected the name of an environment variable (letters, digits and _), not the key "
                "itself; put the key in a variable and name it here (the value is not shown)"
            )
        if self.url and not re.match(r"https?://", self.url):
            raise SettingError("url", "expected an http:// or https:// URL such as http://localhost:8000/v1")
        if "@" in self.url.split("://", 1)[-1].split("/", 1)[0]:
            raise SettingError(
                "url", "holds a user name or password (user:pass@host); put the key in an environment variable "
                "named by api_key_env instead (the value is not shown)"
            )
        if self.timeout_s <= 0 or self.max_retries < 0:
            raise SettingError("", f"timeout_s must be > 0 and max_retries >= 0, "
                                   f"got {self.timeout_s} and {self.max_retries}")


@dataclass
class DetectorConfig:
    kind: Literal["rule", "model", "endpoint"] = _f(
        "rule",
        "rule: regular expressions, no model, microseconds per call. model: the policy's own base model with the "
        "LoRA adapter switched off (no second copy of the weights). endpoint: an OpenAI-compatible API.",
    )
    endpoint: EndpointConfig = _f(EndpointConfig(), "Endpoint settings, used when kind is 'endpoint'.")
    max_new_tokens: int = _f(48, "Token cap for one reply (model/endpoint); the rubrics ask for tags only.")
    batch_size: int = _f(8, "Replies generated together (model) or requests in flight at once (endpoint).")
    on_error: Literal["stop", "neutral"] = _f(
        "stop", "When the endpoint still fails after its retries: stop the run, or score the item neutral and count it."
    )


@dataclass
class JudgeConfig(DetectorConfig):
    mode: Literal["score", "generate"] | None = _f(
        None,
        "Model/endpoint judges: how a verdict is read. score: one forward pass reads the next-token probabilities "
        "of the possible answers (no sampling, nothing to parse, never unreadable; kind=model only). generate: "
        "the judge writes a short reply that is parsed (unreadable replies score neutral). null: score for "
        "kind=model, generate for kind=endpoint.",
    )
    format: Literal["rapo", "harmbench", "llamaguard", "strongreject"] = _f(
        "rapo",
        "Model/endpoint judges: the prompt for answers to harmful requests. rapo: the kit's rubric. harmbench: "
        "HarmBench's yes/no classifier prompt. llamaguard: Llama Guard 3/4's safe/unsafe prompt (an endpoint gets "
        "the plain conversation for the guard model's own template). strongreject: the StrongREJECT rubric. "
        "Benign answers and traces always use the kit's rubric.",
    )
    threshold: float = _f(
        0.5, "format=strongreject: an answer whose StrongREJECT score (0 to 1) is at least this is a successful attack."
    )
    min_safety_share: float = _f(
        0.25, "Rule judge: share of a trace's sentences that must talk about safety for it to count as safety-only."
    )
    min_overlap: float = _f(
        0.15, "Rule judge: share of a benign prompt's content words an answer must repeat to count as on topic."
    )

    def __post_init__(self) -> None:
        # kind=endpoint with mode=score is refused by Recipe, with the judge's key: make_judge refuses
        # a judge built by hand itself, and names it then.
        if not 0.0 <= self.threshold <= 1.0:
            raise SettingError("threshold", f"a StrongREJECT score lies in [0, 1], got {self.threshold}")


@dataclass
class VLLMServerConfig:
    host: str = _f("localhost", "Host name or IP address of the vLLM server (`trl vllm-serve`), without http://.")
    port: int = _f(8000, "TCP port the vLLM server listens on (1-65535).")
    timeout_s: float = _f(240.0, "Seconds to wait for the vLLM server to come up before the RL stage gives up.")

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise SettingError("port", f"must be a TCP port in 1..65535, got {self.port}")
        if self.timeout_s <= 0:
            raise SettingError("timeout_s", f"must be > 0 seconds, got {self.timeout_s}")
        # letters, digits, dots and dashes, or an IPv6 address; a single colon is a host:port, which port= says
        if not re.fullmatch(r"[A-Za-z0-9._:\-\[\]]+", self.host) or self.host.count(":") == 1:
            raise SettingError("host", f"expected a host name or IP address such as localhost or 10.0.0.5 "
                                       f"(no http:// and no port), got {self.host!r}")
