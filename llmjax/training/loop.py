"""The training loop: data -> sharded state -> steps -> logs, evals, checkpoints, resume.

The loop knows no benchmark: what it evaluates is passed in (`Evaluators`; the train
command passes llmjax.evals.for_training(cfg): validation bits/char and the few-shot probe).
Nor does it know what it trains: a `Recipe` says where the data, the trainer and the
parameters come from; the default is pretraining's, and fine-tuning (llmjax.sft) passes its
own (conversations, the pretrained weights, LoRA adapters) through the same loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import signal
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from llmjax import model
from llmjax.config import RESUMABLE_CHANGES, Config, resume_changes, upgrade_saved
from llmjax.data import pipeline
from llmjax.data.pipeline import PreparedData
from llmjax.errors import CheckpointError, ConfigError, Diverged
from llmjax.paths import atomic_write_text
from llmjax.training import checkpoint, memory, metrics, multihost, sharding
from llmjax.training.lock import WorkdirLock
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


Log = Callable[[str], None]


def _pretraining_data(cfg: Config, workdir: pathlib.Path, log: Log) -> PreparedData:
  return pipeline.prepare_data(cfg.data, cfg.model.vocab_size, workdir, log=log)


def _state_params(trainer: Trainer, state: Any) -> Any:
  del trainer
  return state.params


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What a run trains, and on what; the defaults are pretraining's.

  prepare_data: (cfg, workdir, log) -> the packed train / validation rows and tokenizer.
  make_trainer: (cfg, mesh) -> the Trainer; its init_state(rng) makes the first state and
    its abstract_state() is what a resume checkpoint is restored into.
  model_params: (trainer, state) -> the whole model's parameters, as evaluators score them
    (LoRA: the adapters merged into the frozen base).
  best_params: (trainer, state) -> what the best checkpoint keeps (LoRA: the adapters only).
  meta: extra metadata stored with every checkpoint (e.g. the base model's workdir).
  resumable: config keys (prefixes) a resumed run may change besides
    llmjax.config.RESUMABLE_CHANGES (cadences of the recipe's own evaluators, say).
  """
  prepare_data: Callable[[Config, pathlib.Path, Log], PreparedData] = _pretraining_data
  make_trainer: Callable[[Config, Mesh], Trainer] = Trainer
  model_params: Callable[[Trainer, Any], Any] = _state_params
  best_params: Callable[[Trainer, Any], Any] = _state_params
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  resumable: tuple[str, ...] = ()


PRETRAINING = Recipe()


def _say(msg: str) -> None:
  """A log line with the time of day (process 0 only)."""
  if jax.process_index() == 0:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


@contextlib.contextmanager
def _phase(what: str) -> Iterator[None]:
  """Announces a phase before it starts and says how long it took."""
  _say(f"{what} ...")
  start = time.perf_counter()
  yield
  _say(f"{what}: done in {metrics.format_duration(time.perf_counter() - start)}")


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
  stopped_by: int | None = None  # the signal (SIGINT / SIGTERM) that stopped the run early


def exit_status(result: RunResult) -> int:
  """How a training command ends: the last line it prints, and its exit status (130 after
  Ctrl-C, 0 after SIGTERM so that a preempted job counts as done-for-now)."""
  if result.stopped_by is not None:
    return 130 if result.stopped_by == signal.SIGINT else 0
  if result.last_val:
    print(f"done: step {result.step}, val bits/char {result.last_val['val_bits_per_char']:.4f}"
          f" (best {result.best_val_bits_per_char:.4f})")
  return 0


class _StopRequests:
  """SIGINT / SIGTERM while training: finish the step, save, stop. A second Ctrl-C aborts at
  once. Installed only in the main thread (signals are delivered there)."""

  def __init__(self):
    self.signum: int | None = None
    self._previous: dict[int, Any] = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # the second Ctrl-C: abort now
    self.signum = signum
    _say(f"{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
         "(Ctrl-C again to abort at once)")

  def __enter__(self) -> _StopRequests:
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def agreed(self) -> int | None:
    """The stop signal, agreed by all processes (any process's request stops them all at
    the same step)."""
    local = self.signum or 0
    if jax.process_count() > 1:
      local = int(np.max(multihost_utils.process_allgather(np.int32(local))))
    return local or None


class _Run:
  """One invocation of the training loop (possibly resuming an earlier one)."""

  def __init__(self, cfg: Config, cfg_dict: dict, evaluators: Evaluators,
               recipe: Recipe = PRETRAINING):
    self.cfg, self.cfg_dict = cfg, cfg_dict
    self.evaluators = evaluators
    self.recipe = recipe
    self.workdir = pathlib.Path(cfg.workdir)
    self.ckpt = checkpoint.Checkpointer(self.workdir, cfg.train.keep_checkpoints)
    self.latest = self.ckpt.latest_step()
    self._check_resume()  # before anything in the workdir changes
    with _phase("preparing the data"):
      self.data = recipe.prepare_data(cfg, self.workdir, _say)
    self.mesh = sharding.make_mesh(cfg.mesh)
    self.trainer = recipe.make_trainer(cfg, self.mesh)
    with _phase("compiling the train step"):
      self.microbatch = memory.resolve(self.trainer, self._saved_microbatch(), log=_say)
    _say(self.microbatch.describe(cfg.data.batch_size, jax.device_count()))
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
    self.saved_step = self.restored_step  # the last step with a resume checkpoint
    self.checked_step = self.restored_step  # the last step whose loss was checked
    self.nonfinite_steps = 0  # steps with a non-finite loss or gradient (skipped)

  def _check_resume(self) -> None:
    """A resumed run must not change the model's shapes or the data order; the keys that
    differ are named (nothing has been written yet)."""
    if self.latest is None:
      return
    saved = upgrade_saved(self.ckpt.read_meta(self.latest).get("config", {}))
    refused, allowed = resume_changes(saved, self.cfg_dict,
                                      RESUMABLE_CHANGES + self.recipe.resumable)
    if refused:
      raise ConfigError(
          f"{self.workdir} holds a run (checkpoint {self.latest}) whose config differs in "
          f"keys that change the model's shapes or the data order: {', '.join(refused)}; use "
          "a new workdir, or put the old values back")
    if allowed:
      _say(f"note: resuming with changed {', '.join(allowed)}")

  def _saved_microbatch(self) -> int:
    """On resume, the microbatch the run chose before (so the numbers stay the same);
    train.microbatch_size when set; else 0 = choose."""
    if self.cfg.train.microbatch_size or self.latest is None:
      return self.cfg.train.microbatch_size
    return int(self.ckpt.read_meta(self.latest).get("microbatch_size", 0))

  def _restore_or_init(self):
    step = self.latest
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
    return run_meta(self.cfg_dict, self.cfg, self.data.tokenizer, self.step,
                    microbatch_size=self.microbatch.rows, **self.recipe.meta, **extra)

  def _context(self) -> EvalContext:
    return EvalContext(self.trainer, self.recipe.model_params(self.trainer, self.state),
                       self.data, self.cfg.data.batch_size, self.step)

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
      self.ckpt.save_best(self.step, self.recipe.best_params(self.trainer, self.state),
                          self.meta(val_bits_per_char=bpc))
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
    if self.nonfinite_steps:
      record["nonfinite_steps"] = self.nonfinite_steps
    record.update({k: v for k, v in m.items() if k.startswith("moe/")})  # router metrics
    self.writer.write(self.step, record)
    self.history.append({"step": self.step, **record})
    _say(metrics.log_line(self.step, self.cfg.train.total_steps, record, remaining * step_s))

  def check_finite(self, step: int, m: dict) -> None:
    """Stops the run once more than train.skip_nonfinite_steps steps had a non-finite loss
    or gradient. It runs before every evaluation and save, so nothing after a bad step is
    ever evaluated or saved; with skip_nonfinite_steps > 0 the bad steps' updates were
    skipped (changed nothing) and training goes on until the budget is spent."""
    if step <= self.checked_step:
      return
    self.checked_step = step
    if not int(jax.device_get(m["nonfinite"])):
      return
    self.nonfinite_steps += 1
    if self.nonfinite_steps <= self.cfg.train.skip_nonfinite_steps:
      _say(f"warning: step {step} had a non-finite loss or gradient; its update was skipped "
           f"({self.nonfinite_steps} of at most {self.cfg.train.skip_nonfinite_steps})")
      return
    loss, gnorm = float(jax.device_get(m["loss"])), float(jax.device_get(m["grad_norm"]))
    raise Diverged(
        f"training diverged at step {step}: loss {loss}, gradient norm {gnorm} (not finite). "
        f"Nothing after step {step - 1} was evaluated or saved; the last resume "
        f"checkpoint is step {self.saved_step} in {self.ckpt.dir}. Likely causes: a learning "
        f"rate too high for this model (optim.lr={self.cfg.optim.lr}), too short a warmup "
        "(optim.warmup_steps), or float16 overflow (model.dtype). Lower optim.lr and run the "
        "same command to resume, or allow a few bad batches with "
        "--config.train.skip_nonfinite_steps=N")

  def save(self, wait: bool = False) -> None:
    if self.saved_step == self.step:
      return
    self.ckpt.save(self.step, self.state, self.iterator.get_state(), self.meta())
    self.saved_step = self.step
    if wait:
      self.ckpt.wait()

  def describe(self) -> None:
    counts = model.count_params(self.state.params)
    stats = self.data.stats
    epoch_steps = self.data.train.inputs.shape[0] / self.cfg.data.batch_size
    if self.cfg.model.moe.experts:
      active = model.active_params(self.cfg.model, self.state.params)
      _say(f"MoE: {active / 1e6:.2f}M of {counts['total'] / 1e6:.2f}M params active per token")
    if self.recipe.model_params is not _state_params:  # only part of the model trains
      trained = counts["total"]
      counts = model.count_params(self.recipe.model_params(self.trainer, self.state))
      _say(f"training {trained:,} of the model's {counts['total']:,} parameters "
           f"({100 * trained / counts['total']:.2f}%)")
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

  def expect(self, step_s: float, how: str) -> None:
    """The expected time of the run; on a CPU, when it is long, where to start instead."""
    left = (self.cfg.train.total_steps - self.step) * step_s
    _say(f"{how}: the {self.cfg.train.total_steps - self.step} steps left take about "
         f"{metrics.format_duration(left)} (plus evaluations)")
    if jax.default_backend() == "cpu" and left > 15 * 60:
      _say("this config is sized for a GPU or TPU; on a CPU, configs/tiny.py trains in a "
           "couple of minutes: python -m llmjax.train --config=configs/tiny.py")

  def estimate(self) -> None:
    """Before anything runs on a CPU: the time the steps should take at the measured matmul
    speed (a train step reaches at most about half of it)."""
    if jax.default_backend() != "cpu":
      return
    step_flops = self.flops_per_token * self.tokens_per_step / jax.device_count()
    step_s = 2 * step_flops / metrics.matmul_flops_per_sec()
    self.expect(step_s, f"estimated from this CPU's matmul speed, a step takes ~{step_s:.1f}s")

  def train(self, stop_after: int | None = None) -> RunResult:
    cfg = self.cfg.train
    self.describe()
    if self.step >= cfg.total_steps:
      _say(f"already done: step {self.step} of {cfg.total_steps} in {self.workdir} (raise "
           "--config.train.total_steps to train further, or use a new workdir)")
      return self.finish(None, None)
    with _StopRequests() as stop:
      return self._train(stop, stop_after)

  def _train(self, stop: _StopRequests, stop_after: int | None) -> RunResult:
    cfg = self.cfg.train
    first_val = None
    if self.step == 0:
      self.estimate()
      with _phase(f"evaluating step 0 on {len(self.data.val)} validation rows"):
        first_val = self.evaluate()
        self.periodic(done=False)
    last_val = first_val
    clock, steps_timed = time.perf_counter(), 0
    pending = None  # (step, metrics) of the previous step, checked after the next dispatch
    while self.step < cfg.total_steps:
      if stop.agreed():
        return self.stopped(stop.signum, first_val, last_val)
      batch = self.trainer.put_batch(next(self.iterator))
      self.state, m = self.trainer.train_step(self.state, batch, self.rng)
      self.step += 1
      steps_timed += 1
      if pending is not None:  # the device already runs this step: no stall
        self.check_finite(*pending)
      pending = (self.step, m)
      self.ckpt.check_for_errors()  # a failed background save is reported now
      done = self.step == cfg.total_steps or (stop_after is not None and self.step >= stop_after)
      first = self.step == 1  # a fresh run logs its first step and the expected time
      if self.step % cfg.log_every == 0 or done or first:
        m = jax.device_get(m)  # the only host sync between log points
        elapsed = time.perf_counter() - clock
        self.log({k: float(v) for k, v in m.items()},
                 steps_timed * self.tokens_per_step / elapsed, elapsed / steps_timed)
        if first and not done:
          self.expect(elapsed, f"the first step took {elapsed:.2f}s")
        clock, steps_timed = time.perf_counter(), 0
      due_eval = self.step % cfg.eval_every == 0 or done
      due_save = self.step % cfg.checkpoint_every == 0 or done
      if due_eval or due_save:
        self.check_finite(*pending)  # nothing is evaluated or saved after a bad step
      if due_eval:
        last_val = self.evaluate()
      periodic_ran = self.periodic(done)
      if due_save:
        self.save()
      if due_eval or due_save or periodic_ran:
        clock, steps_timed = time.perf_counter(), 0  # keep evals and saves out of tokens/s
      if done:
        break
    self.check_finite(*pending)
    return self.finish(first_val, last_val)

  def stopped(self, signum: int, first_val, last_val) -> RunResult:
    """Saves a checkpoint (synchronously) and ends the run: a stop signal was received."""
    self.save(wait=True)
    result = self.finish(first_val, last_val, stopped_by=signum)
    _say(f"stopped at step {self.step}; run the same command to resume")
    return result

  def finish(self, first_val, last_val, stopped_by: int | None = None) -> RunResult:
    self.ckpt.close()
    self.writer.close()
    best = None if self.best_bpc == float("inf") else self.best_bpc
    return RunResult(self.step, first_val, last_val, best, self.history, stopped_by)

  def close(self) -> None:
    """Releases what a failed run holds (its background saves are waited for)."""
    with contextlib.suppress(Exception):
      self.ckpt.close()
    with contextlib.suppress(Exception):
      self.writer.close()


def train(cfg: Config, cfg_dict: dict, evaluators: Evaluators, *,
          stop_after: int | None = None, recipe: Recipe = PRETRAINING) -> RunResult:
  """Trains (or resumes) `cfg` in cfg.workdir. `stop_after` ends early, as a kill would;
  `recipe` says what is trained (default: pretraining from scratch).

  The workdir is locked for the run (one run per workdir); SIGINT / SIGTERM stop it after
  the current step with a checkpoint saved (RunResult.stopped_by says which)."""
  multihost.maybe_initialize_distributed()
  workdir = pathlib.Path(cfg.workdir)
  try:
    workdir.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise CheckpointError(f"cannot create the workdir {str(workdir)!r}: "
                          f"{e.strerror or e}") from e
  with WorkdirLock(workdir, enabled=jax.process_index() == 0, warn=_say):
    run = None
    try:
      run = _Run(cfg, cfg_dict, evaluators, recipe)
      return run.train(stop_after=stop_after)
    except BaseException:
      if run is not None:
        run.close()
      raise
