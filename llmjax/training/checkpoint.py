"""Orbax checkpoints: train state + data-iterator state + metadata (config, tokenizer).

Layout under the workdir:
  checkpoints/<step>/{state,data,meta}   the last `keep` checkpoints, for resuming
  best/<step>/{params,meta}              the parameters with the lowest val bits/char
Orbax writes each step to a temporary folder and renames it when complete, so a crash
never leaves a half-written checkpoint that looks finished.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
from typing import Any

import jax

import orbax.checkpoint as ocp

from llmjax.errors import CheckpointError

STATE, DATA, META, PARAMS = "state", "data", "meta", "params"


def _manager(directory: pathlib.Path, keep: int, async_save: bool) -> ocp.CheckpointManager:
  # create=False: the folder appears with the first save, so a run that fails before it
  # (bad data, a bad config) leaves no empty checkpoints/ or best/ behind.
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=False, enable_async_checkpointing=async_save)
  return ocp.CheckpointManager(directory.absolute(), options=options)


def _steps_on_disk(directory: pathlib.Path) -> list[str]:
  if not directory.is_dir():
    return []
  return [p.name for p in directory.iterdir() if not p.name.startswith(".")]


def _reason(e: BaseException) -> str:
  """The useful part of an orbax / TensorStore error: the operating system's reason when
  there is one (e.g. 'No space left on device'), else the first line, whole."""
  cause: BaseException | None = e
  while cause is not None:
    if isinstance(cause, OSError) and cause.strerror:
      return f"{cause.strerror} ({cause.filename or ''})".replace(" ()", "")
    code = re.search(r"os_error_code='?(\d+)", str(cause))  # TensorStore's way of saying it
    if code:
      return os.strerror(int(code.group(1)))
    cause = cause.__cause__ or cause.__context__
  text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
  return f"{type(e).__name__}: {text}"


def encode_tokenizer(model_proto: bytes) -> str:
  return base64.b64encode(model_proto).decode("ascii")


def decode_tokenizer(meta: dict[str, Any]) -> bytes:
  return base64.b64decode(meta["tokenizer_model_b64"])


class Checkpointer:
  """Periodic (latest-K) checkpoints for resuming, plus the best checkpoint by val bits/char."""

  def __init__(self, workdir: pathlib.Path, keep: int = 3, async_save: bool = True):
    self.dir = pathlib.Path(workdir) / "checkpoints"
    self.best_dir = pathlib.Path(workdir) / "best"
    self.discard_unfinished()
    self._latest = _manager(self.dir, keep, async_save)
    self._best = _manager(self.best_dir, 1, async_save)

  def latest_step(self) -> int | None:
    step = self._latest.latest_step()
    if step is None:
      leftovers = [n for n in _steps_on_disk(self.dir) if "tmp" not in n]
      if leftovers:
        raise CheckpointError(
            f"{self.dir} holds {leftovers[:3]} but no readable checkpoint; refusing to start "
            "over. Move the folder away to train from scratch.")
    return step

  def save(self, step: int, state, data_state: dict, meta: dict) -> None:
    # One async save in flight at a time: with several processes, each save ends in
    # barriers, and two managers' background saves could reach them in different orders.
    with self._reporting(self.dir / str(step)):
      self._best.wait_until_finished()
      self._latest.save(step, args=ocp.args.Composite(**{
          STATE: ocp.args.StandardSave(state),
          DATA: ocp.args.JsonSave(data_state),
          META: ocp.args.JsonSave(meta)}))

  @contextlib.contextmanager
  def _reporting(self, path: pathlib.Path):
    """Orbax / TensorStore errors (a full disk, no permission) as one CheckpointError naming
    the checkpoint that failed; its unfinished folder is removed."""
    try:
      yield
    except Exception as e:  # orbax raises many types; all mean "could not write"
      failed = re.search(r"(/\S+?)\.orbax-checkpoint-tmp", str(e))
      self.discard_unfinished()
      raise CheckpointError(f"cannot write checkpoint {failed.group(1) if failed else path}: "
                            f"{_reason(e)}") from e

  def discard_unfinished(self) -> None:
    """Removes the temporary folders of saves that never finished (a crash, a full disk):
    they are never valid checkpoints."""
    if jax.process_index() == 0:
      for d in (self.dir, self.best_dir):
        for tmp in d.glob("*.orbax-checkpoint-tmp*"):
          shutil.rmtree(tmp, ignore_errors=True)

  def check_for_errors(self) -> None:
    """Raises now if a background save failed (called every step)."""
    with self._reporting(self.dir):
      self._latest.check_for_errors()
      self._best.check_for_errors()

  def save_best(self, step: int, params, meta: dict) -> None:
    with self._reporting(self.best_dir / str(step)):
      self._latest.wait_until_finished()  # see save()
      self._best.wait_until_finished()
      # A best from this step or later belongs to an interrupted run whose steps are being
      # redone (it crashed before its next periodic checkpoint): the new one replaces it.
      for stale in [s for s in self._best.all_steps() if s >= step]:
        self._best.delete(stale)
      self._best.save(step, args=ocp.args.Composite(**{
          PARAMS: ocp.args.StandardSave(params), META: ocp.args.JsonSave(meta)}), force=True)

  def read_meta(self, step: int) -> dict:
    """The metadata of one resume checkpoint (config, tokenizer, run settings)."""
    try:
      return self._latest.restore(step, args=ocp.args.Composite(**{
          META: ocp.args.JsonRestore()}))[META]
    except Exception as e:  # orbax raises many types; all mean "unreadable"
      raise CheckpointError(f"cannot read checkpoint {self.dir / str(step)}: "
                            f"{_reason(e)}") from e

  def restore(self, step: int, abstract_state) -> tuple[Any, dict, dict]:
    try:
      out = self._latest.restore(step, args=ocp.args.Composite(**{
          STATE: ocp.args.StandardRestore(abstract_state),
          DATA: ocp.args.JsonRestore(),
          META: ocp.args.JsonRestore()}))
    except Exception as e:  # orbax raises many types; all mean "unreadable"
      raise CheckpointError(f"cannot restore checkpoint {self.dir / str(step)}: "
                            f"{_reason(e)}; {self._damaged_hint(step)}") from e
    return out[STATE], out[DATA], out[META]

  def _damaged_hint(self, step: int) -> str:
    """What to do with a checkpoint that does not restore (a torn copy, a deleted file)."""
    earlier = [s for s in self._latest.all_steps() if s < step]
    then = f"resume from step {max(earlier)}" if earlier else "start over"
    return f"if it is damaged, move that folder out of {self.dir} to {then}"

  def wait(self) -> None:
    with self._reporting(self.dir):
      self._latest.wait_until_finished()
      self._best.wait_until_finished()

  def close(self) -> None:
    self.wait()
    self._latest.close()
    self._best.close()


@dataclasses.dataclass(frozen=True)
class CheckpointRef:
  """One checkpoint found under a workdir: its manager folder, step and metadata."""
  directory: pathlib.Path  # workdir/best or workdir/checkpoints
  step: int
  meta: dict[str, Any]

  @property
  def path(self) -> pathlib.Path:
    return self.directory / str(self.step)


CHOICES = ("auto", "best", "latest")


def find(workdir: str | pathlib.Path, which: str = "auto") -> CheckpointRef:
  """A checkpoint by name: 'best', 'latest', 'auto' (best if any, else latest) or a step."""
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise CheckpointError(f"workdir {workdir} does not exist")
  if which not in CHOICES and not which.isdigit():
    raise CheckpointError(f"checkpoint {which!r}: choose one of {', '.join(CHOICES)} or a "
                          "step number")
  candidates = {"best": [workdir / "best"], "latest": [workdir / "checkpoints"],
                "auto": [workdir / "best", workdir / "checkpoints"]}
  for d in candidates.get(which, [workdir / "checkpoints"]):
    if not d.is_dir():
      continue
    mngr = ocp.CheckpointManager(d.absolute(), options=ocp.CheckpointManagerOptions(create=False))
    step = int(which) if which.isdigit() else mngr.latest_step()
    if step is None:
      continue
    if step not in mngr.all_steps():
      raise CheckpointError(f"no checkpoint of step {step} under {d} (have "
                            f"{sorted(mngr.all_steps())})")
    try:
      meta = mngr.restore(step, args=ocp.args.Composite(**{META: ocp.args.JsonRestore()}))[META]
    except Exception as e:  # orbax raises many types; all mean "unreadable"
      raise CheckpointError(f"cannot read checkpoint {d / str(step)}: {e}") from e
    return CheckpointRef(d, step, meta)
  raise CheckpointError(f"no checkpoint ({which}) found under {workdir}")


def restore_params(ref: CheckpointRef, abstract_params) -> Any:
  """Parameters of a best/ checkpoint, or the params of a full train state in checkpoints/
  (restored alone: no optimizer needed)."""
  mngr = ocp.CheckpointManager(ref.directory.absolute(),
                               options=ocp.CheckpointManagerOptions(create=False))
  try:
    if ref.directory.name == "best":
      return mngr.restore(ref.step, args=ocp.args.Composite(**{
          PARAMS: ocp.args.StandardRestore(abstract_params)}))[PARAMS]
    target = {"params": abstract_params}
    restore_args = jax.tree.map(lambda a: ocp.ArrayRestoreArgs(sharding=a.sharding), target)
    state = mngr.restore(ref.step, args=ocp.args.Composite(**{
        STATE: ocp.args.PyTreeRestore(item=target, restore_args=restore_args,
                                      partial_restore=True)}))[STATE]
    return state["params"]
  except Exception as e:
    raise CheckpointError(f"cannot restore parameters from {ref.path}: "
                          f"{_reason(e)}") from e
