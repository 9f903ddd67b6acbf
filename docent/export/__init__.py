"""The export stage's work: the merged fine-tuned model as one GGUF file, an Ollama Modelfile and a
README, verified against the merged model before they replace a previous export.

- `gguf_file`: merged weights -> GGUF (the `gguf` package's writer, tensor-name maps and Q8_0
  quantiser; no llama.cpp build). A base that came from a GGUF keeps its metadata and tokenizer;
  a Llama-family hub model gets them from its config and tokenizer.
- `modelfile`: the chat template the model was trained with, as an Ollama TEMPLATE; the Modelfile
  and README texts.
- `verify`: the written file read back with transformers' GGUF loader and compared on the
  evaluation prompts (logits over the answer positions, greedy answers, tokenizer ids).
- `run`: the stage, end to end.
"""
