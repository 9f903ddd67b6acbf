"""`python -m docent ask|chat|serve`: the assistant's command line.

Unlike pipeline stages, an interactive tool defaults its paths to where the pipeline puts
things (models/finetuned, models/classifier, models/index, models/cache, params.yaml);
hyperparameters still come only from params.yaml (its `assistant`, `retrieval`, `model` and
`quant` sections). An answer is followed by a "Sources:" line naming the passages it drew on.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from docent.cli import UserError, setup_logging

if TYPE_CHECKING:
    from docent.assistant.engine import AnswerStream, Assistant
    from docent.modeling.prompt import Turn

CHAT_HELP = """commands:
  /adapter NAME   answer with another loaded adapter (or 'base' for none)
  /base           answer with the base model (adapters disabled)
  /models         list the loaded models
  /reset          forget the conversation so far
  /quit           leave (or Ctrl-D)"""


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command shares: where params, models and the classifier are."""
    options = [
        click.option("--params", "params_path", type=click.Path(dir_okay=False), default="params.yaml",
                     show_default=True, help="Params file (sections assistant, model, quant)."),
        click.option("--finetuned", type=click.Path(file_okay=False), default="models/finetuned", show_default=True,
                     help="Fine-tuned model folder (LoRA adapter or full weights) written by finetune."),
        click.option("--classifier", "classifier_dir", type=click.Path(), default="models/classifier",
                     show_default=True, help="Relevance classifier written by the classifier stage."),
        click.option("--model-cache", type=click.Path(file_okay=False), default="models/cache", show_default=True,
                     help="Cache of the converted embedded base model."),
        click.option("--adapter", "adapters", multiple=True, metavar="NAME=PATH",
                     help="Another PEFT adapter to load on the same base (repeatable)."),
        click.option("--no-adapter", is_flag=True,
                     help="Answer with the base model (adapters disabled), for comparison."),
        click.option("--index", "index_dir", type=click.Path(file_okay=False), default="models/index",
                     show_default=True, help="Passage index written by the index stage (used when retrieving)."),
        click.option("--retrieval/--no-retrieval", default=None,
                     help="Ground answers in retrieved passages, or answer closed-book. Default: as the "
                          "fine-tuned model was trained (its docent.json `context`)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(params_path: str, finetuned: str, classifier_dir: str, model_cache: str,
          adapters: tuple[str, ...], no_adapter: bool, index_dir: str, retrieval: bool | None) -> Assistant:
    from docent.assistant.engine import load_assistant

    return load_assistant(params_path, finetuned, classifier_dir, model_cache, adapters, no_adapter,
                          index_dir=index_dir, retrieval=retrieval)


def _with_user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Logging on; a missing file becomes a one-line error like in the stages."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        try:
            return func(*args, **kwargs)
        except FileNotFoundError as exc:
            raise UserError(f"{exc.filename}: file not found") from None

    return wrapper


def stream_to_terminal(
    assistant: Assistant, question: str, history: list[Turn], model: str | None
) -> tuple[AnswerStream, bool]:
    """Print the answer (or the refusal, or the abstention) as it is generated, then its sources;
    (stream, finished in time)."""
    from docent.assistant.engine import AnswerTimeout, source_line

    stream = assistant.answer(question, history, model=model)
    in_time = True
    try:
        for piece in stream:
            click.echo(piece, nl=False)  # flushed at once: the answer appears as it is generated
    except AnswerTimeout as exc:
        in_time = False
        click.echo()
        click.echo(f"error: {exc}", err=True)
    else:
        click.echo()
    sources = source_line(stream.sources)
    if sources:
        click.echo(sources)
    return stream, in_time


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """docent: a small LLM that knows one domain (ask, chat, serve)."""


@main.command()
@click.argument("question")
@model_options
@_with_user_errors
def ask(question: str, params_path: str, finetuned: str, classifier_dir: str, model_cache: str,
        adapters: tuple[str, ...], no_adapter: bool, index_dir: str, retrieval: bool | None) -> None:
    """Answer one QUESTION (streamed), then its sources; unrelated questions get the refusal."""
    assistant = _load(params_path, finetuned, classifier_dir, model_cache, adapters, no_adapter, index_dir, retrieval)
    _stream, in_time = stream_to_terminal(assistant, question, [], None)
    if not in_time:
        sys.exit(1)  # the error line is on stderr


@main.command()
@model_options
@_with_user_errors
def chat(params_path: str, finetuned: str, classifier_dir: str, model_cache: str,
         adapters: tuple[str, ...], no_adapter: bool, index_dir: str, retrieval: bool | None) -> None:
    """Talk with the assistant; earlier turns are kept within assistant.max_history_tokens."""
    assistant = _load(params_path, finetuned, classifier_dir, model_cache, adapters, no_adapter, index_dir, retrieval)
    current = assistant.default
    history: list[Turn] = []
    click.echo(f"docent: this assistant only knows about {assistant.params.domain}. "
               f"Models: {', '.join(assistant.model_names)}. "
               f"{'Answers cite their sources' if assistant.retrieves else 'Closed-book answers'}. "
               f"Type /help for commands.")
    while True:
        try:
            line = input(f"[{current}] you> ")
        except EOFError:
            click.echo()
            break
        except KeyboardInterrupt:
            click.echo()
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, arg = line.partition(" ")
            arg = arg.strip()
            if command in ("/quit", "/exit"):
                break
            if command == "/help":
                click.echo(CHAT_HELP)
            elif command == "/reset":
                history.clear()
                click.echo("(conversation cleared)")
            elif command == "/models":
                click.echo(", ".join(f"{n}{' (active)' if n == current else ''}" for n in assistant.model_names))
            elif command in ("/adapter", "/base"):
                name = assistant.no_adapter_name if command == "/base" else arg
                if not name:
                    click.echo(f"usage: /adapter NAME  (one of {', '.join(assistant.model_names)})")
                elif name not in assistant.model_names:
                    click.echo(f"unknown model {name!r}; choose one of {', '.join(assistant.model_names)}")
                else:
                    current = name
                    click.echo(f"(answering with {current})")
            else:
                click.echo(f"unknown command {command}\n{CHAT_HELP}")
            continue
        if len(line) > assistant.params.max_question_chars:
            click.echo(f"(question too long: {len(line)} characters; the limit is "
                       f"{assistant.params.max_question_chars})")
            continue
        click.echo("docent> ", nl=False)
        try:
            stream, _in_time = stream_to_terminal(assistant, line, history, current)
        except KeyboardInterrupt:
            click.echo("\n(interrupted)")
            continue
        # Refusals are not part of the conversation; an answer cut off by the timeout still is
        # (a follow-up question needs it as context).
        if not stream.refused and stream.text.strip():
            history.append((line, stream.text.strip()))


@main.command()
@model_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@_with_user_errors
def serve(params_path: str, finetuned: str, classifier_dir: str, model_cache: str,
          adapters: tuple[str, ...], no_adapter: bool, index_dir: str, retrieval: bool | None,
          host: str, port: int) -> None:
    """Serve the kiosk page and an OpenAI-compatible /v1/chat/completions endpoint."""
    import uvicorn

    from docent.assistant.server import create_app

    assistant = _load(params_path, finetuned, classifier_dir, model_cache, adapters, no_adapter, index_dir, retrieval)
    click.echo(f"docent: serving on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    uvicorn.run(create_app(assistant), host=host, port=port, log_level="info")
