"""The trained prompt format as an Ollama TEMPLATE, and the Modelfile and README of an export.

The TEMPLATE is derived from the tokenizer's own chat template by rendering it with marker
contents: each role's text before and after its content, the generation prompt, and the empty
system turn training put first (docent.modeling.prompt) when the template would otherwise
inject its default system prompt. It uses only these Go-template constructs, which
`render_template` below implements (and the stage checks the result against the chat
template before writing):

    {{ range $i, $m := .Messages }} ... {{ end }}
    {{ if COND }} ... {{ else if COND }} ... {{ else }} ... {{ end }}
    {{ $m.Content }}   COND: eq / ne of $i, $m.Role and literals, and `and (COND) (COND)`

Templates that are not one fixed text per role around each message (a template that moves the
system prompt into the first user turn, say) are refused with one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from docent.cli import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_MARK = "\x00{}\x00"


@dataclass(frozen=True)
class TurnFormat:
    """The fixed texts of the trained prompt format, per role."""

    preamble: str            # once, before the first message (a BOS some templates write)
    empty_system: str        # written first when the conversation has no system message ("" if none)
    system: tuple[str, str]  # (before, after) the content
    user: tuple[str, str]
    assistant: tuple[str, str]
    generation: str          # after the last message: where the answer starts


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], gen: bool = False) -> str:
    return cast(str, tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen))


def _around(text: str, mark: str, what: str) -> tuple[str, str]:
    if text.count(mark) != 1:
        raise UserError(f"export: the chat template does not write the {what} content once; "
                        f"it cannot become an Ollama TEMPLATE")
    before, after = text.split(mark)
    return before, after


def _after(full: str, head: str, what: str) -> str:
    if not full.startswith(head):
        raise UserError(f"export: the chat template rewrites earlier turns when a {what} turn follows; "
                        f"it cannot become an Ollama TEMPLATE")
    return full[len(head):]


def turn_format(tokenizer: PreTrainedTokenizerBase) -> TurnFormat:
    """The trained format's texts, read off the tokenizer's chat template (or the plain format)."""
    from docent.modeling.prompt import PLAIN_QUESTION, has_chat_template, injects_default_system_prompt

    if not has_chat_template(tokenizer):
        before, after = PLAIN_QUESTION.split("{question}")
        return TurnFormat("", "", ("", ""), (before, after), ("", "\n\n"), "")
    s, u, a = _MARK.format("SYSTEM"), _MARK.format("USER"), _MARK.format("ASSISTANT")
    sys_msg = {"role": "system", "content": s}
    user_msg = {"role": "user", "content": u}
    asst_msg = {"role": "assistant", "content": a}
    empty_system = injects_default_system_prompt(tokenizer)
    try:
        with_system = _render(tokenizer, [sys_msg])
        system = _around(with_system, s, "system")
        turn_user = _after(_render(tokenizer, [sys_msg, user_msg]), with_system, "user")
        user = _around(turn_user, u, "user")
        head = with_system + turn_user
        assistant = _around(_after(_render(tokenizer, [sys_msg, user_msg, asst_msg]), head, "assistant"),
                            a, "assistant")
        generation = _after(_render(tokenizer, [sys_msg, user_msg], gen=True), head, "generation")
    except UserError:
        raise
    except Exception as exc:  # a template that rejects a system role raises from jinja
        if empty_system:
            raise UserError(f"export: cannot render the chat template ({str(exc)[:120]})") from None
        system = ("", "")
        turn_user = _render(tokenizer, [user_msg])
        user = _around(turn_user, u, "user")
        assistant = _around(_after(_render(tokenizer, [user_msg, asst_msg]), turn_user, "assistant"),
                            a, "assistant")
        generation = _after(_render(tokenizer, [user_msg], gen=True), turn_user, "generation")
        return TurnFormat("", "", system, user, assistant, generation)
    preamble = ""
    if not empty_system:
        first = _around(_render(tokenizer, [user_msg]), u, "user")[0]
        if not first.endswith(user[0]):
            raise UserError("export: the chat template's first user turn differs from the others; "
                            "it cannot become an Ollama TEMPLATE")
        preamble = first[: len(first) - len(user[0])]
    empty = system[0] + system[1] if empty_system else ""
    return TurnFormat(preamble, empty, system, user, assistant, generation)


def _literal(text: str) -> str:
    if "{{" in text or '"""' in text:
        raise UserError("export: the chat template's text contains '{{' or '\"\"\"'; it cannot become an "
                        "Ollama TEMPLATE")
    return text


def ollama_template(fmt: TurnFormat) -> str:
    """The Go template Ollama renders for a conversation (`.Messages`)."""
    first = ""
    if fmt.preamble:
        first += "{{ if eq $i 0 }}" + _literal(fmt.preamble) + "{{ end }}"
    if fmt.empty_system:
        first += '{{ if and (eq $i 0) (ne $m.Role "system") }}' + _literal(fmt.empty_system) + "{{ end }}"
    body = ('{{ if eq $m.Role "system" }}' + _literal(fmt.system[0]) + "{{ $m.Content }}" + _literal(fmt.system[1])
            + '{{ else if eq $m.Role "user" }}' + _literal(fmt.user[0]) + "{{ $m.Content }}" + _literal(fmt.user[1])
            + "{{ else }}" + _literal(fmt.assistant[0]) + "{{ $m.Content }}" + _literal(fmt.assistant[1])
            + "{{ end }}")
    return "{{ range $i, $m := .Messages }}" + first + body + "{{ end }}" + _literal(fmt.generation)


# ---------------------------------------------------------------- a renderer for those constructs

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ARG = re.compile(r'\(([^()]*)\)|"((?:[^"\\]|\\.)*)"|(\S+)')


def render_template(template: str, messages: Sequence[Mapping[str, str]]) -> str:
    """Render an Ollama TEMPLATE built by `ollama_template` (only the constructs listed above)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        if "{{-" in m.group(0) or "-}}" in m.group(0):
            raise ValueError("whitespace trimming is not supported by this renderer")
        tokens.append(("text", template[pos:m.start()]))
        tokens.append(("action", m.group(1)))
        pos = m.end()
    tokens.append(("text", template[pos:]))
    nodes, rest = _parse(tokens, 0)
    if rest != len(tokens):
        raise ValueError("unbalanced {{ end }}")
    return _exec(nodes, {".Messages": list(messages)})


def _parse(tokens: list[tuple[str, str]], i: int) -> tuple[list[Any], int]:
    nodes: list[Any] = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "text":
            nodes.append(("text", value))
            i += 1
            continue
        if value == "end" or value == "else" or value.startswith("else if "):
            return nodes, i
        if value.startswith("range "):
            m = re.fullmatch(r"range \$(\w+), \$(\w+) := \.Messages", value)
            if not m:
                raise ValueError(f"unsupported range: {value}")
            body, i = _parse(tokens, i + 1)
            if tokens[i][1] != "end":
                raise ValueError("range without end")
            nodes.append(("range", m.group(1), m.group(2), body))
            i += 1
        elif value.startswith("if "):
            branches: list[tuple[str | None, list[Any]]] = []
            cond: str | None = value[3:]
            i += 1
            while True:
                body, i = _parse(tokens, i)
                branches.append((cond, body))
                closer = tokens[i][1]
                i += 1
                if closer == "end":
                    break
                cond = closer[8:] if closer.startswith("else if ") else None
            nodes.append(("if", branches))
        else:
            nodes.append(("value", value))
            i += 1
    return nodes, i


def _value(expr: str, scope: dict[str, Any]) -> Any:
    if expr.startswith('"'):
        return expr[1:-1]
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if expr.startswith("$"):
        name, _, attr = expr[1:].partition(".")
        value = scope["$" + name]
        return value[attr.lower()] if attr else value
    raise ValueError(f"unsupported value: {expr}")


def _cond(expr: str, scope: dict[str, Any]) -> bool:
    parts = [m.group(0) if m.group(3) is None else m.group(3) for m in _ARG.finditer(expr)]
    op, args = parts[0], parts[1:]
    if op == "and":
        return all(_cond(a[1:-1], scope) for a in args)
    if op in ("eq", "ne") and len(args) == 2:
        equal = _value(args[0], scope) == _value(args[1], scope)
        return equal if op == "eq" else not equal
    raise ValueError(f"unsupported condition: {expr}")


def _exec(nodes: list[Any], scope: dict[str, Any]) -> str:
    out: list[str] = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "value":
            out.append(str(_value(node[1], scope)))
        elif node[0] == "range":
            _, index, item, body = node
            for n, message in enumerate(scope[".Messages"]):
                out.append(_exec(body, {**scope, "$" + index: n, "$" + item: message}))
        else:
            for cond, body in node[1]:
                if cond is None or _cond(cond, scope):
                    out.append(_exec(body, scope))
                    break
    return "".join(out)


# ---------------------------------------------------------------- the files

def stop_strings(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    from docent.modeling.prompt import stop_token_ids

    return [str(t) for t in tokenizer.convert_ids_to_tokens(stop_token_ids(tokenizer))]


def sources_format(abstain: str) -> str:
    """The question turn with passages, as training and the assistant write it."""
    from docent.modeling.prompt import question_with_sources

    @dataclass(frozen=True)
    class _P:
        title: str
        text: str

    return question_with_sources("<question>", [_P("<title 1>", "<passage 1>"), _P("<title 2>", "<passage 2>")],
                                 abstain)


def modelfile_text(template: str, stops: Sequence[str], *, context: str, abstain: str, header: str) -> str:
    lines = [f"# {header}"]
    if context == "retrieved":
        lines += ["#", "# Trained with retrieved passages in the question turn (docent's assistant adds them from its",
                  "# index). Send a question as this user message; a bare question is the closed-book format,",
                  "# which this model answers much less well:", "#"]
        lines += [f"#   {line}" if line else "#" for line in sources_format(abstain).split("\n")]
    lines += ["#", "# The system turn stays empty, as in training: no SYSTEM line (one would change the prompt).",
              "FROM ./model.gguf", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += ["# greedy decoding, as evaluated", "PARAMETER temperature 0", ""]
    return "\n".join(lines)


def readme_text(info: Mapping[str, Any], *, context: str, abstain: str, stops: Sequence[str]) -> str:
    lines = [
        "# docent export",
        "",
        "| | |",
        "|---|---|",
        f"| base model | {info['base_model']} |",
        f"| fine-tune | {info['method']}, {info['steps']} steps (`models/finetuned`) |",
        f"| params hash | `{info['params_hash']}` |",
        f"| GGUF type | {info['gguf_type']} ({info['tensor_types']}) |",
        f"| file | model.gguf, {info['gguf_bytes']:,} bytes |",
        f"| verified | greedy answers identical to the merged model: {info['greedy_identical']:.3f} of "
        f"{info['verify_prompts']} prompts; max logit difference {info['max_logit_diff']:.4g} "
        f"(tolerance {info['logit_tolerance']:g}) |",
        "",
        "## Prompt format",
        "",
        "The chat template the model was trained with (the Modelfile's TEMPLATE and the GGUF's chat",
        "template), with an empty system turn first. Generation stops at "
        + ", ".join(f"`{s}`" for s in stops) + ".",
    ]
    if context == "retrieved":
        lines += ["", "The model was trained with retrieved passages in the user turn; ask it like this:", "",
                  "```", sources_format(abstain), "```", "",
                  f"When the sources do not hold the answer it replies `{abstain}`."]
    lines += [
        "",
        "## Run it",
        "",
        "llama.cpp (its chat mode uses the chat template inside the file):",
        "",
        "```bash",
        "llama-cli -m model.gguf -cnv --temp 0",
        "llama-server -m model.gguf --temp 0   # OpenAI-compatible API on :8080",
        "```",
        "",
        "Ollama:",
        "",
        "```bash",
        "ollama create docent -f Modelfile",
        "ollama run docent",
        "```",
        "",
    ]
    return "\n".join(lines)
