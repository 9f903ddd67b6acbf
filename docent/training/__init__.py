"""Fine-tuning: tokenised QA data, packed batches, the Trainer subclass, callbacks, the run."""
