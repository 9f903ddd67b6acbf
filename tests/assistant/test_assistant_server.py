"""The web server's HTTP API on the tiny model: page, streamed chat, OpenAI endpoint, bad input, timeouts."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from assistant_fixtures import ABSTAIN, REFUSAL, free_port, load_tiny_assistant, tiny_files, train_classifier
from fastapi.testclient import TestClient

from docent.assistant.engine import Assistant
from docent.assistant.server import _render_page, create_app

HCM = "Who was Hồ Chí Minh?"
BREAD = "How do I bake bread?"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    return load_tiny_assistant(tiny_files(tmp_path_factory), train_classifier())


@pytest.fixture(scope="module")
def client(assistant):
    with TestClient(create_app(assistant)) as test_client:
        yield test_client


def sse_payloads(text: str) -> list:
    """The `data:` payloads of an SSE body, JSON-decoded except the final [DONE]."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert all(b.startswith("data: ") for b in blocks), blocks
    return [b[6:] if b[6:] == "[DONE]" else json.loads(b[6:]) for b in blocks]


def test_page_has_domain_header_and_never_uses_innerhtml(client):
    res = client.get("/")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert "This assistant only knows about Vietnamese history" in res.text
    assert "textContent" in res.text and "innerHTML" not in res.text
    assert 'maxlength="1000"' in res.text


def test_domain_is_escaped_in_the_page():
    page = _render_page("<script>alert(1)</script> & co", 10)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


def test_chat_streams_tokens_then_done(client, assistant):
    res = client.post("/api/chat", json={"question": HCM, "history": []})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
    events = sse_payloads(res.text)
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert len(tokens) > 1 and events[-1]["type"] == "done" and events[-1]["refused"] is False
    assert "".join(tokens) == assistant.answer(HCM).read()


def test_chat_refuses_unrelated_and_follows_up_in_context(client):
    events = sse_payloads(client.post("/api/chat", json={"question": BREAD}).text)
    assert events == [{"type": "token", "text": REFUSAL},
                      {"type": "done", "refused": True, "status": "refused", "sources": [], "model": "finetuned",
                       "follow_up": False, "finish_reason": "stop"}]
    follow_up = {"question": "When did he die?", "history": [{"question": HCM, "answer": "a revolutionary"}]}
    done = sse_payloads(client.post("/api/chat", json=follow_up).text)[-1]
    assert done["refused"] is False and done["follow_up"] is True
    alone = sse_payloads(client.post("/api/chat", json={"question": "When did he die?"}).text)[-1]
    assert alone["refused"] is True


def test_openai_non_streaming(client, assistant):
    body = {"model": "other", "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": HCM}], "temperature": 0.7}
    res = client.post("/v1/chat/completions", json=body)
    assert res.status_code == 200
    data = res.json()
    assert data["object"] == "chat.completion" and data["model"] == "other"
    [choice] = data["choices"]
    assert choice["message"] == {"role": "assistant", "content": assistant.answer(HCM, model="other").read()}
    assert choice["finish_reason"] in ("stop", "length")
    # usage is the generation's own count: every generated token (the end-of-turn token included when it
    # stopped on one), which for this word-level tokenizer is the answer's words and punctuation
    expected = assistant.answer(HCM, model="other")
    content = expected.read()
    usage = data["usage"]
    assert usage == {"prompt_tokens": expected.prompt_tokens, "completion_tokens": expected.completion_tokens,
                     "total_tokens": expected.prompt_tokens + expected.completion_tokens}
    counted = len(assistant.tokenizer(content, add_special_tokens=False)["input_ids"])
    assert usage["completion_tokens"] == counted + (choice["finish_reason"] == "stop")
    assert usage["prompt_tokens"] > len(assistant.tokenizer(HCM, add_special_tokens=False)["input_ids"])
    short = client.post("/v1/chat/completions", json={**body, "max_tokens": 3}).json()
    assert short["usage"]["completion_tokens"] == 3 and short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["prompt_tokens"] == usage["prompt_tokens"]
    refused = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": BREAD}]}).json()
    assert refused["choices"][0]["message"]["content"] == REFUSAL


def test_openai_streaming_chunks_end_with_done(client, assistant):
    messages = [{"role": "user", "content": HCM}, {"role": "assistant", "content": "a revolutionary"},
                {"role": "user", "content": [{"type": "text", "text": "When did he die?"}]}]
    res = client.post("/v1/chat/completions", json={"model": "base", "messages": messages, "stream": True,
                                                    "max_tokens": 5})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(res.text)
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" and chunks[-1]["choices"][0]["delta"] == {}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    expected = assistant.answer("When did he die?", [(HCM, "a revolutionary")], model="base", max_new_tokens=5)
    assert text == expected.read() and expected.completion_tokens == 5


def test_models_are_listed(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["finetuned", "other", "base"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/chat", {"question": "   "}, 422, "question: String should have at least 1 character"),
        ("/api/chat", {"question": "x" * 1001}, 422, "question: String should have at most 1000 characters"),
        ("/api/chat", {}, 422, "question: Field required"),
        ("/api/chat", {"question": HCM, "history": "none"}, 422, "history"),
        ("/api/chat", {"question": HCM, "model": "gpt-4"}, 404, "unknown; choose one of finetuned, other, base"),
        ("/v1/chat/completions", {"messages": []}, 422, "messages: List should have at least 1 item"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": ""}]}, 400, "last user message is empty"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": HCM}, {"role": "assistant",
                                   "content": "x"}]}, 400, "must be from the user"),
        ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": HCM}]}, 422, "messages.0.role"),
        ("/v1/chat/completions", {"model": "gpt-4", "messages": [{"role": "user", "content": HCM}]}, 404,
         "model 'gpt-4'"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * 1001}]}, 400,
         "1001 characters; the limit is 1000"),
    ],
)
def test_bad_requests_get_a_clear_4xx(client, path, body, status, message):
    res = client.post(path, json=body)
    assert res.status_code == status, res.text
    assert message in res.json()["error"]["message"]


def test_malformed_and_oversized_bodies(client):
    for path in ("/api/chat", "/v1/chat/completions"):
        res = client.post(path, content=b'{"question": "Who', headers={"Content-Type": "application/json"})
        assert res.status_code == 400 and "not valid JSON" in res.json()["error"]["message"]
    res = client.post("/api/chat", content=b"x" * 1_000_001, headers={"Content-Type": "application/json"})
    assert res.status_code == 413


def test_timeouts_are_clear_errors_and_do_not_block_the_page(assistant):
    quick = Assistant(assistant.models, assistant.classifier, dataclasses.replace(assistant.params, timeout_s=2.0))
    with TestClient(create_app(quick)) as client:
        quick.lock.acquire()  # a long answer for another user holds the model
        try:
            waiting: dict = {}
            other_user = threading.Thread(
                target=lambda: waiting.update(res=client.post("/api/chat", json={"question": HCM})))
            other_user.start()
            # while that request waits for the model, the page and cheap routes still answer
            assert client.get("/").status_code == 200 and client.get("/healthz").json() == {"status": "ok"}
            refused = sse_payloads(client.post("/api/chat", json={"question": BREAD}).text)
            assert refused[0]["text"] == REFUSAL  # refusals never wait for the model
            assert other_user.is_alive()
            other_user.join(timeout=30)
            events = sse_payloads(waiting["res"].text)
            assert events[-1]["type"] == "error" and "busy" in events[-1]["message"]
            res = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": HCM}]})
            assert res.status_code == 503 and res.json()["error"]["code"] == "busy"
            streamed = client.post("/v1/chat/completions",
                                   json={"stream": True, "messages": [{"role": "user", "content": HCM}]})
            payloads = sse_payloads(streamed.text)
            assert payloads[-1] == "[DONE]" and payloads[-2]["error"]["type"] == "timeout"
        finally:
            quick.lock.release()

        import time

        crawl = quick.model.get_base_model().register_forward_pre_hook(lambda module, args: time.sleep(0.4))
        try:  # each generation step now takes 0.4 s: 12 tokens cannot finish in 2 s
            res = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": HCM}]})
        finally:
            crawl.remove()
        assert res.status_code == 504 and "longer than 2 s and was cut off" in res.json()["error"]["message"]


# ---------------------------------------------------------------- retrieval and sources

HCM_SOURCE = {"title": "Hồ Chí Minh", "url": "https://en.wikipedia.org/wiki/Ho_Chi_Minh", "section": "Life",
              "passage_id": "hcm@0"}
ABSENT = "Who were the Trưng sisters?"  # no word of it is in the tiny index: the abstention


@pytest.fixture(scope="module")
def grounded(tmp_path_factory):
    return load_tiny_assistant(tiny_files(tmp_path_factory), train_classifier(), retrieve=True)


@pytest.fixture(scope="module")
def live_url(grounded):
    """The app on a real uvicorn server on 127.0.0.1 (a free port), in a thread of this process."""
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(grounded), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


def test_chat_done_event_carries_status_and_sources(grounded):
    with TestClient(create_app(grounded)) as client:
        assert client.get("/api/info").json()["retrieval"] is True
        events = sse_payloads(client.post("/api/chat", json={"question": HCM}).text)
        done = events[-1]
        assert done["type"] == "done" and done["status"] == "answered" and done["sources"] == [HCM_SOURCE]
        text = "".join(e["text"] for e in events if e["type"] == "token")
        assert text.strip() and text == grounded.answer(HCM).read()
        follow_up = {"question": "When did he die?", "history": [{"question": HCM, "answer": text}]}
        assert sse_payloads(client.post("/api/chat", json=follow_up).text)[-1]["sources"][0]["passage_id"] == "hcm@0"
        absent = sse_payloads(client.post("/api/chat", json={"question": ABSENT}).text)
        assert absent == [{"type": "token", "text": ABSTAIN},
                          {"type": "done", "refused": False, "status": "abstained", "sources": [],
                           "model": "finetuned", "follow_up": False, "finish_reason": "stop"}]


def test_openai_client_reads_answers_and_sources(live_url, grounded):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_url}/v1", api_key="unused", max_retries=0, timeout=60)
    expected = grounded.answer(HCM).read()

    response = client.chat.completions.create(model="finetuned", messages=[{"role": "user", "content": HCM}])
    assert response.object == "chat.completion" and response.model == "finetuned"
    assert response.choices[0].message.content == expected and response.choices[0].finish_reason in ("stop", "length")
    assert response.usage is not None and response.usage.completion_tokens > 0
    assert response.model_extra["sources"] == [HCM_SOURCE]
    assert response.model_extra["answer_status"] == "answered"

    raw = client.chat.completions.with_raw_response.create(model="finetuned",
                                                           messages=[{"role": "user", "content": ABSENT}])
    body = json.loads(raw.http_response.text)
    assert raw.parse().choices[0].message.content == ABSTAIN
    assert body["sources"] == [] and body["answer_status"] == "abstained"

    chunks = list(client.chat.completions.create(model="finetuned", stream=True,
                                                 messages=[{"role": "user", "content": HCM}]))
    assert len(chunks) > 3 and {c.object for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    assert last.model_extra["sources"] == [HCM_SOURCE] and last.model_extra["answer_status"] == "answered"
    assert all("sources" not in (c.model_extra or {}) for c in chunks[:-1])  # only once the answer is complete

    refused = list(client.chat.completions.create(model="finetuned", stream=True,
                                                  messages=[{"role": "user", "content": BREAD}]))
    assert "".join(c.choices[0].delta.content or "" for c in refused) == REFUSAL
    assert refused[-1].model_extra["sources"] == [] and refused[-1].model_extra["answer_status"] == "refused"
