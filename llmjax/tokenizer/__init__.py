"""Stage 2, the tokenizer: text to token ids and back, exactly.

Library: spm (the SentencePiece Tokenizer, training, the one tokenizer cache), shards
(tokenised documents on disk, memory-mapped: the training pipeline's token cache), analysis
(per-tokenizer statistics), lab (the sweep's tables, plots and report).
Commands: python -m llmjax.tokenizer.train | sweep | speed
"""

from llmjax.tokenizer.spm import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    RESERVED_PIECES,
    TOKENIZER_FILENAME,
    UNK_ID,
    Tokenizer,
    TokenizerSpec,
    load_checked,
    load_or_train,
    sample_documents,
    train_tokenizer,
)

__all__ = [
    "BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "RESERVED_PIECES", "TOKENIZER_FILENAME",
    "Tokenizer", "TokenizerSpec", "load_checked", "load_or_train", "sample_documents",
    "train_tokenizer",
]
