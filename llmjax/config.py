"""Typed, frozen views of the ml_collections config.

Config files (configs/*.py) return an ml_collections ConfigDict so every field can be
overridden from the command line (`--config.model.n_layers=4`). Library code never sees
the ConfigDict: it receives the frozen dataclasses below, built once by `from_config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import pathlib
from typing import Any, Mapping, Sequence

import ml_collections
from absl import flags
from ml_collections import config_flags

from llmjax import errors
from llmjax.errors import ConfigError

REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch", "attn_out")
ATTENTION_IMPLS = ("auto", "xla", "cudnn")
DTYPES = ("float32", "bfloat16", "float16")
SCHEDULES = ("cosine", "wsd", "constant")
POSITION_EMBEDDINGS = ("rope", "learned")
MOE_GATINGS = ("softmax", "sigmoid")
MOE_DISPATCHES = ("dropless", "capacity")
MLP_ACTIVATIONS = ("swiglu", "relu2")
OPTIMIZERS = ("adamw", "muon")


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)

# How logical array axes map onto mesh axes (data, fsdp, expert, tensor). Batch over
# data×fsdp×expert; MoE experts over expert;
# the parameters' model dimension over fsdp (ZeRO-3 style); heads / MLP / vocab over
# tensor. Names not listed are replicated.
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp", "expert")),
    ("expert", "expert"),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("q_heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("act_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
    ("layers", None),
    ("length", None),
    ("act_embed", None),
    ("head_dim", None),
    ("norm", None),
)


@dataclasses.dataclass(frozen=True)
class MoeConfig:
  """Mixture-of-experts feed-forward (`--config.model.moe.experts=8`); experts = 0: dense."""
  experts: int = 0
  top_k: int = 2
  every: int = 1  # layers n-1, 2n-1, ... are MoE, the rest dense
  d_ff: int = 0  # each expert's SwiGLU hidden size; 0 = model.d_ff
  gating: str = "softmax"  # one of MOE_GATINGS
  renormalize: bool = True  # top-k gate weights rescaled to sum to 1
  shared_expert: bool = False  # one always-on expert of size d_ff beside the routed
  dispatch: str = "dropless"  # one of MOE_DISPATCHES
  capacity_factor: float = 1.25  # capacity mode: slots per expert = cf * tokens * k / E
  aux_loss_weight: float = 0.01  # load-balancing loss (Switch / GShard form)
  z_loss_weight: float = 1e-3  # router z-loss (ST-MoE)

  def __post_init__(self):
    _check(self.experts >= 0, "model.moe.experts must be >= 0 (0 = dense)")
    if not self.experts:
      return
    _check(1 <= self.top_k <= self.experts,
           f"model.moe.top_k={self.top_k} must be in [1, moe.experts={self.experts}]")
    _check(self.every >= 1 and self.d_ff >= 0,
           "model.moe.every must be >= 1 and model.moe.d_ff >= 0")
    _check(self.gating in MOE_GATINGS,
           f"model.moe.gating={self.gating!r}; choose one of {MOE_GATINGS}")
    _check(self.dispatch in MOE_DISPATCHES,
           f"model.moe.dispatch={self.dispatch!r}; choose one of {MOE_DISPATCHES}")
    _check(self.capacity_factor > 0, "model.moe.capacity_factor must be positive")
    _check(self.aux_loss_weight >= 0 and self.z_loss_weight >= 0,
           "model.moe.aux_loss_weight / model.moe.z_loss_weight must be >= 0")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  vocab_size: int = 8192
  d_model: int = 512
  n_layers: int = 8
  n_heads: int = 8
  n_kv_heads: int = 4  # grouped-query attention: n_heads % n_kv_heads == 0
  head_dim: int = 64
  d_ff: int = 1408  # MLP hidden size
  mlp_activation: str = "swiglu"  # one of MLP_ACTIVATIONS; relu2 = relu(x)^2, no gate
  zero_init_out: bool = False  # attention / MLP output projections start at zero
  rope_theta: float = 10_000.0
  tie_embeddings: bool = True
  norm_eps: float = 1e-5
  dropout: float = 0.0
  dtype: str = "bfloat16"  # compute dtype
  param_dtype: str = "float32"
  remat: str = "none"  # one of REMAT_POLICIES
  # Layers stay under one scan (flat compile time); unrolling k iterations lets XLA fuse
  # across layers: 1.31x train-step throughput for GPT-2-124M on an H100 at k = 12.
  scan_unroll: int = 1
  # auto: cuDNN flash attention on GPU with a 16-bit dtype and no soft-cap, else XLA.
  attention_impl: str = "auto"  # one of ATTENTION_IMPLS
  max_seq_len: int = 512  # longest sequence the model is trained / generates for
  init_std: float = 0.02
  # --- block options (see README "Model variants") ---
  position_embedding: str = "rope"  # one of POSITION_EMBEDDINGS; "learned": absolute table
  qk_norm: bool = False  # RMSNorm on each query / key head before RoPE
  attn_logit_softcap: float = 0.0  # > 0: scores -> cap * tanh(scores / cap) (XLA only)
  final_logit_softcap: float = 0.0  # > 0: same on the output logits
  # Sliding-window attention: a local layer's query sees the last `sliding_window` tokens
  # (itself included); 0 = every layer global. global_every = n: layers n-1, 2n-1, ... stay
  # global (a repeating local/global pattern); 0 = all layers local.
  sliding_window: int = 0
  global_every: int = 0
  moe: MoeConfig = MoeConfig()  # experts = 0: dense SwiGLU everywhere

  @property
  def layer_group(self) -> int:
    """Layers per scanned super-block: the period of the local/global and MoE patterns."""
    return math.lcm((self.global_every or 1) if self.sliding_window else 1,
                    self.moe.every if self.moe.experts else 1)

  def layer_window(self, i: int) -> int:
    """Window of layer i in tokens; 0 = global (full causal) attention."""
    if not self.sliding_window or (self.global_every and (i + 1) % self.global_every == 0):
      return 0
    return self.sliding_window

  def layer_is_moe(self, i: int) -> bool:
    return self.moe.experts > 0 and (i + 1) % self.moe.every == 0

  @property
  def expert_d_ff(self) -> int:
    return self.moe.d_ff or self.d_ff

  def __post_init__(self):
    _check(self.vocab_size > 0, "model.vocab_size must be positive")
    _check(min(self.d_model, self.n_layers, self.n_heads, self.n_kv_heads,
               self.head_dim, self.d_ff, self.max_seq_len) > 0,
           "model sizes (d_model, n_layers, n_heads, n_kv_heads, head_dim, d_ff, "
           "max_seq_len) must be positive")
    _check(self.n_heads % self.n_kv_heads == 0,
           f"model.n_heads={self.n_heads} must be a multiple of "
           f"model.n_kv_heads={self.n_kv_heads}")
    _check(self.head_dim % 2 == 0, "model.head_dim must be even (RoPE rotates pairs)")
    _check(self.rope_theta > 0 and self.norm_eps > 0 and self.init_std > 0,
           "model.rope_theta, model.norm_eps and model.init_std must be positive")
    _check(0.0 <= self.dropout < 1.0, "model.dropout must be in [0, 1)")
    _check(self.scan_unroll >= 1, "model.scan_unroll must be >= 1")
    _check(self.mlp_activation in MLP_ACTIVATIONS,
           f"model.mlp_activation={self.mlp_activation!r}; choose one of {MLP_ACTIVATIONS}")
    _check(self.mlp_activation == "swiglu" or not self.moe.experts,
           "model.mlp_activation='relu2' is for dense MLPs; MoE experts are SwiGLU")
    _check(self.remat in REMAT_POLICIES,
           f"model.remat={self.remat!r}; choose one of {REMAT_POLICIES}")
    _check(self.attention_impl in ATTENTION_IMPLS,
           f"model.attention_impl={self.attention_impl!r}; choose one of {ATTENTION_IMPLS}")
    _check(self.dtype in DTYPES and self.param_dtype in DTYPES,
           f"model.dtype / model.param_dtype must be one of {DTYPES}")
    _check(self.position_embedding in POSITION_EMBEDDINGS,
           f"model.position_embedding={self.position_embedding!r}; choose one of "
           f"{POSITION_EMBEDDINGS}")
    _check(self.attn_logit_softcap >= 0 and self.final_logit_softcap >= 0,
           "model.attn_logit_softcap / model.final_logit_softcap must be >= 0 (0 = off)")
    _check(self.sliding_window >= 0 and self.global_every >= 0,
           "model.sliding_window / model.global_every must be >= 0 (0 = off)")
    _check(self.attention_impl != "cudnn" or
           (self.dtype in ("bfloat16", "float16") and not self.attn_logit_softcap),
           "model.attention_impl='cudnn' needs model.dtype bfloat16 or float16 and no "
           "model.attn_logit_softcap; use 'auto' to fall back to XLA where cuDNN cannot run")
    _check(self.n_layers % self.layer_group == 0,
           f"model.n_layers={self.n_layers} must be a multiple of the layer pattern "
           f"period {self.layer_group} (global_every / moe.every)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  # Folder of UTF-8 *.txt files, one document per line. Empty: $LLMJAX_TEXT_DIR, else the
  # default corpus (llmjax.data.pipeline says which).
  text_dir: str = ""
  seq_len: int = 512  # tokens per packed row
  batch_size: int = 64  # global batch, rows
  val_fraction: float = 0.02  # share of documents (by hash) held out for validation
  max_val_rows: int = 256  # cap on packed validation rows evaluated each time
  shuffle_seed: int = 0
  tokenizer_path: str = ""  # an existing SentencePiece model; empty = train one
  tokenizer_model_type: str = "unigram"
  tokenizer_max_sentences: int = 1_000_000  # deterministic sample cap for training
  # Mixed sources instead of text_dir: comma-separated kind:spec[:weight], kind one of
  # SOURCE_KINDS, e.g. "leipzig:tat_news_2015_1M:2,text:/data/tt". Empty: use text_dir.
  sources: str = ""
  # With no sources / text_dir / $LLMJAX_TEXT_DIR: these Leipzig corpora (comma list).
  default_corpus: str = "tat_mixed_2015_1M"
  clean: bool = True  # clean downloaded (Leipzig) corpora before training; cached

  def __post_init__(self):
    parse_sources(self.sources)  # ConfigError on a malformed entry
    _check(bool(self.default_corpus.strip(",").strip()),
           "data.default_corpus must name at least one Leipzig corpus")
    _check(self.seq_len > 1, "data.seq_len must be > 1")
    _check(self.batch_size > 0, "data.batch_size must be positive")
    _check(self.max_val_rows >= 0, "data.max_val_rows must be >= 0 (0 = all)")
    _check(self.tokenizer_max_sentences >= 0,
           "data.tokenizer_max_sentences must be >= 0 (0 = all)")
    _check(0.0 < self.val_fraction < 0.5, "data.val_fraction must be in (0, 0.5)")
    _check(self.tokenizer_model_type in ("unigram", "bpe"),
           "data.tokenizer_model_type must be 'unigram' or 'bpe'")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  lr: float = 3e-3
  min_lr_ratio: float = 0.1
  warmup_steps: int = 50
  schedule: str = "cosine"  # one of SCHEDULES
  decay_fraction: float = 0.2  # wsd: share of steps spent decaying
  b1: float = 0.9
  b2: float = 0.95
  eps: float = 1e-8
  weight_decay: float = 0.1
  clip_norm: float = 1.0
  # adamw: AdamW everywhere. muon: Muon (orthogonalised momentum, optax.contrib.muon) for
  # the hidden weight matrices at muon_lr, AdamW at lr for embeddings, norms and routers.
  optimizer: str = "adamw"  # one of OPTIMIZERS
  muon_lr: float = 0.02
  z_loss: float = 0.0  # > 0: + z_loss * mean(logsumexp(logits)^2) (PaLM), keeps logits small

  def __post_init__(self):
    _check(self.lr > 0, "optim.lr must be positive")
    _check(self.warmup_steps >= 0 and 0 <= self.min_lr_ratio <= 1,
           "optim.warmup_steps must be >= 0 and optim.min_lr_ratio in [0, 1]")
    _check(0 <= self.b1 < 1 and 0 <= self.b2 < 1 and self.eps > 0,
           "optim.b1 and optim.b2 must be in [0, 1) and optim.eps > 0")
    _check(self.weight_decay >= 0 and self.clip_norm > 0,
           "optim.weight_decay must be >= 0 and optim.clip_norm > 0")
    _check(self.schedule in SCHEDULES,
           f"optim.schedule={self.schedule!r}; choose one of {SCHEDULES}")
    _check(self.optimizer in OPTIMIZERS,
           f"optim.optimizer={self.optimizer!r}; choose one of {OPTIMIZERS}")
    _check(self.muon_lr > 0 and self.z_loss >= 0,
           "optim.muon_lr must be positive and optim.z_loss >= 0")
    _check(0.0 < self.decay_fraction <= 1.0, "optim.decay_fraction must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  total_steps: int = 600
  log_every: int = 10
  eval_every: int = 50
  checkpoint_every: int = 100
  keep_checkpoints: int = 3
  keep_best: bool = True  # also keep the checkpoint with the lowest val bits/char
  # Rows each device processes at once; the rest of data.batch_size (the global batch) is
  # accumulated exactly. 0 = the largest that fits the device's memory (printed at start).
  microbatch_size: int = 0
  memory_limit_mb: int = 0  # per device, for that choice; 0 = what the device has
  # Few-shot validation (llmjax.evals): every N steps score a QA sample, a TatBLiMP sample
  # and FLORES bits/char; logged as fewshot_* scalars. 0 = off.
  fewshot_every: int = 0
  fewshot_qa_facts: int = 24
  fewshot_blimp_pairs: int = 128
  fewshot_flores_lines: int = 64
  # Every N steps: bits/char and second-half bits of all of FLORES dev (needs the
  # evaluation sets, llmjax.paths); logged as flores_* scalars. 0 = off.
  flores_every: int = 0
  # Non-finite loss or gradient: the step's update is skipped; the run stops with an error
  # once more than this many steps were skipped (0 = at the first one).
  skip_nonfinite_steps: int = 0

  def __post_init__(self):
    _check(self.total_steps >= 0, "train.total_steps must be >= 0")
    for name in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
      _check(getattr(self, name) >= 1, f"train.{name}={getattr(self, name)} must be >= 1")
    _check(self.skip_nonfinite_steps >= 0, "train.skip_nonfinite_steps must be >= 0")
    _check(self.microbatch_size >= 0 and self.memory_limit_mb >= 0,
           "train.microbatch_size and train.memory_limit_mb must be >= 0 (0 = automatic)")
    _check(self.fewshot_every >= 0 and self.flores_every >= 0,
           "train.fewshot_every and train.flores_every must be >= 0 (0 = off)")
    _check(self.fewshot_qa_facts >= 1, "train.fewshot_qa_facts must be >= 1")
    _check(self.fewshot_blimp_pairs >= 0 and self.fewshot_flores_lines >= 0,
           "train.fewshot_blimp_pairs and train.fewshot_flores_lines must be >= 0")


@dataclasses.dataclass(frozen=True)
class MeshConfig:
  data: int = -1  # -1: all remaining devices
  fsdp: int = 1
  tensor: int = 1
  expert: int = 1  # MoE experts split over this axis; the batch too (expert parallelism)
  # (logical axis, mesh axes) pairs: how named array dimensions map onto the mesh.
  rules: tuple[tuple[str, Any], ...] = DEFAULT_RULES


@dataclasses.dataclass(frozen=True)
class Config:
  name: str
  workdir: str
  seed: int
  model: ModelConfig
  data: DataConfig
  optim: OptimConfig
  train: TrainConfig
  mesh: MeshConfig


SOURCE_KINDS = ("text", "leipzig", "tfds")


def parse_sources(spec: str) -> tuple[tuple[str, str, float], ...]:
  """'kind:spec[:weight],...' -> ((kind, spec, weight), ...); ConfigError when malformed."""
  out = []
  for item in filter(None, (x.strip() for x in spec.split(","))):
    kind, _, rest = item.partition(":")
    weight = 1.0
    head, sep, tail = rest.rpartition(":")
    if sep:
      try:
        weight, rest = float(tail), head
      except ValueError:
        pass  # a ':' inside the spec itself
    _check(kind in SOURCE_KINDS and bool(rest),
           f"data.sources entry {item!r}: expected kind:spec[:weight] with kind one of "
           f"{SOURCE_KINDS}")
    _check(weight > 0, f"data.sources entry {item!r}: weight must be positive")
    out.append((kind, rest, weight))
  return tuple(out)


def _build(cls, section: Mapping[str, Any], prefix: str):
  """cls(**section) with nested dataclass fields built from their dicts."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(section) - set(fields))
  if unknown:
    raise ConfigError(f"unknown config keys {', '.join(prefix + k for k in unknown)}")
  kwargs = dict(section)
  for name, value in kwargs.items():
    default = fields[name].default
    if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
      kwargs[name] = _build(type(default), value, f"{prefix}{name}.")
  return cls(**kwargs)


def _rules(rules) -> tuple[tuple[str, Any], ...]:
  return tuple((str(name), tuple(ax) if isinstance(ax, list) else ax) for name, ax in rules)


def _as_dict(instance) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dataclasses.asdict(instance))


def default_config() -> ml_collections.ConfigDict:
  """Every field with its default; configs/*.py start from this and override."""
  c = ml_collections.ConfigDict()
  c.name = "run"
  c.workdir = ""  # empty: runs/<name>
  c.seed = 0
  c.model = _as_dict(ModelConfig())
  c.data = _as_dict(DataConfig())
  c.optim = _as_dict(OptimConfig())
  c.train = _as_dict(TrainConfig())
  c.mesh = _as_dict(MeshConfig())
  return c


def override_args(overrides: Mapping[str, Any] | Sequence[str]) -> list[str]:
  """{'model.d_model': 64} or ['model.d_model=64'] -> ['--config.model.d_model=64']."""
  if isinstance(overrides, Mapping):
    overrides = [f"{k}={v}" for k, v in overrides.items()]
  out = []
  for item in overrides:
    key, sep, _ = item.partition("=")
    if not sep or not key:
      raise ConfigError(f"config override {item!r}: expected key=value")
    out.append(f"--config.{item}")
  return out


def load(path: str | os.PathLike, overrides: Mapping[str, Any] | Sequence[str] = ()
         ) -> ml_collections.ConfigDict:
  """A configs/*.py file with `key=value` overrides, parsed exactly as the commands parse
  `--config=path --config.key=value` (ml_collections config_flags), so a notebook, a test
  and an experiment driver get the config a command line would."""
  if not pathlib.Path(path).is_file():
    raise ConfigError(f"config file {str(path)!r} does not exist")
  args = override_args(overrides)
  argv = ["llmjax", f"--config={path}", *args]
  values = flags.FlagValues()
  holder = config_flags.DEFINE_config_file("config", None, "config file", flag_values=values,
                                           lock_config=True, sys_argv=argv)
  try:
    values(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    bad = unknown_keys(load(path), [a[len("--config."):].split("=", 1)[0] for a in args]) \
        if args else []
    raise ConfigError(f"unknown config keys {', '.join(bad)}" if bad
                      else config_error_message(e)) from None
  return holder.value


def config_error_message(e: BaseException) -> str:
  """One line from ml_collections' override errors (they carry quotes and newlines)."""
  return " ".join(errors.flag_error_message(e).split())


def unknown_keys(cfg: ml_collections.ConfigDict, keys: Sequence[str]) -> list[str]:
  """The override keys that name no config field, each with a 'did you mean' when a close
  name exists."""
  problems = []
  for key in keys:
    node, parts = cfg, key.split(".")
    for i, part in enumerate(parts):
      if isinstance(node, ml_collections.ConfigDict) and part in node:
        node = node[part]
        continue
      prefix = ".".join(parts[:i])
      options = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      close = difflib.get_close_matches(part, options, n=1)
      fixed = ".".join(filter(None, [prefix, *close, *parts[i + 1:]]))
      hint = f" (did you mean {fixed}?)" if close else ""
      problems.append(f"{key}{hint}")
      break
  return problems


def parse_command_line(argv: Sequence[str]) -> list[str]:
  """A command's flag parsing (errors.run's flags_parser for commands with --config): a
  misspelt --config.* key or a missing config file is one error line with a suggestion."""
  path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
  if path and not pathlib.Path(path).is_file():  # config_flags would only defer the error
    errors.fail(f"config file {path!r} does not exist")
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError, OSError) as e:
    keys = [a[len("--config."):].split("=", 1)[0] for a in argv if a.startswith("--config.")]
    try:
      bad = unknown_keys(load(path), keys) if path else []
    except ConfigError:
      bad = []
    if bad:
      errors.fail(f"unknown config key{'s' if len(bad) > 1 else ''} --config.{', --config.'.join(bad)}")
    errors.fail(config_error_message(e))
  return []  # not reached


def from_config(cfg: ml_collections.ConfigDict | Mapping[str, Any]) -> Config:
  """Validates the ml_collections config and returns the frozen dataclass tree."""
  d = cfg.to_dict() if isinstance(cfg, ml_collections.ConfigDict) else dict(cfg)
  mesh = dict(d.get("mesh", {}))
  mesh["rules"] = _rules(mesh.get("rules") or DEFAULT_RULES)
  config = Config(
      name=str(d.get("name", "run")),
      workdir=str(d.get("workdir") or f"runs/{d.get('name', 'run')}"),
      seed=int(d.get("seed", 0)),
      model=_build(ModelConfig, d.get("model", {}), "model."),
      data=_build(DataConfig, d.get("data", {}), "data."),
      optim=_build(OptimConfig, d.get("optim", {}), "optim."),
      train=_build(TrainConfig, d.get("train", {}), "train."),
      mesh=_build(MeshConfig, mesh, "mesh."),
  )
  _check(config.data.seq_len <= config.model.max_seq_len,
         f"data.seq_len={config.data.seq_len} exceeds model.max_seq_len="
         f"{config.model.max_seq_len}")
  return config


def model_config_from_dict(d: Mapping[str, Any]) -> ModelConfig:
  """Rebuilds a ModelConfig saved in a checkpoint's metadata."""
  return _build(ModelConfig, d, "model.")


# Keys a resumed run may change: they alter neither the model's shapes nor the data order.
RESUMABLE_CHANGES = ("name", "workdir", "seed", "optim.", "train.", "mesh.", "model.remat",
                     "model.scan_unroll", "model.attention_impl", "model.dropout",
                     "model.dtype", "data.max_val_rows")


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, Mapping):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
  return out


def resume_changes(saved: Mapping[str, Any], current: Mapping[str, Any],
                   allowed_keys: Sequence[str] = RESUMABLE_CHANGES
                   ) -> tuple[list[str], list[str]]:
  """(refused, allowed): the keys whose values differ between a checkpoint's config and the
  current one, as 'key (old -> new)'. Refused keys change the model's shapes or the data
  order; allowed ones (allowed_keys: prefixes, RESUMABLE_CHANGES by default) are learning
  rates, cadences and the like."""
  # Through JSON, as the checkpoint stored it: tuples and lists compare equal.
  old, new = (_flat(json.loads(json.dumps(c))) for c in (saved, current))
  refused, allowed = [], []
  for key in sorted(set(old) | set(new)):
    if old.get(key) == new.get(key):
      continue
    change = f"{key} ({old.get(key)!r} -> {new.get(key)!r})"
    (allowed if key.startswith(tuple(allowed_keys)) else refused).append(change)
  return refused, allowed


def upgrade_saved(d: Mapping[str, Any]) -> dict[str, Any]:
  """A config stored in an older checkpoint, in today's keys: the flat model.moe_* fields
  nested under model.moe, model.scan_layers (always on) and optim.grad_accum (now chosen
  per device, train.microbatch_size) dropped."""
  d = json.loads(json.dumps(d))  # a deep copy
  model, optim = d.get("model", {}), d.get("optim", {})
  moe = model.setdefault("moe", {})
  for key in [k for k in model if k.startswith("moe_")]:
    moe[key[len("moe_"):]] = model.pop(key)
  model.pop("scan_layers", None)
  optim.pop("grad_accum", None)
  return d
