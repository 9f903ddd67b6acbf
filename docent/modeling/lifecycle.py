"""The model lifecycle after training: what finetune left (its manifest), loaded once, and the named
models it can act as. evaluate and the assistant both load through here.

One model in memory: a LoRA / QLoRA fine-tune is a PeftModel over the base; `base` is the same
object inside `disable_adapter()` (the adapter's layers are skipped, the base weights untouched),
and more adapters (`--adapter NAME=PATH`) load onto the same base and are switched with
`set_adapter`. A full fine-tune has no base inside it: `base` is then a second model when asked for
(evaluate), else the fine-tuned weights are the only model (the assistant).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from docent.cli import UserError
from docent.config import ModelParams, QuantParams

log = logging.getLogger(__name__)

BASE = "base"
FINETUNED = "finetuned"


@dataclasses.dataclass
class ModelSet:
    model: Any                    # the PeftModel, the full fine-tune, or the base alone
    tokenizer: Any
    manifest: dict[str, Any]      # finetune's manifest ({} when answering with the base alone)
    adapters: list[str]           # names answered by an adapter (FINETUNED first when there is one)
    no_adapter_name: str = BASE   # the model without adapters: BASE, or FINETUNED for a full fine-tune
    separate_base: Any = None     # a full fine-tune's base, loaded only when asked for

    @property
    def method(self) -> str:
        return str(self.manifest.get("method", "none"))

    @property
    def context(self) -> str:
        """The prompt format it was trained with: none | retrieved."""
        return str(self.manifest.get("context") or "none")

    @property
    def names(self) -> list[str]:
        return [*self.adapters, self.no_adapter_name] + ([BASE] if self.separate_base is not None else [])

    @contextlib.contextmanager
    def use(self, name: str, merged: bool = False) -> Iterator[Any]:
        """The model answering as `name`. `merged`: a float LoRA adapter is merged into the weights
        for the block (one matmul per layer instead of two; undone afterwards); a quantised base
        cannot be merged into and answers unmerged."""
        from peft import PeftModel

        if name == BASE and self.separate_base is not None:
            yield self.separate_base
        elif not isinstance(self.model, PeftModel):
            yield self.model
        elif name == self.no_adapter_name:
            with self.model.disable_adapter():
                yield self.model
        else:
            if name not in self.adapters:
                raise UserError(f"model {name!r}: not loaded (loaded: {', '.join(self.names)})")
            self.model.set_adapter(name, inference_mode=True)
            if merged and self.method == "lora":
                self.model.merge_adapter()
                try:
                    yield self.model
                finally:
                    self.model.unmerge_adapter()
            else:
                yield self.model


def load_model_set(finetuned_dir: Path, model_params: ModelParams, quant: QuantParams | None, model_cache: str | Path,
                   adapters: Sequence[tuple[str, Path]] = (), no_adapter: bool = False,
                   full_base: bool = False) -> ModelSet:
    """What finetune left in `finetuned_dir`, plus more adapters; the base alone when the folder is
    missing and `no_adapter` or `adapters` say that is wanted. `full_base`: for a full fine-tune,
    also load its base as a second model (evaluate compares the two)."""
    from docent.modeling.loading import (
        load_base_model,
        load_finetuned,
        load_tokenizer,
        read_manifest,
        resolve_model_source,
    )

    loaded: list[str] = []
    model: Any  # a PreTrainedModel, or a peft PeftModel around one
    no_adapter_name = BASE
    manifest: dict[str, Any] = {}
    separate_base = None
    if finetuned_dir.exists():
        manifest = read_manifest(finetuned_dir)
        if manifest.get("method") == "full":
            if no_adapter:
                raise UserError(
                    f"--no-adapter: {finetuned_dir} holds full fine-tuned weights, not an adapter on the base; "
                    f"point --finetuned at a missing folder to answer with the base model alone"
                )
            no_adapter_name = FINETUNED
        model, tokenizer = load_finetuned(finetuned_dir, model_params, model_cache, quant, adapter_name=FINETUNED)
        if manifest.get("method") != "full":
            loaded.append(FINETUNED)
        elif full_base:
            base_name = str(manifest.get("base_model", model_params.name))
            separate_base = load_base_model(dataclasses.replace(model_params, name=base_name), model_cache)
            separate_base.eval()
    elif no_adapter or adapters:
        log.info("%s not found: answering with the base model %s", finetuned_dir, model_params.name)
        model = load_base_model(model_params, model_cache)
        tokenizer = load_tokenizer(resolve_model_source(model_params, model_cache), model_params.trust_remote_code)
    else:
        raise UserError(
            f"{finetuned_dir}: fine-tuned model not found; run `dvc repro finetune`, "
            f"or pass --no-adapter to answer with the base model"
        )
    if adapters:
        from peft import PeftModel

        for name, path in adapters:
            try:
                if isinstance(model, PeftModel):
                    model.load_adapter(str(path), adapter_name=name, is_trainable=False)
                else:
                    model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
            except (ValueError, RuntimeError, KeyError) as exc:  # shapes or modules that do not fit this base
                raise UserError(f"--adapter {name}={path}: does not fit the base model ({str(exc)[:200]})") from None
            loaded.append(name)
    model.eval()
    return ModelSet(model, tokenizer, manifest, loaded, no_adapter_name, separate_base)
