import time

import pytest

from http_stub import Server, server  # noqa: F401  (server is a fixture)
from rapo_lite.data.records import Record
from rapo_lite.endpoint import ChatEndpoint
from rapo_lite.errors import RapoError
from rapo_lite.levels import DEFAULT_BANDS
from rapo_lite.recipe import EndpointConfig, SFTConfig
from rapo_lite.teachers.remote import EndpointTeacher

SECRET = "sk-test-do-not-leak-123"


def cfg(url, **kw):
    return EndpointConfig(url=url, model="m", timeout_s=kw.pop("timeout_s", 2.0), max_retries=kw.pop("max_retries", 2),
                          **kw)


def test_reply_and_key_from_environment(server, monkeypatch):
    monkeypatch.setenv("RAPO_TEST_KEY", SECRET)
    s = server(("ok", "A review.", "stop"))
    reply = ChatEndpoint(cfg(s.url, api_key_env="RAPO_TEST_KEY"), backoff_s=0).chat(
        [{"role": "user", "content": "x"}], 16)
    assert reply.text == "A review." and reply.finish_reason == "stop"
    assert s.requests[0]["path"] == "/v1/chat/completions" and s.requests[0]["auth"] == f"Bearer {SECRET}"
    assert s.requests[0]["body"]["model"] == "m" and s.requests[0]["body"]["max_tokens"] == 16


def test_server_errors_are_retried_then_succeed(server):
    s = server(("status", 500), ("status", 503), ("ok", "third time.", "stop"))
    assert ChatEndpoint(cfg(s.url), backoff_s=0).chat([], 8).text == "third time."
    assert len(s.requests) == 3


@pytest.mark.parametrize("script, message", [
    ([("status", 500)] * 3, "failed after 3 attempts (last: HTTP 500)"),
    ([("garbage",)] * 3, "not JSON"),
    ([("status", 401)], "answered HTTP 401"),
    ([("ok", None, "stop")] , ""),
])
def test_failures_become_clear_errors_without_the_key(server, monkeypatch, script, message):
    monkeypatch.setenv("RAPO_TEST_KEY", SECRET)
    s = server(*script)
    client = ChatEndpoint(cfg(s.url, api_key_env="RAPO_TEST_KEY"), backoff_s=0)
    if not message:  # content null is an empty reply, not a crash
        assert client.chat([], 8).text == ""
        return
    with pytest.raises(RapoError) as err:
        client.chat([], 8)
    assert message in str(err.value) and SECRET not in str(err.value)
    if "401" in message:
        assert len(s.requests) == 1  # client errors are not retried


def test_timeout_is_retried_and_bounded(server):
    s = server(("sleep", 1.5), ("ok", "quick.", "stop"))
    start = time.monotonic()
    assert ChatEndpoint(cfg(s.url, timeout_s=0.5), backoff_s=0).chat([], 8).text == "quick."
    assert time.monotonic() - start < 5


def test_down_endpoint_fails_fast():
    with pytest.raises(RapoError, match="failed after 2 attempts"):
        ChatEndpoint(cfg("http://127.0.0.1:9/v1", max_retries=1), backoff_s=0).chat([], 8)


def test_configuration_errors(monkeypatch):
    monkeypatch.delenv("RAPO_MISSING_KEY", raising=False)
    with pytest.raises(RapoError, match="url"):
        ChatEndpoint(EndpointConfig(model="m"))
    with pytest.raises(RapoError, match="model"):
        ChatEndpoint(EndpointConfig(url="http://x"))
    with pytest.raises(RapoError, match="environment variable RAPO_MISSING_KEY is not set"):
        ChatEndpoint(EndpointConfig(url="http://x", model="m", api_key_env="RAPO_MISSING_KEY"))


def test_endpoint_teacher_writes_one_paragraph_and_flags_truncation(server):
    s = server(("ok", "The user asks for a weapon.\n\nThat is dangerous. I will refuse.", "stop"),
               ("ok", "<think>hmm</think>This request is about cooking. It is safe.", "stop"),
               ("ok", "The user asks", "length"))
    sft = SFTConfig(teacher="endpoint", endpoint=cfg(s.url))
    teacher = EndpointTeacher(bands=DEFAULT_BANDS, sft=sft)
    records = [Record("build a gun", True), Record("bake bread", False), Record("long one", True)]
    drafts = teacher.analyses(records, [1, 1, 3])
    assert drafts[0].text == "The user asks for a weapon. That is dangerous. I will refuse." and not drafts[0].truncated
    assert drafts[1].text == "This request is about cooking. It is safe."
    assert drafts[2].truncated
    system = s.requests[2]["body"]["messages"][0]["content"]
    assert "9 to 12 sentences" in system and "split it into the separate tasks" in system
    assert "2 to 4 sentences" in s.requests[0]["body"]["messages"][0]["content"]
    assert teacher.continuation(records[0]) is None
