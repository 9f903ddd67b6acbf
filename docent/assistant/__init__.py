"""The assistant: ask/chat on the command line and a small web page, on the fine-tuned model."""
