"""Stage 8, experiments: training runs driven as subprocesses and compared.

runs (a run = the ordinary train / evaluate command lines; results read back from the
workdir), ablation (variant sets, summaries and tables).
Commands: python -m llmjax.experiments.ablate | downstream
"""
