"""SentencePiece tokenizer with exact round trip; trained in memory on the train split."""

from llmjax.tokenizer.spm import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    RESERVED_PIECES,
    TOKENIZER_FILENAME,
    UNK_ID,
    Tokenizer,
    load_or_train_tokenizer,
    sample_documents,
    train_tokenizer,
)

__all__ = [
    "BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "RESERVED_PIECES", "TOKENIZER_FILENAME",
    "Tokenizer", "load_or_train_tokenizer", "sample_documents", "train_tokenizer",
]
