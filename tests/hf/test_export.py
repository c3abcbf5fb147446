"""Hugging Face export: transformers + torch (CPU) reproduce llmjax's logits and greedy text.

Needs the `export` extra (`pip install -e ".[export]"`); skipped cleanly without it.
"""

import dataclasses
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flax.linen as nn

from llmjax import paths
from llmjax.config import ModelConfig, MoeConfig
from llmjax.errors import ConfigError
from llmjax.hf import export as export_hf
from llmjax.model import abstract_params
from llmjax.model.decode import generate
from llmjax.tokenizer import spm
from llmjax.training import checkpoint, loop, restore
from tests.fixture_text import fixture_lines
from tests.helpers import micro_config

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

PROMPTS = ["Казан шәһәре", "Мин китап укыйм.", "Әминә Чаллыга бара"]


def _write_workdir(workdir, tie: bool, model_type: str, **overrides):
  """A workdir as training leaves it (best checkpoint + tokenizer), with random parameters.

  Every parameter, norm scales included, is drawn at random so that a wrong transpose,
  head order or norm mapping changes the logits; no training needed.
  """
  cfg, d = micro_config(workdir=str(workdir), model__tie_embeddings=tie,
                        data__tokenizer_model_type=model_type, **overrides)
  tok = spm.train_tokenizer(fixture_lines(), vocab_size=cfg.model.vocab_size,
                            model_type=model_type, out_path=workdir / "tokenizer.model")
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map_with_path(  # numpy: no jax compilation needed
      lambda path, a: (1.0 if "scale" in jax.tree_util.keystr(path) else 0.0)
      + 0.2 * rng.standard_normal(a.shape, np.float32),
      nn.unbox(abstract_params(cfg.model)))
  ckpt = checkpoint.Checkpointer(workdir)
  ckpt.save_best(7, params, loop.run_meta(d, cfg, tok, 7, val_bits_per_char=3.25))
  ckpt.close()


@pytest.fixture(scope="module")
def _cases(tmp_path_factory):
  return {}


@pytest.fixture(scope="module", params=[
    True, "qk_norm", pytest.param(False, marks=pytest.mark.slow),
    pytest.param("moe", marks=pytest.mark.slow)], ids=["tied", "qk_norm", "untied", "moe"])
def exported(request, _cases, tmp_path_factory):
  """(loaded llmjax model, exported folder): tied embeddings + BPE (LLaMA), the same with
  QK-norm (Qwen3), untied + unigram, and a mixture-of-experts model (Mixtral: 4 experts,
  top 2, every layer)."""
  if request.param not in _cases:
    _cases[request.param] = _export_case(request.param, tmp_path_factory)
  return _cases[request.param]


@pytest.fixture(scope="module")
def tied_export(_cases, tmp_path_factory):
  if True not in _cases:
    _cases[True] = _export_case(True, tmp_path_factory)
  return _cases[True]


def _export_case(kind, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("export")
  if kind == "moe":
    _write_workdir(tmp / "run", tie=True, model_type="bpe", model__moe__experts=4,
                   model__moe__top_k=2, model__moe__d_ff=48)
  elif kind == "qk_norm":
    _write_workdir(tmp / "run", tie=True, model_type="bpe", model__qk_norm=True)
  else:
    _write_workdir(tmp / "run", tie=kind, model_type="bpe" if kind else "unigram")
  loaded = restore.load(tmp / "run")
  # What `python -m llmjax.evaluate` prints (the model card's table takes it as is).
  eval_json = tmp / "eval.json"
  eval_json.write_text(json.dumps({"text_file": "/x/tat_Cyrl.dev", "lines": 7, "step":
                                   loaded.step, "bits_per_char": 2.5, "bits_per_byte": 1.25}))
  out = export_hf.export_hf_dir(tmp / "run", tmp / "hf", eval_json_files=(str(eval_json),))
  return loaded, out


@pytest.fixture(scope="module")
def hf_model(exported):
  _, out = exported
  return transformers.AutoModelForCausalLM.from_pretrained(
      out, dtype=torch.float32).eval()


def _ids(loaded, text):
  return [loaded.tokenizer.bos_id] + loaded.tokenizer.encode(text)


def test_files_and_config(exported):
  loaded, out = exported
  names = sorted(p.name for p in out.iterdir())
  assert names == ["README.md", "config.json", "generation_config.json", "model.safetensors",
                   "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
                   "tokenizer_config.json"]
  config = json.loads((out / "config.json").read_text())
  m = loaded.cfg.model
  assert config["architectures"] == [export_hf.architecture(m)]
  assert config["architectures"] == (["MixtralForCausalLM"] if m.moe.experts else
                                     ["Qwen3ForCausalLM"] if m.qk_norm else
                                     ["LlamaForCausalLM"])
  assert (config["hidden_size"], config["num_key_value_heads"], config["head_dim"],
          config["tie_word_embeddings"]) == (m.d_model, m.n_kv_heads, m.head_dim,
                                             m.tie_embeddings)
  card = (out / "README.md").read_text()
  assert f"step {loaded.step}" in card
  assert "| `tat_Cyrl.dev` | 7 | 2.5000 | 1.2500 |" in card
  assert f"| {loaded.meta['val_bits_per_char']:.4f} |" in card
  assert (out / "tokenizer.model").read_bytes() == loaded.tokenizer.model_proto


def test_logits_match_in_fp32(exported, hf_model):
  loaded, _ = exported
  forward = jax.jit(lambda p, t: loaded.model.model.apply({"params": p}, t)[0])
  for ids in [_ids(loaded, p) for p in PROMPTS]:  # one row at a time: no padding to reconcile
    ours = forward(loaded.params, jnp.asarray([ids]))
    with torch.no_grad():
      theirs = hf_model(torch.tensor([ids])).logits.numpy()
    assert theirs.shape == (1, len(ids), loaded.cfg.model.vocab_size)
    np.testing.assert_allclose(theirs, np.asarray(ours), rtol=0, atol=1e-4)
    print(f"{len(ids)} tokens: max |logit difference| {np.abs(theirs - ours).max():.2e} "
          f"(logits span {float(np.ptp(ours)):.1f})")


def test_greedy_continuation_matches(exported, hf_model):
  loaded, _ = exported
  ids = _ids(loaded, PROMPTS[1])
  ours = generate(loaded.params, loaded.cfg.model, jnp.asarray([ids]), max_new_tokens=16,
                  rng=jax.random.key(0))
  with torch.no_grad():
    theirs = hf_model.generate(torch.tensor([ids]), max_new_tokens=16, min_new_tokens=16,
                               do_sample=False, eos_token_id=None, pad_token_id=0)
  assert theirs[0, len(ids):].tolist() == np.asarray(ours)[0].tolist()
  assert len(set(np.asarray(ours)[0].tolist())) >= 4  # not a trivial repeat of one token
  print("greedy continuation (both):", np.asarray(ours)[0].tolist())


def test_hf_tokenizer_loads_and_matches(exported):
  loaded, out = exported
  hf_tok = transformers.AutoTokenizer.from_pretrained(out)
  tok = loaded.tokenizer
  assert (hf_tok.bos_token_id, hf_tok.eos_token_id, hf_tok.pad_token_id) == (
      tok.bos_id, tok.eos_id, tok.pad_id)
  for text in PROMPTS + ["  два  пробела ", "эмодзи 🙂 һәм <|user|> сүз", "123 456"]:
    assert hf_tok(text)["input_ids"] == [tok.bos_id] + tok.encode(text), text
    assert hf_tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_tokenizer_json_matches_sentencepiece_on_tatar(model_type, tatar_fixture_dir,
                                                       shared_train_dir_or_none, tmp_path):
  """Same ids as SentencePiece on every line of Tatar text (the real corpus when present)."""
  from tokenizers import Tokenizer as HFTokenizer

  from llmjax.corpus.text import list_text_files, read_documents
  text_dir = shared_train_dir_or_none or tatar_fixture_dir
  docs = read_documents(list_text_files(text_dir))
  tok = spm.train_tokenizer(docs[:5000], vocab_size=512, model_type=model_type,
                            out_path=tmp_path / "t.model", max_sentences=5000, seed=0)
  hf = HFTokenizer.from_str(export_hf.hf_tokenizer_json(tok))
  sample = docs[::max(1, len(docs) // 2000)]
  mismatched = [d for d in sample
                if hf.encode(d, add_special_tokens=False).ids != tok.encode(d)]
  assert not mismatched, (len(mismatched), len(sample), mismatched[:3])
  assert len(sample) >= 100


@pytest.fixture
def shared_train_dir_or_none():
  found = paths.dev_train_dir()
  return found.resolve() if found is not None else None


@pytest.mark.parametrize("change, named", [
    (dict(moe=MoeConfig(experts=4), qk_norm=True), "qk_norm"),
    (dict(sliding_window=16, global_every=2), "sliding_window"),
    (dict(moe=MoeConfig(experts=4, every=2)), "moe.every"),
    (dict(moe=MoeConfig(experts=4, shared_expert=True)), "moe.shared_expert"),
    (dict(moe=MoeConfig(experts=4, gating="sigmoid")), "moe.gating"),
    (dict(moe=MoeConfig(experts=4, renormalize=False)), "moe.renormalize"),
    (dict(moe=MoeConfig(experts=4, dispatch="capacity")), "moe.dispatch"),
    (dict(attn_logit_softcap=30.0), "attn_logit_softcap"),
])
def test_variants_without_hf_equivalent_are_refused(change, named):
  if named.split(".")[0] not in {f.name for f in dataclasses.fields(ModelConfig)}:
    pytest.skip(f"model.{named} does not exist in this version")
  cfg = dataclasses.replace(ModelConfig(), **change)
  with pytest.raises(ConfigError, match=named):
    export_hf.check_exportable(cfg)
  assert export_hf.unsupported(ModelConfig()) == []


def test_command_line(tied_export, tmp_path):
  """The documented command, and its one-line error for a refused variant."""
  _, out = tied_export
  workdir = out.parent / "run"
  cmd = [sys.executable, "-m", "llmjax.export", f"--workdir={workdir}", "--format=hf"]
  run = subprocess.run(cmd + [f"--out={tmp_path / 'hf'}"], capture_output=True, text=True,
                       check=False)
  assert run.returncode == 0, run.stderr[-2000:]
  assert json.loads(run.stdout.strip().splitlines()[-1])["out"] == str(tmp_path / "hf")
  assert (tmp_path / "hf" / "model.safetensors").read_bytes() == (
      out / "model.safetensors").read_bytes()
  run = subprocess.run(cmd + [f"--out={out}"], capture_output=True, text=True, check=False)
  assert run.returncode == 2 and run.stderr.strip().splitlines()[-1].startswith(
      "error: --out=") and "not empty" in run.stderr, run.stderr[-2000:]


def test_refuses_non_empty_out_and_stale_eval(tied_export, tmp_path):
  (tmp_path / "x").write_text("keep me")
  with pytest.raises(ConfigError, match="not empty"):
    export_hf.export_hf_dir("unused", tmp_path)
  assert (tmp_path / "x").read_text() == "keep me"
  loaded, out = tied_export
  stale = tmp_path / "eval.json"
  stale.write_text(json.dumps({"text_file": "a", "lines": 1, "step": loaded.step + 1,
                               "bits_per_char": 1.0, "bits_per_byte": 1.0}))
  workdir = out.parent / "run"
  with pytest.raises(ConfigError, match="scored step"):
    export_hf.export_hf_dir(workdir, tmp_path / "new", eval_json_files=(str(stale),))
  assert not (tmp_path / "new").exists()
