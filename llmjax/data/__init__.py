"""Stage 3, data: tokenised documents packed into rows with segment ids, batch iterators.

packing (best-fit packing, PackedRows), pipeline (text -> tokenizer -> token shards ->
packed train / validation rows; grain iterators that resume exactly).
"""
