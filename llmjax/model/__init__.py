"""Stage 4, the model: a pure-functional decoder-only transformer (parameters in, arrays out).

transformer (the Flax module, KV cache, parameter counts, FLOPs), attention (the one
attention dispatch and its masks), moe (routing and expert dispatch), decode (sampling, the
KV-cached decoder, text continuation).
"""

from llmjax.model.transformer import (
    KVCache,
    Transformer,
    abstract_params,
    active_params,
    count_params,
    flops_per_token,
    init_cache,
    init_params,
    logical_partition_specs,
)

__all__ = ["KVCache", "Transformer", "abstract_params", "active_params", "count_params",
           "flops_per_token", "init_cache", "init_params", "logical_partition_specs"]
