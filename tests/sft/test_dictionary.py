"""The Tatar SFT set: dictionary entries parsed, split by headword (reproducibly), held-out
phrasings never trained on, and the leak check against the evaluation sets."""

import json

from llmjax.sft import dictionary

LINES = [
    "Бифштекс -Ваклап турап яки суккалап йомшартып кыздырылган сыер ите кисәге",
    "Бишбармак -1.Ваклап туралган ит һәм шакмаклап киселгән токмачны пешереп, суган һәм "
    "борычлы шулпа сибеп бирелә торган ашамлык; башкорт милли ашы 2.Перчатка",
    "Аэроплан -иск.Самолет",  # one word: skipped
    "Ими - Имчәк -1.Хатын-кыз күкрәгенең өске өлешендә калкып торган сөт бизе. ИМЧӘК АСТЫ",
    "Дошман -Берәүне яратмаучы, күрә алмаучы [дошман гаскәре]",
    "Тырмау -диал.Тырнау(2) 2.Тырмалау",  # a cross-reference: skipped
    "Әбекәй -/ Әби",
]


def _entries(tmp_path):
  path = tmp_path / dictionary.FILENAME
  path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  return dictionary.entries(path)


def test_entries_are_parsed(tmp_path):
  got = {w: t for w, t, _ in _entries(tmp_path)}
  assert got == {
      "бифштекс": "Ваклап турап яки суккалап йомшартып кыздырылган сыер ите кисәге.",
      "бишбармак": "Ваклап туралган ит һәм шакмаклап киселгән токмачны пешереп, суган һәм "
                   "борычлы шулпа сибеп бирелә торган ашамлык; башкорт милли ашы.",
      "ими": "Хатын-кыз күкрәгенең өске өлешендә калкып торган сөт бизе.",
      "дошман": "Берәүне яратмаучы, күрә алмаучы."}


def _answers(convs):
  return {m["content"] for c in convs for m in c if m["role"] == "assistant"}


def test_splits_are_by_headword_and_reproducible():
  items = [(f"сүз{chr(0x430 + i % 32)}{i}", f"Аңлатма номер {i} бу.", i) for i in range(400)]
  a = dictionary.build(items, seed=0)
  assert a == dictionary.build(items, seed=0)  # the same files from the same input
  # A word's split depends on the word alone, not on the file's order.
  reordered = dictionary.build(list(reversed(items)), seed=0)
  assert {s: _answers(c) for s, c in a.items()} == {s: _answers(c)
                                                      for s, c in reordered.items()}
  assert not _answers(a["train"]) & (_answers(a["val"]) | _answers(a["test_headwords"]))
  assert _answers(a["test_headwords"]) == _answers(a["test_phrasings"])  # new questions
  assert len(_answers(a["train"])) + len(_answers(a["val"])) + len(
      _answers(a["test_headwords"])) == len(items)
  train_questions = {m["content"] for c in a["train"] for m in c if m["role"] == "user"}
  held_out = [p.split("{w}")[-1] for p in dictionary.TEST_PHRASINGS]
  assert not any(q.endswith(h) for q in train_questions for h in held_out)
  assert all(any(c[0]["content"].endswith(h) for h in held_out) for c in a["test_phrasings"])
  assert any(len(c) > 3 for c in a["train"])  # some two-exchange chats, some with a system
  assert any(c[0]["role"] == "system" for c in a["train"])


def test_leak_check_finds_evaluation_text(tmp_path):
  (tmp_path / "eval" / "flores200").mkdir(parents=True)
  (tmp_path / "eval" / "flores200" / "tat_Cyrl.dev").write_text(
      "Казан — Татарстан Республикасының башкаласы һәм иң зур шәһәре.\n", encoding="utf-8")
  (tmp_path / "eval" / "tatblimp").mkdir()
  (tmp_path / "eval" / "tatblimp" / "test.jsonl").write_text(json.dumps(
      {"good": "Ваклап турап яки суккалап йомшартып кыздырылган сыер ите кисәге бар.",
       "bad": "x"}, ensure_ascii=False) + "\n", encoding="utf-8")
  clean = dictionary.build(_entries(tmp_path))
  leaks = dictionary.leak_check(clean, tmp_path / "eval")
  # The bifshteks definition occurs inside a TatBLiMP sentence: an SFT answer in eval text.
  assert leaks["sft_answers_in_eval"] == 1 and dictionary.leaked(leaks)
  planted = {"train": [[{"role": "user", "content": "Казан турында сөйлә."},
                        {"role": "assistant", "content": "Казан — Татарстан Республикасының "
                         "башкаласы һәм иң зур шәһәре."}]]}
  leaks = dictionary.leak_check(planted, tmp_path / "eval")
  assert leaks["eval_text_in_sft"] == 1 and leaks["shared_8grams"] >= 1
  fine = {"train": [[{"role": "user", "content": "Ни ул «ими»?"},
                     {"role": "assistant", "content": "Хатын-кыз күкрәгендәге сөт бизе."}]]}
  assert not dictionary.leaked(dictionary.leak_check(fine, tmp_path / "eval"))
