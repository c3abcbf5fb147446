"""llmjax: train small decoder-only language models from scratch in JAX/Flax."""

__version__ = "0.1.0"
