"""Corpus cleaning: normalisation, quality rules, language ID, dedup, the streaming pipeline."""

import json
import pathlib
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

from llmjax.corpus import clean, dedup, langid
from llmjax.corpus.normalize import normalize_line
from llmjax.corpus.quality import quality_reason
from llmjax.errors import DataError

REPO = pathlib.Path(__file__).resolve().parents[1]

TATAR = [
    "Казан шәһәре Идел елгасы буенда урнашкан зур һәм матур шәһәр.",
    "Бүген һава бик җылы, балалар урманга җиләк җыярга бардылар.",
    "Әни безгә тәмле бәлеш пешерде, без аны бик яратып ашадык.",
    "Татар теле төрки телләр гаиләсенең кыпчак төркеменә керә.",
    "Мин иртәгә авылга кайтам, анда әбием белән бабам яши.",
    "Укучылар мәктәптә математика һәм әдәбият дәресләрен укыйлар.",
]
RUSSIAN = "Вчера в Москве прошло заседание правительства по вопросам экономики."
BASHKIR = "Башҡортостан Республикаһы Рәсәй Федерацияһы составына инә."
ENGLISH = "The committee will meet again next week to discuss the budget."


# -- normalisation ----------------------------------------------------------------------------
@pytest.mark.parametrize("raw,want", [
    ("Kазан", "Казан"),  # Latin K inside a Cyrillic word
    ("шәhәр", "шәһәр"),  # Latin h used for һ
    ("Hellо world", "Hello world"),  # Cyrillic о inside a Latin word
    ("«Әйе» — “дип”", "«Әйе» – \"дип\""),
    ("бер\u00a0ике\u200bөч", "бер икеөч"),
    ("a<b>зур</b>&amp;c", "a зур &c"),
    ("[[Казан|Казанда]] {{cite web}} яшим", "Казанда яшим"),
    ("ху\x00ш\x1b  сау  ", "хуш сау"),
    (unicodedata.normalize("NFD", "йөз"), "йөз"),
])
def test_normalize_line(raw, want):
  got = normalize_line(raw)
  assert got == want
  assert unicodedata.is_normalized("NFC", got)
  assert normalize_line(got) == got  # idempotent


# -- quality -----------------------------------------------------------------------------------
@pytest.mark.parametrize("line,reason", [
    (TATAR[0], None),
    ("Рәхмәт.", "too_short"),
    ("Рәхмәтләрбезгә!!!", "too_few_words"),
    ("2014 елның 9 июне № 48-1234-5678", "numbers_or_urls"),
    ("Сайт: https://example.com/very/long/path/to/page.html", "numbers_or_urls"),
    ("** ** ** ** ** ** ** ** бер ике", "few_letters"),
    ("Бу бик яхшыыыыыыыы булды инде", "repeated_chars"),
    ("әйе әйе әйе әйе әйе әйе әйе юк", "repeated_words"),
    ("© 2020 Барлык хокуклар сакланган сайт", "boilerplate"),
    ("x" * 6000 + " y", "too_long"),
])
def test_quality_reason(line, reason):
  assert quality_reason(line) == reason


# -- language ID -------------------------------------------------------------------------------
def test_langid_labels_each_language():
  model = langid.LangId.load()
  got = model.predict_batch(TATAR + [RUSSIAN, BASHKIR, ENGLISH,
                                     "Bügen häwa bik yaxşı, min urmanğa barам.",
                                     "الله بیرسه بو ایش بولور", "Қазақстан астанасы Астана қаласы"])
  assert got == ["tat"] * len(TATAR) + ["rus", "bak", "eng", "tat_latn", "other", "other"]
  assert model.predict("12345 !!!") == "other"
  assert model.predict_batch([]) == []


def test_langid_train_save_load_round_trip(tmp_path):
  texts = {"tat": TATAR, "rus": [RUSSIAN] * 3, "bak": [BASHKIR] * 3, "eng": [ENGLISH] * 3}
  model = langid.LangId.train(texts, top=200)
  model.save(tmp_path / "m.json")
  loaded = langid.LangId.load(tmp_path / "m.json")
  probe = TATAR + [RUSSIAN, ENGLISH, "Мин кайтам"]
  np.testing.assert_allclose(loaded.scores_batch(probe), model.scores_batch(probe), atol=1e-4)
  assert loaded.predict_batch(probe) == model.predict_batch(probe)
  (tmp_path / "bad.json").write_text("{")
  with pytest.raises(DataError, match="language-ID model"):
    langid.LangId.load(tmp_path / "bad.json")


@pytest.mark.slow  # ~15 s: normalises and classifies 33k labelled lines
def test_langid_precision_recall_on_shared_mix():
  """The issue's target on the held-out labelled mix: P >= 0.99, R >= 0.97 (>= 5 words)."""
  if not (langid.SHARED / "other_languages").is_dir():
    pytest.skip("../shared/data not present")
  rows = langid.evaluate(langid.LangId.load(), min_words=(5,), tatar=("tat",))
  r = rows[0]
  print("\n" + langid.format_table(rows))
  assert r["tatar"] > 20000 and r["non_tatar"] > 2500
  assert r["precision"] >= 0.99 and r["recall"] >= 0.97


# -- dedup -------------------------------------------------------------------------------------
def test_minhash_estimates_jaccard():
  a = "Казан шәһәре Идел елгасы буенда урнашкан зур һәм матур шәһәр булып санала."
  pairs = [(a, a.replace("зур", "бик зур")), (a, a[:40] + " бүтән сүзләр монда язылган"),
           (a, TATAR[1])]
  sig = dedup.minhash_signatures([dedup.dedup_key(s) for p in pairs for s in p])
  for i, (x, y) in enumerate(pairs):
    est = float(np.mean(sig[2 * i] == sig[2 * i + 1]))
    assert abs(est - dedup.jaccard(x, y)) < 0.15, (i, est, dedup.jaccard(x, y))
  # Deterministic across calls and independent of batch composition.
  again = dedup.minhash_signatures([dedup.dedup_key(pairs[1][0])])
  np.testing.assert_array_equal(again[0], sig[2])


def test_deduplicator_exact_and_near():
  base = "Казан шәһәре Идел елгасы буенда урнашкан зур һәм матур шәһәр булып санала."
  lines = [base, base.upper().replace(".", "!"), base.replace("санала", "саналa") + " Әйе.",
           TATAR[1], TATAR[2]]
  d = dedup.Deduplicator()
  assert d.process(lines) == [None, "exact_dup", "near_dup", None, None]
  assert d.process([TATAR[1], TATAR[3]]) == ["exact_dup", None]  # state carries over
  assert dedup.Deduplicator(near=False).process(lines)[2] is None


# -- the pipeline ------------------------------------------------------------------------------
def _write_corpus(root: pathlib.Path) -> pathlib.Path:
  src = root / "src"
  (src / "web").mkdir(parents=True)
  (src / "a.txt").write_text("\n".join(TATAR[:4] + [RUSSIAN, TATAR[0].upper(), "", "Рәхмәт."])
                             + "\n", encoding="utf-8")
  (src / "web" / "b.txt").write_bytes(
      (f"{TATAR[4]}\n{BASHKIR}\n").encode() + b"\xff\xfe broken \xc3\n" +
      (f"{TATAR[5]}\nЭто предложение из оценки, его нельзя обучать никогда.\n"
       f"{TATAR[0].replace('зур', 'бик зур')}\n").encode())
  (src / "empty.txt").write_text("", encoding="utf-8")
  ev = root / "eval"
  ev.mkdir()
  (ev / "x.jsonl").write_text(json.dumps({"good": TATAR[5], "bad": "юк"}) + "\n",
                              encoding="utf-8")
  return src


def test_clean_pipeline_end_to_end(tmp_path):
  src = _write_corpus(tmp_path)
  stats = clean.run(src, tmp_path / "out", eval_dir=tmp_path / "eval")
  a = (tmp_path / "out" / "a.txt").read_text(encoding="utf-8").splitlines()
  b = (tmp_path / "out" / "web" / "b.txt").read_text(encoding="utf-8").splitlines()
  assert a == TATAR[:4]
  assert b == [TATAR[4]]
  assert (tmp_path / "out" / "empty.txt").read_text() == ""
  removed = stats["totals"]["removed"]
  assert {k: v["lines"] for k, v in removed.items()} == {
      "lang_rus": 2, "exact_dup": 1, "too_short": 1, "lang_bak": 1, "invalid_utf8": 1,
      "eval_overlap": 1, "near_dup": 1}
  assert stats["totals"]["input"]["lines"] == 13 and stats["totals"]["output"]["lines"] == 5
  assert "b.txt:3: not valid UTF-8" in stats["invalid_utf8"][0]
  on_disk = json.loads((tmp_path / "out" / clean.STATS_FILE).read_text(encoding="utf-8"))
  assert on_disk["totals"] == stats["totals"]
  left = clean.after_steps(stats["sources"]["a.txt"])
  assert [left[s]["lines"] for s in clean.STEPS] == [7, 7, 7, 6, 5, 5, 4, 4]
  assert left["near_dup"]["chars"] == stats["sources"]["a.txt"]["output"]["chars"]


def test_clean_is_deterministic_idempotent_and_parallel_safe(tmp_path):
  src = _write_corpus(tmp_path)
  clean.run(src, tmp_path / "o1", eval_dir=tmp_path / "eval")
  clean.run(src, tmp_path / "o2", eval_dir=tmp_path / "eval", workers=2)
  clean.run(src, tmp_path / "o1", eval_dir=tmp_path / "eval")  # rerun over its own output
  files = sorted(p.relative_to(tmp_path / "o1") for p in (tmp_path / "o1").rglob("*.txt"))
  for f in files:
    assert (tmp_path / "o1" / f).read_bytes() == (tmp_path / "o2" / f).read_bytes()
  again = clean.run(tmp_path / "o1", tmp_path / "o3", eval_dir=tmp_path / "eval")
  assert again["totals"]["removed"] == {}  # cleaning cleaned text removes nothing
  for f in files:
    assert (tmp_path / "o3" / f).read_bytes() == (tmp_path / "o1" / f).read_bytes()
  assert not list(tmp_path.rglob("*.tmp"))


def test_clean_bad_input(tmp_path):
  src = _write_corpus(tmp_path)
  with pytest.raises(DataError, match=r"b.txt:3: not valid UTF-8"):
    clean.run(src, tmp_path / "o", clean.CleanConfig(strict_utf8=True), eval_dir=None)
  assert not (tmp_path / "o" / "web" / "b.txt").exists()  # nothing half-written
  assert not list((tmp_path / "o").rglob("*.tmp"))
  (tmp_path / "blank").mkdir()
  (tmp_path / "blank" / "e.txt").write_text("\n\n")
  with pytest.raises(DataError, match="no non-empty lines"):
    clean.run(tmp_path / "blank", tmp_path / "o4", eval_dir=None)
  with pytest.raises(DataError, match="must lie outside"):
    clean.run(src, src / "cleaned", eval_dir=None)
  with pytest.raises(DataError, match="eval folder"):
    clean.run(src, tmp_path / "o5", eval_dir=tmp_path / "nope")
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(DataError, match="cannot write"):
    clean.run(src, blocker / "sub", eval_dir=None)


def test_clean_cli(tmp_path):
  src = _write_corpus(tmp_path)
  cmd = [sys.executable, "-m", "llmjax.corpus.clean", f"--text_dir={src}",
         f"--out={tmp_path / 'o'}", f"--eval_dir={tmp_path / 'eval'}"]
  res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
  assert res.returncode == 0, res.stderr
  summary = json.loads(res.stdout)
  assert summary["input_lines"] == 13 and summary["output_lines"] == 5
  assert "skipped 1 non-UTF-8 lines" in res.stderr
  assert "1 input files hold no text: empty.txt" in res.stderr
  res = subprocess.run(cmd[:3] + [f"--text_dir={tmp_path / 'missing'}"] + cmd[4:], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
  assert res.returncode == 2 and res.stderr.strip().startswith("error:")
