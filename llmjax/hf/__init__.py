"""Stage 7, sharing: Hugging Face export (Llama / Qwen3 / Mixtral files, tokenizer, card)."""
