"""The paraphrase-consistency QA benchmark: chance levels, metrics, the choice modes (stub
log-likelihoods), the benchmark file and its builder, and the leak check."""

import json

import pytest

from llmjax.errors import DataError
from llmjax.evals import qa
from llmjax.evals.loglik import Request
from tests.evals.stubs import fact as _fact, length_loglik, table_loglik


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


def test_leak_check_finds_a_planted_prompt(tmp_path):
  fact = {"id": "x", "part": "corpus", "source": [{"file": "a.txt", "line": 2}],
          "candidates": ["Пекин", "Токио", "Рим", "Париж"], "answer": 0,
          "prompts": [{"kind": "cloze", "text": "Кытайның башкаласы — ___ шәһәре."}]}
  (tmp_path / "a.txt").write_text("Беренче юл.\nМәсәлән, Кытайның башкаласы — Пекин шәһәре, "
                                  "диләр.\n", encoding="utf-8")
  out = qa.leak_check([fact], tmp_path)
  assert out["filled_prompts_in_training_text"] == 1 and out["bad_sources"] == []
  fact["source"] = [{"file": "a.txt", "line": 3}]
  fact["prompts"][0]["text"] = "Кытай башкаласы — ___."
  out = qa.leak_check([fact], tmp_path)
  assert out["filled_prompts_in_training_text"] == 0 and out["bad_sources"] == ["x: a.txt:3"]


def test_no_benchmark_prompt_is_in_the_training_text(shared_train_dir):
  out = qa.leak_check(qa.load(), shared_train_dir)
  assert out["leaked"] == [] and out["bad_sources"] == []


def test_qa_data_builder_round_trip():
  from llmjax.evals.data import build_tatar_qa
  built = build_tatar_qa.build()
  on_disk = [json.loads(line) for line in qa.DEFAULT_PATH.open(encoding="utf-8")]
  assert built == on_disk
