"""llmjax parameters and tokenizer -> Hugging Face `LlamaForCausalLM` / `Qwen3ForCausalLM` /
`MixtralForCausalLM`.

Only what maps exactly is exported. A dense llmjax model is a LLaMA: pre-norm RMSNorm, RoPE
in the half-split layout (dimension i rotates with i + H/2, HF's `rotate_half`), SwiGLU,
grouped-query attention, no biases. With QK-norm it is a Qwen3 (a LLaMA plus an RMSNorm
over each query / key head, weight times normalised x, before RoPE: exactly llmjax's
`q_norm` / `k_norm`). A mixture-of-experts model is a Mixtral when every
layer is MoE with softmax routing, top-k weights renormalised, no shared expert and
dropless dispatch (Mixtral: softmax over experts, top-k, renormalise; never drops).
Variants that would compute something else in transformers are refused with a ConfigError
naming the setting (see `unsupported`).

Weight layout: llmjax keeps per-head tensors (wq_DNH, wo_NHD, ...) stacked over layers
([L, ...]); HF keeps one torch Linear per projection with weight [out, in], the head index
outer in `out` (q_proj output reshaped to [N, H]). So wq_DNH -> reshape [D, N*H] -> transpose.

No torch needed here: arrays are numpy and written with safetensors' numpy API.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Callable

import numpy as np

from llmjax import model
from llmjax.config import Config, ModelConfig, from_config, upgrade_saved
from llmjax.errors import ConfigError
from llmjax.paths import atomic_directory
from llmjax.tokenizer import Tokenizer
from llmjax.training import checkpoint, restore

# ModelConfig fields that either map onto LlamaConfig / MixtralConfig or only affect
# training / speed. MoE fields are checked by _moe_unsupported when moe.experts > 0.
_MAPPED_OR_TRAINING_ONLY = {
    "vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff",
    "rope_theta", "tie_embeddings", "norm_eps", "max_seq_len",
    "dropout", "dtype", "param_dtype", "remat", "scan_unroll", "attention_impl", "init_std",
    "zero_init_out",
    "moe", "global_every", "qk_norm",
}
# Why the variants LLaMA / Mixtral cannot express are refused, by field.
_REASONS = {
    "sliding_window": "sliding-window attention (LLaMA attends globally; a local/global layer "
                      "pattern has no LLaMA equivalent)",
    "attn_logit_softcap": "attention logit soft-capping has no LLaMA equivalent",
    "final_logit_softcap": "final logit soft-capping has no LLaMA equivalent",
    "position_embedding": "learned absolute position embeddings (LLaMA uses RoPE only)",
}


def unsupported(cfg: ModelConfig) -> list[str]:
  """Reasons this model cannot be exported exactly; empty when it can.

  Any ModelConfig field not known to map is compared with its default, so a variant added
  later is refused until someone maps it, instead of being exported wrongly.
  """
  reasons = []
  default = ModelConfig()
  for f in dataclasses.fields(cfg):
    if f.name in _MAPPED_OR_TRAINING_ONLY:
      continue
    value = getattr(cfg, f.name)
    if value != getattr(default, f.name):
      reasons.append(f"model.{f.name}={value!r}: "
                     + _REASONS.get(f.name, "not mapped to a Hugging Face equivalent"))
  return reasons + _moe_unsupported(cfg)


def _moe_unsupported(cfg: ModelConfig) -> list[str]:
  if not cfg.moe.experts:
    return []
  checks = [
      (not cfg.qk_norm, "model.qk_norm=True: Mixtral has no QK-norm"),
      (cfg.moe.every == 1, f"model.moe.every={cfg.moe.every}: Mixtral has experts in every "
                           "layer, not a dense/MoE pattern"),
      (not cfg.moe.shared_expert, "model.moe.shared_expert=True: Mixtral has no shared expert"),
      (cfg.moe.gating == "softmax", f"model.moe.gating={cfg.moe.gating!r}: Mixtral routes "
                                    "with a softmax"),
      (cfg.moe.renormalize, "model.moe.renormalize=False: Mixtral renormalises the top-k "
                            "weights"),
      (cfg.moe.dispatch == "dropless", f"model.moe.dispatch={cfg.moe.dispatch!r}: capacity "
                                       "dispatch drops tokens, Mixtral never does"),
  ]
  return [why for ok, why in checks if not ok]


def check_exportable(cfg: ModelConfig) -> None:
  reasons = unsupported(cfg)
  if reasons:
    raise ConfigError(f"cannot export to Hugging Face {architecture(cfg)} without changing "
                      "what the model computes: " + "; ".join(reasons))


def architecture(cfg: ModelConfig) -> str:
  if cfg.moe.experts:
    return "MixtralForCausalLM"
  return "Qwen3ForCausalLM" if cfg.qk_norm else "LlamaForCausalLM"


_MODEL_TYPE = {"MixtralForCausalLM": "mixtral", "Qwen3ForCausalLM": "qwen3",
               "LlamaForCausalLM": "llama"}


def hf_config(cfg: ModelConfig, tok: Tokenizer, torch_dtype: str = "float32"
              ) -> dict[str, Any]:
  """config.json for transformers' LlamaForCausalLM, Qwen3ForCausalLM or MixtralForCausalLM."""
  check_exportable(cfg)
  config = {
      "architectures": [architecture(cfg)],
      "model_type": _MODEL_TYPE[architecture(cfg)],
      "vocab_size": cfg.vocab_size,
      "hidden_size": cfg.d_model,
      "intermediate_size": cfg.d_ff,
      "num_hidden_layers": cfg.n_layers,
      "num_attention_heads": cfg.n_heads,
      "num_key_value_heads": cfg.n_kv_heads,
      "head_dim": cfg.head_dim,
      "hidden_act": "silu",
      "max_position_embeddings": cfg.max_seq_len,
      "rms_norm_eps": cfg.norm_eps,
      # Both spellings: transformers >= 5 reads rope_parameters, older versions rope_theta.
      "rope_theta": cfg.rope_theta,
      "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
      "attention_bias": False,
      "attention_dropout": 0.0,
      "mlp_bias": False,
      "tie_word_embeddings": cfg.tie_embeddings,
      "initializer_range": cfg.init_std,
      "pad_token_id": tok.pad_id,
      "bos_token_id": tok.bos_id,
      "eos_token_id": tok.eos_id,
      "torch_dtype": torch_dtype,
      "dtype": torch_dtype,
      "use_cache": True,
  }
  if cfg.moe.experts:
    config.update({
        "intermediate_size": cfg.expert_d_ff, "num_local_experts": cfg.moe.experts,
        "num_experts_per_tok": cfg.moe.top_k, "router_jitter_noise": 0.0,
        "router_aux_loss_coef": cfg.moe.aux_loss_weight, "output_router_logits": False,
        "sliding_window": None})
    for key in ("attention_bias", "mlp_bias"):
      del config[key]
  elif cfg.qk_norm:  # Qwen3: every layer global, no MLP bias setting
    config.update({"use_sliding_window": False, "sliding_window": None,
                   "max_window_layers": cfg.n_layers,
                   "layer_types": ["full_attention"] * cfg.n_layers})
    del config["mlp_bias"]
  return config


def _linear(w_in_out: np.ndarray) -> np.ndarray:
  """[in..., out...] flattened to torch Linear's [out, in]."""
  return np.ascontiguousarray(w_in_out.T)


def hf_state_dict(params: Any, cfg: ModelConfig, dtype: str = "float32"
                  ) -> dict[str, np.ndarray]:
  """HF tensor names -> numpy arrays. `params`: the plain (unboxed) parameter tree."""
  check_exportable(cfg)
  D, N, K, H = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
  p = _numpy_tree(params)
  used: set[tuple[str, ...]] = set()

  def take(*path: str) -> np.ndarray:
    node = p
    for name in path:
      if not isinstance(node, dict) or name not in node:
        raise ConfigError(f"parameter {'/'.join(path)} not found: this checkpoint's layout "
                          "is not the LLaMA / Qwen3 / Mixtral layout the exporter knows")
      node = node[name]
    used.add(path)
    return node

  out = {"model.embed_tokens.weight": take("embedding"),
         "model.norm.weight": take("final_norm", "scale")}
  if not cfg.tie_embeddings:
    out["lm_head.weight"] = _linear(take("unembedding"))  # [D, V] -> [V, D]
  per_layer: dict[str, tuple[tuple[str, ...], Callable[[np.ndarray], np.ndarray]]] = {
      "input_layernorm.weight": (("attn_norm", "scale"), lambda w: w),
      "self_attn.q_proj.weight": (("attn", "wq"), lambda w: _linear(w.reshape(D, N * H))),
      "self_attn.k_proj.weight": (("attn", "wk"), lambda w: _linear(w.reshape(D, K * H))),
      "self_attn.v_proj.weight": (("attn", "wv"), lambda w: _linear(w.reshape(D, K * H))),
      "self_attn.o_proj.weight": (("attn", "wo"), lambda w: _linear(w.reshape(N * H, D))),
      "post_attention_layernorm.weight": (("mlp_norm", "scale"), lambda w: w),
  }
  if cfg.qk_norm:  # [H] per head, shared by all heads in both
    per_layer.update({"self_attn.q_norm.weight": (("attn", "q_norm", "scale"), lambda w: w),
                      "self_attn.k_norm.weight": (("attn", "k_norm", "scale"), lambda w: w)})
  if cfg.moe.experts:
    per_layer.update({
        "mlp.gate.weight": (("moe", "router"), _linear),  # [D, E] -> [E, D]
        "mlp.experts.down_proj": (("moe", "down"), lambda w: w.transpose(0, 2, 1)),
    })
  else:
    per_layer.update({
        "mlp.gate_proj.weight": (("mlp", "gate"), _linear),
        "mlp.up_proj.weight": (("mlp", "up"), _linear),
        "mlp.down_proj.weight": (("mlp", "down"), _linear),
    })

  def stacked(*path: str) -> np.ndarray:
    w = take("layers", *path)
    if w.shape[0] != cfg.n_layers:
      raise ConfigError(f"layers/{'/'.join(path)} has {w.shape[0]} layers, config says "
                        f"{cfg.n_layers}")
    return w

  for hf_name, (path, convert) in per_layer.items():
    w = stacked(*path)
    for i in range(cfg.n_layers):
      out[f"model.layers.{i}.{hf_name}"] = convert(w[i])
  if cfg.moe.experts:  # Mixtral fuses gate and up: gate_up_proj [E, 2F, D]
    gate, up = stacked("moe", "gate"), stacked("moe", "up")
    for i in range(cfg.n_layers):
      out[f"model.layers.{i}.mlp.experts.gate_up_proj"] = np.concatenate(
          [gate[i].transpose(0, 2, 1), up[i].transpose(0, 2, 1)], axis=1)

  left = sorted("/".join(k) for k in _leaf_paths(p) if k not in used)
  if left:
    raise ConfigError(f"parameters {left[:5]} have no place in {architecture(cfg)}; refusing "
                      "to export a model that would compute differently")
  return {k: np.ascontiguousarray(v.astype(dtype)) for k, v in out.items()}


def _numpy_tree(params: Any) -> Any:
  import flax.linen as nn  # noqa: PLC0415 (keep module import light)
  import jax

  params = jax.device_get(nn.unbox(params))
  return jax.tree.map(lambda x: np.asarray(x, np.float32), _to_dict(params))


def _to_dict(tree: Any) -> Any:
  if hasattr(tree, "items"):
    return {k: _to_dict(v) for k, v in tree.items()}
  return tree


def _leaf_paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
  if isinstance(tree, dict):
    return [p for k, v in tree.items() for p in _leaf_paths(v, prefix + (k,))]
  return [prefix]


# --- tokenizer ----------------------------------------------------------------------------


def hf_tokenizer_json(tok: Tokenizer) -> str:
  """The SentencePiece model as a `tokenizers` pipeline that encodes like llmjax.

  Same vocabulary and ids; Metaspace without a dummy prefix (llmjax trains with
  add_dummy_prefix=False and identity normalisation); byte fallback; user-defined pieces as
  non-special added tokens (matched whole, as SentencePiece does). Control and byte pieces
  get a score below every normal piece so that plain text never selects them. BOS is added
  by the post-processor, as llmjax does for scoring and generation. Known differences:
  see `TOKENIZER_DIFFERENCES`.
  """
  from sentencepiece import sentencepiece_model_pb2 as pb  # noqa: PLC0415
  from tokenizers import AddedToken, Tokenizer as HFTokenizer, decoders, models, \
      pre_tokenizers, processors  # noqa: PLC0415

  proto = pb.ModelProto()
  proto.ParseFromString(tok.model_proto)
  T = pb.ModelProto.SentencePiece
  pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
  model_type = pb.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type)
  if model_type == "UNIGRAM":
    lowest = min(s for _, s, t in pieces if t == T.NORMAL) - 1000.0
    vocab = [(piece, score if t in (T.NORMAL, T.USER_DEFINED) else lowest)
             for piece, score, t in pieces]
    model = models.Unigram(vocab, unk_id=tok.unk_id, byte_fallback=True)
  elif model_type == "BPE":
    normal = {piece: i for i, (piece, _, t) in enumerate(pieces) if t == T.NORMAL}
    # SentencePiece BPE merges the pair whose union is the highest-ranked piece (lowest
    # id): the same order as merges sorted by the merged piece's id.
    merges = sorted((normal[piece], normal[piece[:k]], normal[piece[k:]])
                    for piece in normal for k in range(1, len(piece))
                    if piece[:k] in normal and piece[k:] in normal)
    model = models.BPE({piece: i for i, (piece, _, _) in enumerate(pieces)},
                       [(pieces[a][0], pieces[b][0]) for _, a, b in merges],
                       unk_token=pieces[tok.unk_id][0], fuse_unk=True, byte_fallback=True)
  else:
    raise ConfigError(f"SentencePiece model type {model_type} cannot be exported")
  hf = HFTokenizer(model)
  hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never",
                                              split=True)
  hf.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                  decoders.Fuse()])
  hf.add_tokens([AddedToken(piece, normalized=False, special=False)
                 for piece, _, t in pieces if t == T.USER_DEFINED])
  bos = pieces[tok.bos_id][0]
  hf.post_processor = processors.TemplateProcessing(
      single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.bos_id)])
  return hf.to_str()


TOKENIZER_DIFFERENCES = (
    "Text that literally contains U+2581 ('▁'): llmjax encodes it as three byte pieces, the "
    "Hugging Face tokenizer as a space. Text that literally spells a special piece ('<s>', "
    "'</s>', '<pad>', '<unk>') or a byte piece ('<0x41>'): Hugging Face reads it as that "
    "token, SentencePiece as characters.")


def tokenizer_config(tok: Tokenizer, max_len: int) -> dict[str, Any]:
  piece = tok.id_to_piece
  return {
      "tokenizer_class": "PreTrainedTokenizerFast",
      "bos_token": piece(tok.bos_id), "eos_token": piece(tok.eos_id),
      "pad_token": piece(tok.pad_id), "unk_token": piece(tok.unk_id),
      "add_bos_token": True, "add_eos_token": False,
      "clean_up_tokenization_spaces": False,
      "model_max_length": max_len,
  }


def special_tokens_map(tok: Tokenizer) -> dict[str, str]:
  piece = tok.id_to_piece
  return {"bos_token": piece(tok.bos_id), "eos_token": piece(tok.eos_id),
          "pad_token": piece(tok.pad_id), "unk_token": piece(tok.unk_id)}


def generation_config(tok: Tokenizer) -> dict[str, Any]:
  return {"bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id,
          "pad_token_id": tok.pad_id}


def to_json(d: dict) -> str:
  return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


# --- the exported folder ---------------------------------------------------------------


def check_workdir(workdir: str | os.PathLike, which: str = "auto") -> Config:
  """The checkpoint's config, after refusing variants HF cannot reproduce (cheap: no
  parameters are read)."""
  cfg = from_config(upgrade_saved(checkpoint.find(workdir, which).meta["config"]))
  check_exportable(cfg.model)
  return cfg


def export_hf_dir(workdir: str | os.PathLike, out: str | os.PathLike, *,
                  which: str = "auto", dtype: str = "float32",
                  eval_json_files: tuple[str, ...] = ()) -> pathlib.Path:
  """Writes the Hugging Face folder (all files or none) and returns its path:

  model.safetensors   weights in LlamaForCausalLM / MixtralForCausalLM names and layout
  config.json, generation_config.json
  tokenizer.json, tokenizer_config.json, special_tokens_map.json   for AutoTokenizer
  tokenizer.model     the SentencePiece model itself (exact llmjax tokenisation)
  README.md           model card: architecture, evaluation table, usage, caveats
  """
  try:  # the `export` extra
    import tokenizers  # noqa: F401, PLC0415
    from safetensors.numpy import save_file  # noqa: PLC0415
  except ImportError as e:
    raise ConfigError(f"the Hugging Face export needs the export extra ({e}): "
                      "pip install -e \".[export]\"") from e

  out = pathlib.Path(out)
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise ConfigError(f"--out={str(out)!r} exists and is not empty: choose a new folder")
  check_workdir(workdir, which)
  loaded = restore.load(workdir, which)
  cfg, tok = loaded.cfg, loaded.tokenizer
  tensors = hf_state_dict(loaded.params, cfg.model, dtype=_numpy_dtype(dtype))
  evals = [_eval_row(pathlib.Path(f), loaded.step) for f in eval_json_files]
  val = loaded.meta.get("val_bits_per_char")

  with atomic_directory(out) as tmp:
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    files = {
        "config.json": to_json(hf_config(cfg.model, tok, dtype)),
        "generation_config.json": to_json(generation_config(tok)),
        "tokenizer.json": hf_tokenizer_json(tok),
        "tokenizer_config.json": to_json(tokenizer_config(tok, cfg.model.max_seq_len)),
        "special_tokens_map.json": to_json(special_tokens_map(tok)),
        "README.md": model_card(cfg, loaded.step, loaded.params, tok.bos_id, val, evals),
    }
    for name, text in files.items():
      (tmp / name).write_text(text, encoding="utf-8")
    (tmp / "tokenizer.model").write_bytes(tok.model_proto)
  return out


def _numpy_dtype(dtype: str):
  if dtype == "bfloat16":
    import ml_dtypes  # ships with jax  # noqa: PLC0415
    return ml_dtypes.bfloat16
  return dtype


def _eval_row(path: pathlib.Path, step: int) -> dict[str, Any]:
  """One `python -m llmjax.evaluate` result, checked to be of the exported checkpoint."""
  try:
    result = json.loads(path.read_text(encoding="utf-8"))
    row = {"data": pathlib.Path(result["text_file"]).name, "lines": int(result["lines"]),
           "bits_per_char": float(result["bits_per_char"]),
           "bits_per_byte": float(result["bits_per_byte"]), "step": int(result["step"])}
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ConfigError(f"--eval_json={str(path)!r} is not the JSON printed by "
                      f"`python -m llmjax.evaluate`: {e}") from e
  if row["step"] != step:
    raise ConfigError(f"--eval_json={str(path)!r} scored step {row['step']} but the export "
                      f"is of step {step}: evaluate the same --checkpoint")
  return row


def model_card(cfg: Config, step: int, params: Any, bos_id: int, val_bpc: float | None,
               evals: list[dict[str, Any]]) -> str:
  """README.md for the exported folder (Hugging Face model card with YAML front matter)."""
  m = cfg.model
  n = model.count_params(params)
  rows = []
  if val_bpc is not None:
    rows.append(f"| held-out split of the training text (validation) | — | {val_bpc:.4f} | — |")
  rows += [f"| `{e['data']}` | {e['lines']} | {e['bits_per_char']:.4f} | "
           f"{e['bits_per_byte']:.4f} |" for e in evals]
  table = "\n".join(rows) if rows else "| (no evaluation recorded) | | | |"
  ffn = (f"{m.moe.experts} experts of {m.expert_d_ff}, top {m.moe.top_k} per token"
         if m.moe.experts else str(m.d_ff))
  return f"""---
language:
- tt
library_name: transformers
pipeline_tag: text-generation
tags:
- llmjax
- {_MODEL_TYPE[architecture(m)]}
---

# {cfg.name}

A small decoder-only language model trained from scratch with
llmjax (JAX/Flax), exported at training step {step} as a
`{architecture(m)}`: {n['total'] / 1e6:.2f}M parameters ({n['non_embedding'] / 1e6:.2f}M
without embeddings).

| setting | value |
|---|---|
| layers | {m.n_layers} |
| model width | {m.d_model} |
| attention heads (query / key-value) | {m.n_heads} / {m.n_kv_heads}, head size {m.head_dim} |
| feed-forward (SwiGLU) | {ffn} |
| vocabulary (SentencePiece) | {m.vocab_size} |
| context trained on | {cfg.data.seq_len} tokens (max {m.max_seq_len}) |
| RoPE theta | {m.rope_theta:g} |
| tied input / output embeddings | {m.tie_embeddings} |

## Evaluation

Bits per character: every non-empty line is scored on its own from the BOS token,
including its closing EOS token; summed bits / summed characters (lower is better;
comparable across tokenizers). Computed by llmjax before export.

| data | lines | bits/char | bits/byte |
|---|---|---|---|
{table}

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForCausalLM.from_pretrained("PATH")
ids = tok("Казан шәһәре", return_tensors="pt")  # BOS is added, as in training
out = model.generate(**ids, max_new_tokens=40, do_sample=False)
print(tok.decode(out[0], skip_special_tokens=True))
```

The tokenizer gives the same ids as llmjax's SentencePiece tokenizer (`tokenizer.model`,
identity normalisation, byte fallback) except in two rare cases: {TOKENIZER_DIFFERENCES}
For exact llmjax tokenisation use `sentencepiece.SentencePieceProcessor(model_file=
"tokenizer.model")` and prepend the BOS id {bos_id}.

## Training data and license

Trained on the text in `{cfg.data.text_dir}`. State the sources and licenses of that text
here before publishing; the model inherits their terms.
"""
