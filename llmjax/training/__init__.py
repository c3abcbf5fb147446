"""Stage 5, training: a model placed on a device mesh, the optimizer, the loop.

sharding (mesh and logical-axis rules), multihost (jax.distributed, each process's rows),
sharded (ShardedModel: a model on the mesh, its eval step), optim (AdamW and schedules),
step (Trainer: train state, exact gradient accumulation, the train step), checkpoint
(orbax: resume points and the best checkpoint), metrics (MFU, metrics.jsonl, TensorBoard),
loop (the training loop), restore (a trained workdir back on the devices), throughput
(the train-step benchmark).
"""
