"""The evaluation suite's scorers on hand-computed cases (stub log-likelihoods), the QA
benchmark file's shape, the leak check, and ModelScorer against the training loss."""

import json
import math

import jax
import numpy as np
import pytest

from llmjax import scoring, sharding
from llmjax.data import packing
from llmjax.errors import DataError
from llmjax.evals import blimp, bpc, leakcheck, qa, sib, tumlu
from llmjax.evals.loglik import ModelScorer, Request, Score
from llmjax.tokenizer import train_tokenizer
from llmjax.train_step import Trainer
from tests.fixture_text import fixture_lines
from tests.helpers import micro_config


def table_loglik(table):
  """A LoglikFn from {(context, continuation): logprob}; records the requests."""
  calls = []

  def fn(requests):
    calls.extend(requests)
    return [Score(table[(r.context, r.continuation)], 1, len(r.continuation)) for r in requests]
  fn.calls = calls
  return fn


def length_loglik(requests):
  """Shorter text = more likely: logprob = -len(continuation)."""
  return [Score(-float(len(r.continuation)), 1, len(r.continuation)) for r in requests]


# --- TatBLiMP -----------------------------------------------------------------------------

def test_blimp_accuracy_per_phenomenon():
  pairs = [{"good": "аб", "bad": "абв", "phenomenon": "x"},   # good shorter: right
           {"good": "абвг", "bad": "а", "phenomenon": "x"},   # good longer: wrong
           {"good": "аб", "bad": "вг", "phenomenon": "y"},    # tie: not counted as right
           {"good": "а", "bad": "аааа", "phenomenon": "y"}]   # right
  out = blimp.score(length_loglik, pairs)
  assert out["accuracy"] == 0.5 and out["chance"] == 0.5 and out["pairs"] == 4
  assert out["per_phenomenon"] == {"x": 0.5, "y": 0.5}


def test_blimp_scores_whole_sentences_with_eos():
  seen = []

  def fn(requests):
    seen.extend(requests)
    return length_loglik(requests)
  blimp.score(fn, [{"good": "Ул килде.", "bad": "Ул килдем."}])
  assert seen == [Request("", "Ул килде.", True), Request("", "Ул килдем.", True)]


# --- bits per character --------------------------------------------------------------------

def test_bpc_from_loglik_hand_computed():
  lines = ["абв", "гд"]  # 5 chars; "абв" and "гд" are 2 bytes per char in UTF-8
  fn = table_loglik({("", "абв"): -3 * math.log(2), ("", "гд"): -1 * math.log(2)})
  out = bpc.score(fn, lines)
  assert out["bits_per_char"] == pytest.approx(4 / 5)
  assert out["bits_per_byte"] == pytest.approx(4 / 10)
  assert all(r.add_eos for r in fn.calls)


# --- QA: chance levels, metrics, the three choice modes --------------------------------------

def _fact(fid, answer, n_prompts=4, n_cands=4, part="general", **extra):
  cands = [f"c{i}" for i in range(n_cands)]
  prompts = [{"kind": "question" if i == 0 else "cloze", "text": f"{fid} prompt {i} ___."}
             for i in range(n_prompts)]
  return {"id": fid, "part": part, "candidates": cands, "answer": answer, "prompts": prompts,
          **extra}


def test_qa_chance_levels_hand_computed():
  facts = [_fact("a", 0), _fact("b", 1, n_prompts=5, n_cands=5)]
  ch = qa.chance_levels(facts)
  assert ch["accuracy"] == pytest.approx((4 / 4 + 5 / 5) / 9)  # = 2/9 of 9 prompts
  assert ch["consistency"] == pytest.approx(((1 / 4) ** 3 + (1 / 5) ** 4) / 2)
  assert ch["consistent_and_correct"] == pytest.approx(((1 / 4) ** 4 + (1 / 5) ** 5) / 2)


def test_qa_metrics_hand_computed():
  facts = [_fact("a", 0), _fact("b", 1), _fact("c", 2)]
  choices = [[0, 0, 0, 0],  # consistent and correct
             [1, 1, 2, 1],  # 3/4 right, not consistent
             [3, 3, 3, 3]]  # consistent but wrong
  m = qa.metrics(facts, choices)
  assert m["accuracy"] == pytest.approx(7 / 12)
  assert m["consistency"] == pytest.approx(2 / 3)
  assert m["consistent_and_correct"] == pytest.approx(1 / 3)


def test_qa_modes_choose_differently():
  # One prompt "Q ___." with three candidates; the rest of the prompt (".") is scored too.
  fact = {"id": "f", "part": "general", "candidates": ["x", "yyyy", "zz"], "answer": 2,
          "prompts": [{"kind": "question", "text": "Q ___."}]}
  fn = table_loglik({("Q ", "x."): -4.0, ("", "x."): -1.0,        # raw best (-4)
                     ("Q ", "yyyy."): -5.0, ("", "yyyy."): -6.0,  # per char best (-1)
                     ("Q ", "zz."): -4.5, ("", "zz."): -9.0})     # PMI best (+4.5)
  choices = qa.choose([fact], fn)
  # prior: the continuation without the question, per char: x. -0.5, yyyy. -1.2, zz. -3
  assert choices == {"raw": [[0]], "per_char": [[1]], "pmi": [[2]], "prior": [[0]]}


def test_qa_fill_gives_inflected_forms():
  prompt = {"kind": "cloze", "text": "Хөкүмәт ___ эшли.", "fill": ["Казанда", "Уфада"]}
  reqs = qa.prompt_requests(prompt, ["Казан", "Уфа"])
  assert [r[0] for r in reqs] == [Request("Хөкүмәт ", "Казанда эшли."),
                                  Request("Хөкүмәт ", "Уфада эшли.")]
  assert reqs[0][1] == Request("", "Казанда эшли.")


def test_qa_score_end_to_end_with_stub():
  facts = [_fact("a", 0, part="corpus", source=[{"file": "t.txt", "line": 1}]),
           _fact("b", 3)]
  out = qa.score(length_loglik, facts)  # every candidate equally long: picks index 0
  assert out["modes"]["raw"] == {"accuracy": 0.5, "consistency": 1.0,
                                 "consistent_and_correct": 0.5}
  assert out["by_part"]["corpus"]["modes"]["raw"]["accuracy"] == 1.0
  assert out["by_part"]["general"]["modes"]["raw"]["accuracy"] == 0.0
  assert out["chance"]["accuracy"] == 0.25


def test_qa_greedy_answers_match_stems():
  facts = [_fact("a", 1), _fact("b", 2)]
  out = qa.greedy_answers(facts, lambda ps: [" C1 бит.", "c0"], n=2)
  assert [r["prompt"] for r in out] == ["a prompt 0 ", "b prompt 0 "]
  assert [r["match"] for r in out] == [True, False]


@pytest.mark.parametrize("bad,msg", [
    ({"candidates": ["a", "b", "c"]}, "candidates"),
    ({"prompts": [{"kind": "cloze", "text": "no blank"}] * 4}, "distinct prompts"),
    ({"part": "corpus"}, "source"),
    ({"answer": 7}, "answer"),
])
def test_qa_validation_errors(bad, msg):
  fact = {**_fact("a", 0), **bad}
  with pytest.raises(DataError, match=msg):
    qa.validate([fact])


def test_qa_benchmark_file_shape():
  facts = qa.load()
  assert len(facts) >= 80
  parts = {f["part"] for f in facts}
  assert parts == {"corpus", "general"}
  for f in facts:
    assert len(f["prompts"]) >= 4 and len(f["candidates"]) >= 4
    assert {p["kind"] for p in f["prompts"]} == {"question", "cloze"}, f["id"]
  # The right answer sits at different positions, so a position bias cannot score well.
  assert len({f["answer"] for f in facts}) == 4


def test_leakcheck_finds_a_planted_prompt(tmp_path):
  fact = {"id": "x", "part": "corpus", "source": [{"file": "a.txt", "line": 2}],
          "candidates": ["Пекин", "Токио", "Рим", "Париж"], "answer": 0,
          "prompts": [{"kind": "cloze", "text": "Кытайның башкаласы — ___ шәһәре."}]}
  (tmp_path / "a.txt").write_text("Беренче юл.\nМәсәлән, Кытайның башкаласы — Пекин шәһәре, "
                                  "диләр.\n", encoding="utf-8")
  out = leakcheck.check([fact], tmp_path)
  assert out["filled_prompts_in_training_text"] == 1 and out["bad_sources"] == []
  fact["source"] = [{"file": "a.txt", "line": 3}]
  fact["prompts"][0]["text"] = "Кытай башкаласы — ___."
  out = leakcheck.check([fact], tmp_path)
  assert out["filled_prompts_in_training_text"] == 0 and out["bad_sources"] == ["x: a.txt:3"]


def test_no_benchmark_prompt_is_in_the_training_text(shared_train_dir):
  out = leakcheck.check(qa.load(), shared_train_dir)
  assert out["leaked"] == [] and out["bad_sources"] == []


# --- SIB-200 and TUMLU ---------------------------------------------------------------------

def test_sib_shots_cover_labels_and_score():
  train = [{"category": c, "text": f"{c} {i}"} for c in sib.LABELS for i in range(3)]
  shots = sib.shots(train, 7)
  assert len(shots) == 7 and {s["category"] for s in shots} == set(sib.LABELS)
  test = [{"category": "sports", "text": "a"}, {"category": "sports", "text": "b"},
          {"category": "travel", "text": "c"}, {"category": "health", "text": "d"}]
  seen = []

  def prefers_sport(requests):
    seen.extend(requests)
    return [Score(0.0 if r.continuation == " спорт" else -1.0, 1, len(r.continuation))
            for r in requests]
  out = sib.score(prefers_sport, train, test, k=2)
  assert out["accuracy"] == {"raw": 0.5, "per_char": 0.5}
  assert out["chance"] == pytest.approx(1 / 7) and out["majority"] == 0.5
  assert len(seen) == 4 * 7 and seen[0].context.count("Текст:") == 3
  assert seen[0].context.endswith("Текст: a\nТема:")


def test_tumlu_five_shot_prompt_and_accuracy():
  dev = [{"question": f"d{i}", "choices": ["w", "x", "y", "z"], "answer": "A"}
         for i in range(6)]
  test = [{"question": "q1", "choices": ["w", "x", "y", "z"], "answer": "B"},
          {"question": "q2", "choices": ["w", "x", "y", "z"], "answer": "C"}]
  seen = []

  def prefers_b(requests):
    seen.extend(requests)
    return [Score(0.0 if r.continuation == " B" else -2.0, 1, 2) for r in requests]
  out = tumlu.score(prefers_b, {"Maths": (dev, test)})
  assert out["accuracy"] == 0.5 and out["per_subject"] == {"Maths": 0.5}
  ctx = seen[0].context
  assert ctx.count("Сорау:") == 6 and ctx.count("Җавап: A") == 5  # 5 shots + the question
  assert ctx.endswith("Сорау: q1\nA. w\nB. x\nC. y\nD. z\nҖавап:")


# --- ModelScorer against the model ---------------------------------------------------------

@pytest.fixture(scope="module")
def model_scorer():
  cfg, _ = micro_config(model__max_seq_len=64, data__seq_len=64)
  tok = train_tokenizer(fixture_lines(), vocab_size=cfg.model.vocab_size)
  trainer = Trainer(cfg, sharding.make_mesh(cfg.mesh))
  state = trainer.init_state(jax.random.key(3))
  return ModelScorer(trainer, state.params, tok, batch_size=8)


def test_loglik_bpc_equals_training_scorer(model_scorer):
  lines = [x for x in fixture_lines() if len(model_scorer.tok.encode(x)) < 60][:11]
  assert len(lines) == 11
  rows = packing.pack_documents(
      packing.tokenize_documents(model_scorer.tok, lines), 64,
      num_chars=sum(map(len, lines)), num_bytes=sum(len(x.encode()) for x in lines))
  ref = scoring.score_rows(model_scorer.trainer, model_scorer.params, rows, 8)
  out = bpc.score(model_scorer, lines)
  assert out["bits_per_char"] == pytest.approx(ref["bits_per_char"], rel=1e-4)


def test_loglik_chain_rule(model_scorer):
  # log p(a b) = log p(a) + log p(b | a): continuation scores add up across a split.
  a, b = "Тукай Казанда", " яши."
  whole, first, second = model_scorer([Request("", a + b), Request("", a), Request(a, b)])
  assert whole.logprob == pytest.approx(first.logprob + second.logprob, abs=1e-3)
  assert second.chars == len(b) and second.tokens == len(model_scorer.tok.encode(b))
  assert whole.logprob < 0


@pytest.mark.slow  # compiles a generation loop / trains: ~15-80 s on 2 shared cores
def test_greedy_matches_decode_reference(model_scorer):
  from llmjax import decode
  prompts = ["Казан", "Алар китап"]
  got = model_scorer.greedy(prompts, max_new_tokens=5, stop="\x00")
  for p, g in list(zip(prompts, got))[1:]:  # the second row: its own offset in the batch
    ids = [model_scorer.tok.bos_id] + model_scorer.tok.encode(p)
    ref = decode.generate_no_cache(model_scorer.params, model_scorer.trainer.cfg.model,
                                   np.asarray([ids]), max_new_tokens=5,
                                   eos_id=model_scorer.tok.eos_id)
    ref_ids = [int(i) for i in np.asarray(ref)[0]]
    if model_scorer.tok.eos_id in ref_ids:
      ref_ids = ref_ids[:ref_ids.index(model_scorer.tok.eos_id)]
    assert g == model_scorer.tok.decode(ref_ids)


def test_qa_data_builder_round_trip():
  from llmjax.evals.data import build_tatar_qa
  built = build_tatar_qa.build()
  on_disk = [json.loads(line) for line in qa.DEFAULT_PATH.open(encoding="utf-8")]
  assert built == on_disk


@pytest.mark.slow  # compiles a generation loop / trains: ~15-80 s on 2 shared cores
def test_training_loop_logs_fewshot_probe(tmp_path, tatar_fixture_dir):
  from llmjax import loop
  cfg, d = micro_config(train__total_steps=4, train__eval_every=4, train__checkpoint_every=4,
                        train__log_every=2, train__fewshot_every=2,
                        train__fewshot_qa_facts=3, train__fewshot_blimp_pairs=8,
                        train__fewshot_flores_lines=4, model__max_seq_len=64,
                        workdir=str(tmp_path / "w"), data__text_dir=str(tatar_fixture_dir))
  loop.train(cfg, d)
  records = [json.loads(x) for x in (tmp_path / "w" / "metrics.jsonl").open()]
  probe = [r for r in records if "fewshot_qa_accuracy" in r]
  assert [r["step"] for r in probe] == [0, 2, 4]
  for r in probe:
    assert 0.0 <= r["fewshot_qa_accuracy"] <= 1.0
    assert 0.0 <= r["fewshot_qa_consistent_and_correct"] <= r["fewshot_qa_consistency"] <= 1.0


def test_fewshot_every_must_not_be_negative():
  from llmjax.errors import ConfigError
  with pytest.raises(ConfigError, match="fewshot_every"):
    micro_config(train__fewshot_every=-1)


def test_report_puts_models_side_by_side_with_chance():
  from llmjax.evals import report
  facts = [_fact("a", 0), _fact("b", 1)]
  res = {"model": {"step": 400, "params": 5_835_008}, "tatblimp": {"accuracy": 0.625},
         "qa": qa.score(length_loglik, facts), "command": "python -m llmjax.evaluate --x"}
  base = {"model": {"step": 0, "params": 5_835_008}, "tatblimp": {"accuracy": 0.5}}
  text = report.render([("trained", res), ("random", base)])
  assert "| TatBLiMP accuracy | 0.625 | 0.500 | 0.500 |" in text
  # length_loglik picks candidate 0 everywhere: fact a right, fact b wrong.
  assert "| QA accuracy (per-char) | 0.500 | – | 0.250 |" in text
  assert "| QA consistency (per-char) | 1.000 | – | 0.016 |" in text
  assert "python -m llmjax.evaluate --x" in text and "| trained | 400 | 5.84M |" in text


def test_report_tabulates_fewshot_validation_rows_by_step():
  from llmjax.evals import report
  rows = [{"step": 0, "val_bits_per_char": 4.0},
          {"step": 0, "fewshot_qa_accuracy": 0.25, "fewshot_tatblimp_accuracy": 0.5},
          {"step": 10, "loss": 3.0},
          {"step": 20, "val_bits_per_char": 2.5},
          {"step": 20, "fewshot_qa_accuracy": 0.75, "fewshot_qa_consistency": 1.0}]
  text = report.render([("trained", {"model": {"step": 20}})], histories=[("trained", rows)])
  assert "## Few-shot validation during training" in text
  assert "| 0 | 4.000 | – | 0.500 | 0.250 | – | – |" in text
  assert "| 20 | 2.500 | – | – | 0.750 | 1.000 | – |" in text
  assert "| 10 |" not in text  # steps without a few-shot row are not listed
  assert "Few-shot validation" not in report.render([("trained", {"model": {}})])
