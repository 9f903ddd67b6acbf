"""Evaluation: base vs fine-tuned answers on the held-out questions, scored and reported."""
