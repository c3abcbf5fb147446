"""Stage 5b, fine-tuning: a pretrained model adapted to conversations (SFT, LoRA).

Between training (it reuses the training loop, the Trainer and the checkpoints) and
evaluation. Library: config (the `finetune` config section, resolved against the pretrained
workdir), template (the chat format: render, parse, tokens with the assistant loss mask),
data (JSONL conversations -> packed rows with segment ids and loss_mask), lora (adapters as
a separate pytree, merged into the frozen base weights), trainer (full fine-tuning and LoRA
trainers), recipe (what the training loop runs), adapters (loading and merging an adapter
workdir), chat (a conversation over the KV-cached decoder), answers (format rate, stop rate
and chrF of generated answers), probe (the same, as a training-loop evaluator), dictionary
(the Tatar SFT set from the explanatory dictionary, with its leak check).
Commands: python -m llmjax.sft.make_set | merge | answer | report
(and, on top, python -m llmjax.finetune and python -m llmjax.chat)
"""
