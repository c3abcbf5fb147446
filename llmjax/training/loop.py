"""The training loop: data -> sharded state -> steps -> logs, evals, checkpoints, resume.

The loop knows no benchmark: what it evaluates is passed in (`Evaluators`; the train
command passes llmjax.evals.for_training(cfg): validation bits/char and the few-shot probe).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any, Callable, Sequence

import jax

from llmjax import model
from llmjax.config import Config
from llmjax.data import pipeline
from llmjax.data.pipeline import PreparedData
from llmjax.errors import CheckpointError
from llmjax.paths import atomic_write_text
from llmjax.training import checkpoint, metrics, multihost, sharding
from llmjax.training.sharded import ShardedModel
from llmjax.training.step import Trainer


@dataclasses.dataclass(frozen=True)
class EvalContext:
  """What an evaluator sees: the model on the mesh, the current parameters, the data."""
  model: ShardedModel
  params: Any
  data: PreparedData
  batch_size: int
  step: int


Evaluator = Callable[[EvalContext], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class Evaluators:
  """validate runs every train.eval_every steps and must return val_bits_per_char (the
  best checkpoint is chosen by it); each (every, evaluator) of `periodic` runs every
  `every` steps. Both also run at step 0 and at the last step."""
  validate: Evaluator
  periodic: Sequence[tuple[int, Evaluator]] = ()


def _say(msg: str) -> None:
  if jax.process_index() == 0:
    print(msg, flush=True)


def run_meta(cfg_dict: dict, cfg: Config, tokenizer, step: int, **extra) -> dict:
  """What a checkpoint needs to be used on its own: config and tokenizer."""
  return {"step": step, "config": cfg_dict, "model": dataclasses.asdict(cfg.model),
          "tokenizer_sha256": tokenizer.sha256,
          "tokenizer_model_b64": checkpoint.encode_tokenizer(tokenizer.model_proto), **extra}


@dataclasses.dataclass
class RunResult:
  step: int
  first_val: dict[str, float] | None
  last_val: dict[str, float] | None
  best_val_bits_per_char: float | None
  history: list[dict[str, Any]]


class _Run:
  """One invocation of the training loop (possibly resuming an earlier one)."""

  def __init__(self, cfg: Config, cfg_dict: dict, evaluators: Evaluators):
    self.cfg, self.cfg_dict = cfg, cfg_dict
    self.evaluators = evaluators
    self.workdir = pathlib.Path(cfg.workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    self.data = pipeline.prepare_data(cfg.data, cfg.model.vocab_size, self.workdir, log=_say)
    self.mesh = sharding.make_mesh(cfg.mesh)
    self.trainer = Trainer(cfg, self.mesh)
    self.ckpt = checkpoint.Checkpointer(self.workdir, cfg.train.keep_checkpoints)
    # Every process walks the same global batches and reads only its own rows: the same
    # batches whatever the process count, so checkpoints resume on another count.
    self.iterator = pipeline.train_iterator(
        self.data.train, global_batch_size=cfg.data.batch_size, seed=cfg.data.shuffle_seed,
        local_rows=multihost.process_rows(self.trainer.batch_sharding, cfg.data.batch_size,
                                          cfg.data.seq_len))
    self.rng = jax.random.key(cfg.seed)
    self.step = 0
    self.best_bpc = float("inf")
    self.restored_step = -1  # set by _restore_or_init when a checkpoint is found
    self.state = self._restore_or_init()
    # Records past the restored step (all of them on a fresh start) are from an interrupted
    # run and are logged again.
    self.writer = metrics.MetricWriter(self.workdir, resume_step=self.restored_step)
    self.flops_per_token = model.flops_per_token(cfg.model, cfg.data.seq_len)
    self.tokens_per_step = cfg.data.batch_size * cfg.data.seq_len
    self.history: list[dict[str, Any]] = []

  def _restore_or_init(self):
    step = self.ckpt.latest_step()
    if step is None:
      return self.trainer.init_state(jax.random.fold_in(self.rng, 0))
    state, data_state, meta = self.ckpt.restore(step, self.trainer.abstract_state())
    if meta.get("tokenizer_sha256") != self.data.tokenizer.sha256:
      raise CheckpointError(
          f"checkpoint {step} was trained with another tokenizer than {self.workdir}/"
          "tokenizer.model; use the original tokenizer or a new workdir")
    self.iterator.set_state(data_state)
    self.step = self.restored_step = step
    if (self.workdir / "best").is_dir():
      self.best_bpc = checkpoint.find(self.workdir, "best").meta.get(
          "val_bits_per_char", float("inf"))
    _say(f"resumed from {self.ckpt.dir / str(step)}")
    return state

  def meta(self, **extra) -> dict:
    return run_meta(self.cfg_dict, self.cfg, self.data.tokenizer, self.step, **extra)

  def _context(self) -> EvalContext:
    return EvalContext(self.trainer, self.state.params, self.data, self.cfg.data.batch_size,
                       self.step)

  def _record(self, record: dict[str, float]) -> None:
    self.writer.write(self.step, record)
    self.history.append({"step": self.step, **record})
    _say(metrics.log_line(self.step, self.cfg.train.total_steps, record, None))

  def evaluate(self) -> dict[str, float]:
    """Validation (and the best checkpoint by its bits/char)."""
    record = self.evaluators.validate(self._context())
    self._record(record)
    bpc = record["val_bits_per_char"]
    if self.cfg.train.keep_best and bpc < self.best_bpc:
      self.best_bpc = bpc
      self.ckpt.save_best(self.step, self.state.params, self.meta(val_bits_per_char=bpc))
    return record

  def periodic(self, done: bool) -> bool:
    """The periodic evaluators due at this step; whether any ran."""
    ran = False
    for every, evaluator in self.evaluators.periodic:
      if every and (self.step % every == 0 or done):
        self._record(evaluator(self._context()))
        ran = True
    return ran

  def log(self, m: dict, rate: float, step_s: float) -> None:
    remaining = self.cfg.train.total_steps - self.step
    record = {"loss": m["loss"], "learning_rate": m["learning_rate"],
              "grad_norm": m["grad_norm"], "tokens_per_sec": rate,
              "mfu": metrics.mfu(rate, self.flops_per_token, jax.device_count())}
    record.update({k: v for k, v in m.items() if k.startswith("moe/")})  # router metrics
    self.writer.write(self.step, record)
    self.history.append({"step": self.step, **record})
    _say(metrics.log_line(self.step, self.cfg.train.total_steps, record, remaining * step_s))

  def describe(self) -> None:
    counts = model.count_params(self.state.params)
    stats = self.data.stats
    epoch_steps = self.data.train.inputs.shape[0] / self.cfg.data.batch_size
    if self.cfg.model.moe.experts:
      active = model.active_params(self.cfg.model, self.state.params)
      _say(f"MoE: {active / 1e6:.2f}M of {counts['total'] / 1e6:.2f}M params active per token")
    _say(f"llmjax {self.cfg.name}: {counts['total'] / 1e6:.2f}M params on "
         f"{jax.device_count()} {jax.devices()[0].device_kind} device(s), mesh "
         f"{dict(self.mesh.shape)}")
    _say(f"data: {self.data.source}")
    _say(f"  train: {stats['train_docs']:,} documents, {stats['train_chars'] / 1e6:.2f}M "
         f"characters, {stats['train_tokens'] / 1e6:.2f}M tokens "
         f"({stats['train_chars_per_token']:.2f} characters/token), {stats['train_rows']:,} "
         f"rows of {self.cfg.data.seq_len} ({100 * stats['train_padding']:.1f}% padding)")
    _say(f"  validation: {stats['val_docs']:,} of {stats['val_docs_total']:,} held-out "
         f"documents, {stats['val_tokens']:,} tokens")
    _say(f"  {epoch_steps:.1f} steps per epoch: {self.cfg.train.total_steps} steps are "
         f"{self.cfg.train.total_steps / max(epoch_steps, 1e-9):.1f} epochs")
    if jax.process_index() == 0:  # the same numbers for scripts (llmjax.experiments)
      atomic_write_text(self.workdir / "data.json",
                        json.dumps({"source": self.data.source, **stats}, indent=1) + "\n")

  def train(self, stop_after: int | None = None) -> RunResult:
    cfg = self.cfg.train
    self.describe()
    first_val = self.evaluate() if self.step == 0 else None
    if self.step == 0:
      self.periodic(done=False)
    last_val = first_val
    clock, steps_timed = time.perf_counter(), 0
    while self.step < cfg.total_steps:
      batch = self.trainer.put_batch(next(self.iterator))
      self.state, m = self.trainer.train_step(self.state, batch, self.rng)
      self.step += 1
      steps_timed += 1
      done = self.step == cfg.total_steps or (stop_after is not None and self.step >= stop_after)
      if self.step % cfg.log_every == 0 or done:
        m = jax.device_get(m)  # the only host sync between log points
        elapsed = time.perf_counter() - clock
        self.log({k: float(v) for k, v in m.items()},
                 steps_timed * self.tokens_per_step / elapsed, elapsed / steps_timed)
        clock, steps_timed = time.perf_counter(), 0
      if self.step % cfg.eval_every == 0 or done:
        last_val = self.evaluate()
      periodic_ran = self.periodic(done)
      if self.step % cfg.checkpoint_every == 0 or done:
        self.ckpt.save(self.step, self.state, self.iterator.get_state(), self.meta())
      if self.step % cfg.eval_every == 0 or self.step % cfg.checkpoint_every == 0 or periodic_ran:
        clock, steps_timed = time.perf_counter(), 0  # keep evals and saves out of tokens/s
      if done:
        break
    self.ckpt.close()
    self.writer.close()
    best = None if self.best_bpc == float("inf") else self.best_bpc
    return RunResult(self.step, first_val, last_val, best, self.history)


def train(cfg: Config, cfg_dict: dict, evaluators: Evaluators, *,
          stop_after: int | None = None) -> RunResult:
  """Trains (or resumes) `cfg` in cfg.workdir. `stop_after` ends early, as a kill would."""
  multihost.maybe_initialize_distributed()
  return _Run(cfg, cfg_dict, evaluators).train(stop_after=stop_after)
