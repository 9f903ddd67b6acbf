"""The kiosk web page and an OpenAI-compatible chat endpoint, on one loaded `Assistant`.

Routes:
- `GET /`: the page (one chat box, answers streamed, a header naming the domain).
- `POST /api/chat`: `{"question", "history": [{"question", "answer"}], "model"}` -> Server-Sent Events,
  each `data: {"type": "token"|"done"|"error", ...}`; "done" carries the answer's `status`
  (answered | abstained | refused) and its `sources`. The page keeps the conversation; the
  server keeps no per-user state, so many kiosks can share it.
- `POST /v1/chat/completions`: OpenAI's chat completions format, streaming (`stream: true`, SSE
  chunks ending with `data: [DONE]`) or not; `model` picks an adapter (`GET /v1/models` lists them).
  Two extra top-level fields, in the response and in the streamed chunk that carries
  `finish_reason`: `sources` (`[{"title", "url", "section", "passage_id"}]`, the passages the
  answer drew on; `[]` for a refusal, an abstention or a closed-book answer) and `answer_status`.
  OpenAI's clients keep unknown fields (`response.model_extra["sources"]` in the Python client).

Concurrency: the event loop never runs model code. Starting an answer (classifier, tokenising)
and reading each streamed piece run in worker threads; generation runs in the engine's own
thread under one lock, so one slow answer delays other answers (up to assistant.timeout_s,
then a clear 503/504 or an error event) but never the page or other requests.

Errors are JSON `{"error": {"message", "type", "code"}}` with a 4xx status for anything the
client sent wrong (malformed JSON 400, failed validation 422, unknown model 404, body too large 413).

This module does not use `from __future__ import annotations`: the request models are built per
app (their length limits come from params), and FastAPI must see real classes in the endpoints.
"""

import html
import itertools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from docent.assistant.engine import AnswerStream, AnswerTimeout, Assistant, source_record
from docent.cli import UserError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # a request body larger than this is refused (413) before parsing
MAX_TURNS = 100  # history turns (or messages / 2) a request may carry; the engine trims to the token budget
HISTORY_TEXT_FACTOR = 20  # an earlier answer may be this many times longer than a question
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_response(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                   param: str | None = None) -> JSONResponse:
    """OpenAI's error shape, used by every route so one client handles them all."""
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": kind, "code": code, "param": param}},
    )


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str | None]:
    """(status, message, param) for a failed request: 400 for a body that is not JSON, else 422."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "invalid JSON")
            return 400, f"request body is not valid JSON ({reason})", None
    parts = []
    first_param = None
    for err in errors[:3]:
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        param = ".".join(loc) or "body"
        first_param = first_param or param
        parts.append(f"{param}: {err.get('msg', 'invalid')}")
    return 422, "; ".join(parts), first_param


class BodySizeLimit:
    """Refuse a request whose Content-Length is over `max_bytes` (413) before anything reads it.

    A plain ASGI middleware (not BaseHTTPMiddleware), so streamed responses and client
    disconnects pass straight through. Bodies without Content-Length are bounded by the
    request models' length limits.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or ()).get(b"content-length")
            problem = None
            if length is not None and not length.isdigit():
                problem = error_response(400, "Content-Length: not a number")
            elif length is not None and int(length) > self.max_bytes:
                problem = error_response(413, f"request body over {self.max_bytes} bytes", code="body_too_large")
            if problem is not None:
                await problem(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(assistant: Assistant) -> FastAPI:
    """The FastAPI app serving `assistant`; request limits come from assistant.params."""
    params = assistant.params
    question_max = params.max_question_chars
    history_max = question_max * HISTORY_TEXT_FACTOR

    Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=question_max)]
    HistoryText = Annotated[str, StringConstraints(max_length=history_max)]
    ModelName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]

    class HistoryTurn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: HistoryText
        answer: HistoryText

    class ChatRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: Question
        history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_TURNS)
        model: ModelName | None = None

    class TextPart(BaseModel):
        model_config = ConfigDict(extra="ignore")
        type: Literal["text"]
        text: HistoryText

    class Message(BaseModel):
        model_config = ConfigDict(extra="ignore")
        role: Literal["system", "developer", "user", "assistant", "tool"]
        content: HistoryText | list[TextPart] | None = None

        def text(self) -> str:
            if isinstance(self.content, list):
                return "".join(part.text for part in self.content)
            return self.content or ""

    class CompletionRequest(BaseModel):
        model_config = ConfigDict(extra="ignore")  # temperature, top_p, user, ...: decoding is greedy
        model: ModelName | None = None
        messages: list[Message] = Field(min_length=1, max_length=2 * MAX_TURNS + 2)
        stream: bool = False
        max_tokens: int | None = Field(default=None, ge=1)
        max_completion_tokens: int | None = Field(default=None, ge=1)

    app = FastAPI(title="docent assistant", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    page = _render_page(params.domain, question_max)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, param = _validation_message(exc)
        return error_response(status, message, param=param)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        return {"domain": params.domain, "models": assistant.model_names, "default": assistant.default,
                "max_question_chars": question_max, "retrieval": assistant.retrieves}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def start(question: str, history: list[tuple[str, str]], model: str | None,
                    max_new_tokens: int | None = None) -> AnswerStream | JSONResponse:
        """Check the model name, judge the question and start generating (in a worker thread)."""
        if model and model not in assistant.model_names:
            return error_response(
                404, f"model {model!r}: unknown; choose one of {', '.join(assistant.model_names)}",
                code="model_not_found", param="model",
            )
        try:
            return await anyio.to_thread.run_sync(
                lambda: assistant.answer(question, history, model=model or None, max_new_tokens=max_new_tokens)
            )
        except UserError as exc:
            return error_response(400, exc.format_message())

    @app.post("/api/chat")
    async def api_chat(body: ChatRequest) -> Any:
        history = [(t.question, t.answer) for t in body.history]
        stream = await start(body.question, history, body.model)
        if isinstance(stream, JSONResponse):
            return stream

        async def events() -> AsyncIterator[str]:
            async for kind, piece in _pieces(stream):
                if kind == "token":
                    yield _sse({"type": "token", "text": piece})
                elif kind == "error":
                    yield _sse({"type": "error", "message": piece})
                    return
            yield _sse({"type": "done", "refused": stream.refused, "status": stream.status,
                        "sources": _sources(stream), "model": stream.model_name,
                        "follow_up": stream.verdict.follow_up, "finish_reason": stream.finish_reason})

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list",
                "data": [{"id": n, "object": "model", "created": 0, "owned_by": "docent"}
                         for n in assistant.model_names]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: CompletionRequest) -> Any:
        parsed = _conversation([(m.role, m.text()) for m in body.messages], question_max)
        if isinstance(parsed, str):
            return error_response(400, parsed, param="messages")
        question, history = parsed
        wanted = [n for n in (body.max_completion_tokens, body.max_tokens) if n is not None]
        stream = await start(question, history, body.model, min(wanted) if wanted else None)
        if isinstance(stream, JSONResponse):
            return stream
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not body.stream:
            try:
                text = await anyio.to_thread.run_sync(stream.read, abandon_on_cancel=True)
            except AnswerTimeout as exc:
                return error_response(503 if stream.busy else 504, str(exc), kind="timeout",
                                      code="busy" if stream.busy else "timeout")
            finally:
                stream.cancel()
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": stream.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": stream.finish_reason}],
                "usage": _usage(stream),
                "sources": _sources(stream), "answer_status": stream.status,
            }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                       "model": stream.model_name,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if finish_reason is not None:  # the last chunk: the answer is complete, so are its sources
                payload.update(sources=_sources(stream), answer_status=stream.status)
            return _sse(payload)

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            async for kind, piece in _pieces(stream):
                if kind == "token":
                    yield chunk({"content": piece})
                else:
                    code = "busy" if stream.busy else "timeout"
                    yield _sse({"error": {"message": piece, "type": "timeout", "code": code, "param": None}})
                    break
            else:
                yield chunk({}, stream.finish_reason)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    return app


async def _pieces(stream: AnswerStream) -> AsyncIterator[tuple[str, str]]:
    """("token", text) for each streamed piece, then ("error", message) if it timed out.

    Each `next()` blocks on the generation queue, so it runs in a worker thread; when the
    client goes away the request task is cancelled and `finally` stops the generation.
    """
    iterator = iter(stream)
    try:
        while True:
            try:
                piece = await anyio.to_thread.run_sync(next, iterator, None, abandon_on_cancel=True)
            except AnswerTimeout as exc:
                yield "error", str(exc)
                return
            except Exception:
                log.exception("answer failed")
                yield "error", "the assistant failed while answering; see the server log"
                return
            if piece is None:
                return
            yield "token", piece
    finally:
        stream.cancel()


def _conversation(messages: list[tuple[str, str]], question_max: int) -> tuple[str, list[tuple[str, str]]] | str:
    """OpenAI messages -> (question, earlier (question, answer) turns), or an error message.

    System/developer/tool messages are ignored: the assistant's prompt format is fixed (the
    model was fine-tuned on it). A user message followed by an assistant message is a turn.
    """
    dialogue = [(role, text) for role, text in messages if role in ("user", "assistant")]
    if not dialogue or dialogue[-1][0] != "user":
        return "the last user/assistant message must be from the user"
    question = dialogue[-1][1].strip()
    if not question:
        return "the last user message is empty"
    if len(question) > question_max:
        return f"the last user message is {len(question)} characters; the limit is {question_max}"
    turns = []
    for (role, text), (next_role, next_text) in itertools.pairwise(dialogue[:-1]):
        if role == "user" and next_role == "assistant":
            turns.append((text, next_text))
    return question, turns


def _sources(stream: AnswerStream) -> list[dict[str, str]]:
    return [source_record(p) for p in stream.sources]


def _usage(stream: AnswerStream) -> dict[str, int]:
    return {"prompt_tokens": stream.prompt_tokens, "completion_tokens": stream.completion_tokens,
            "total_tokens": stream.prompt_tokens + stream.completion_tokens}


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _render_page(domain: str, question_max: int) -> str:
    """The page with the domain (HTML-escaped) and the question limit filled in."""
    template = resources.files("docent.assistant").joinpath("static/index.html").read_text(encoding="utf-8")
    return template.replace("__DOMAIN__", html.escape(domain)).replace("__MAX_CHARS__", str(question_max))
