"""The training loop: data -> sharded state -> steps -> logs, evals, checkpoints, resume."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any

import jax

from llmjax import checkpoint, metrics, model, multihost, scoring, sharding
from llmjax.config import Config
from llmjax.data import pipeline
from llmjax.errors import CheckpointError
from llmjax.train_step import Trainer


def maybe_initialize_distributed() -> None:
  """Joins a multi-process run when the launcher asked for one (see llmjax.multihost)."""
  multihost.maybe_initialize_distributed()


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

  def __init__(self, cfg: Config, cfg_dict: dict):
    self.cfg, self.cfg_dict = cfg, cfg_dict
    self.workdir = pathlib.Path(cfg.workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    self.data = pipeline.prepare_data(cfg.data, cfg.model.vocab_size, self.workdir)
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
      self.best_bpc = checkpoint.read_meta(self.workdir, "best")[2].get(
          "val_bits_per_char", float("inf"))
    _say(f"resumed from {self.ckpt.dir / str(step)}")
    return state

  def meta(self, **extra) -> dict:
    return run_meta(self.cfg_dict, self.cfg, self.data.tokenizer, self.step, **extra)

  def evaluate(self) -> dict[str, float]:
    val = scoring.score_rows(self.trainer, self.state.params, self.data.val,
                             self.cfg.data.batch_size)
    record = {"val_loss": val["loss"], "val_bits_per_char": val["bits_per_char"],
              "val_bits_per_byte": val["bits_per_byte"]}
    self.writer.write(self.step, record)
    self.history.append({"step": self.step, **record})
    if self.cfg.train.keep_best and val["bits_per_char"] < self.best_bpc:
      self.best_bpc = val["bits_per_char"]
      self.ckpt.save_best(self.step, self.state.params,
                          self.meta(val_bits_per_char=val["bits_per_char"]))
    _say(metrics.log_line(self.step, self.cfg.train.total_steps, record, None))
    return record

  def fewshot(self) -> None:
    """Every train.fewshot_every steps: the fast probe of llmjax.evals (a QA sample,
    a TatBLiMP sample, FLORES bits/char), so the curves show when the model learns facts."""
    if jax.process_count() > 1:
      return  # the probe scores whole batches on one process
    if getattr(self, "_probe", None) is None:
      from llmjax.evals.suite import FewShotProbe  # pylint: disable=g-import-not-at-top
      t = self.cfg.train
      self._probe = FewShotProbe.create(t.fewshot_qa_facts, t.fewshot_blimp_pairs,
                                        t.fewshot_flores_lines)
    record = self._probe(self.trainer, self.state.params, self.data.tokenizer)
    self.writer.write(self.step, record)
    self.history.append({"step": self.step, **record})
    _say(metrics.log_line(self.step, self.cfg.train.total_steps, record, None))

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
    if self.cfg.model.moe_experts:
      active = model.active_params(self.cfg.model, self.state.params)
      _say(f"MoE: {active / 1e6:.2f}M of {counts['total'] / 1e6:.2f}M params active per token")
    _say(f"llmjax {self.cfg.name}: {counts['total'] / 1e6:.2f}M params on "
         f"{jax.device_count()} {jax.devices()[0].device_kind} device(s), mesh "
         f"{dict(self.mesh.shape)}")
    _say(f"data: {json.dumps(stats)}; {epoch_steps:.1f} steps/epoch, "
         f"{self.cfg.train.total_steps / max(epoch_steps, 1e-9):.1f} epochs planned")

  def train(self, stop_after: int | None = None) -> RunResult:
    cfg = self.cfg.train
    self.describe()
    first_val = self.evaluate() if self.step == 0 else None
    if self.step == 0 and cfg.fewshot_every:
      self.fewshot()
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
      fewshot_now = cfg.fewshot_every and (self.step % cfg.fewshot_every == 0 or done)
      if fewshot_now:
        self.fewshot()
      if self.step % cfg.checkpoint_every == 0 or done:
        self.ckpt.save(self.step, self.state, self.iterator.get_state(), self.meta())
      if self.step % cfg.eval_every == 0 or self.step % cfg.checkpoint_every == 0 or fewshot_now:
        clock, steps_timed = time.perf_counter(), 0  # keep evals and saves out of tokens/s
      if done:
        break
    self.ckpt.close()
    self.writer.close()
    best = None if self.best_bpc == float("inf") else self.best_bpc
    return RunResult(self.step, first_val, last_val, best, self.history)


def train(cfg: Config, cfg_dict: dict, *, stop_after: int | None = None) -> RunResult:
  """Trains (or resumes) `cfg` in cfg.workdir. `stop_after` ends early, as a kill would."""
  maybe_initialize_distributed()
  return _Run(cfg, cfg_dict).train(stop_after=stop_after)
