"""A small, deterministic Tatar corpus the project writes itself.

Tests must run on a fresh clone, where the real (non-redistributable) Tatar text is
absent, so this module generates sentences from a tiny template grammar with real
Tatar morphology (vowel harmony, consonant assimilation, case / plural / person
suffixes). The grammar is regular enough that a tiny model learns it in seconds.
"""

from __future__ import annotations

import pathlib
import random

_BACK = set("аоуыя")
_FRONT = set("әөүеиэ")
_VOICELESS = set("пткфсшщчхц")
_NASAL = set("мнң")
_VOWELS = _BACK | _FRONT

# Subjects: (word, person) with person in {"1sg", "2sg", "3sg", "1pl", "3pl"}.
_PRONOUNS = [("Мин", "1sg"), ("Син", "2sg"), ("Ул", "3sg"), ("Без", "1pl"), ("Алар", "3pl")]
_NAMES = ["Тукай", "Әминә", "Илдар", "Гөлнара", "Рөстәм", "Ләйсән", "Марат", "Айгөл",
          "Җәлил", "Зөһрә", "Фәрит", "Нурия"]
_GROUPS = ["Балалар", "Укучылар", "Эшчеләр", "Дуслар", "Күршеләр", "Студентлар"]
_PLACES = ["Казан", "Идел", "Чаллы", "Әлмәт", "Алабуга", "Бөгелмә", "Мәскәү", "Түбән Кама",
           "Арча", "Буа"]
_OBJECTS = ["китап", "хат", "газета", "җыр", "әкият", "мәкалә", "алма", "икмәк", "чәй",
            "сөт", "су", "машина", "рәсем", "дәрес", "бәлеш", "өчпочмак"]
_ADJECTIVES = ["зур", "кечкенә", "матур", "яңа", "иске", "кызыл", "ак", "кара", "яшел",
               "җылы", "салкын", "тәмле", "кызыклы", "озын", "якты"]
_NUMBERS = ["бер", "ике", "өч", "дүрт", "биш", "алты", "җиде", "сигез", "тугыз", "ун"]
# Possessive (3rd person) forms, given explicitly because of stem voicing.
_POSSESSED = {"алма": "алмасы", "эт": "эте", "ат": "аты", "каләм": "каләме",
              "дәфтәр": "дәфтәре", "машина": "машинасы", "китап": "китабы",
              "бакча": "бакчасы", "песи": "песие", "өй": "өе"}
# Verbs: transitive ones take an accusative object, motion ones a place.
_TRANSITIVE = ["укы", "яз", "ал", "күр", "ярат", "аша", "эч", "сат", "сора", "бир", "эзлә"]
_TO_PLACE = ["бар", "кил", "кайт", "күчен"]  # + dative
_IN_PLACE = ["яшә", "эшлә", "укы", "утыр", "йокла"]  # + locative
_FROM_PLACE = ["кайт", "кил", "чык"]  # + ablative
_TIMES = {"past": ["кичә", "узган атнада", "былтыр", "кичә кичен"],
          "present": ["һәр көнне", "гадәттә", "бүген", "хәзер"],
          "future": ["иртәгә", "киләсе атнада", "җәен", "тиздән"]}
_FACTS = [
    "Казан — Татарстанның башкаласы.",
    "Идел — Европаның иң озын елгасы.",
    "Тукай — бөек татар шагыйре.",
    "Чаллыда зур машина заводы бар.",
    "Татар теле — төрки телләрнең берсе.",
    "Кышын урамда бик салкын була.",
    "Җәен көннәр озын һәм җылы.",
    "Өчпочмак — тәмле татар ашы.",
]


def _is_back(word: str) -> bool:
  if word.endswith("ь"):  # soft sign marks a front word
    return False
  for ch in reversed(word.lower()):
    if ch in _VOWELS:
      return ch in _BACK
  return True


def _pick(word: str, back: str, front: str) -> str:
  return back if _is_back(word) else front


def _last(word: str) -> str:
  return word[-1].lower()


def plural(word: str) -> str:
  stem = "н" if _last(word) in _NASAL else "л"
  return word + stem + _pick(word, "ар", "әр")


def accusative(word: str) -> str:
  return word + _pick(word, "ны", "не")


def genitive(word: str) -> str:
  return word + _pick(word, "ның", "нең")


def dative(word: str) -> str:
  if _last(word) in _VOICELESS:
    return word + _pick(word, "ка", "кә")
  return word + _pick(word, "га", "гә")


def locative(word: str) -> str:
  c = "т" if _last(word) in _VOICELESS else "д"
  return word + c + _pick(word, "а", "ә")


def ablative(word: str) -> str:
  last = _last(word)
  c = "т" if last in _VOICELESS else ("н" if last in _NASAL else "д")
  return word + c + _pick(word, "ан", "ән")


_PERSON_PAST = {"1sg": ("м", "м"), "2sg": ("ң", "ң"), "3sg": ("", ""),
                "1pl": ("к", "к"), "3pl": ("лар", "ләр")}
_PERSON_PRESENT = {"1sg": ("м", "м"), "2sg": ("сың", "сең"), "3sg": ("", ""),
                   "1pl": ("быз", "без"), "3pl": ("лар", "ләр")}
_PERSON_FUTURE = {"1sg": ("мын", "мен"), "2sg": ("сың", "сең"), "3sg": ("", ""),
                  "1pl": ("быз", "без"), "3pl": ("лар", "ләр")}


def conjugate(stem: str, tense: str, person: str) -> str:
  back = _is_back(stem)
  idx = 0 if back else 1
  last = _last(stem)
  if tense == "past":
    c = "т" if last in _VOICELESS else "д"
    return stem + c + ("ы" if back else "е") + _PERSON_PAST[person][idx]
  if tense == "present":
    if last in _VOWELS:  # укы -> укый, эшлә -> эшли
      base = stem[:-1] + ("ый" if back else "и")
    else:
      base = stem + ("а" if back else "ә")
    return base + _PERSON_PRESENT[person][idx]
  if last in _VOWELS:  # future: укы -> укыячак, эшлә -> эшләячәк
    base = (stem[:-1] + "и" if last == "е" else stem) + ("ячак" if back else "ячәк")
  else:
    base = stem + ("ачак" if back else "әчәк")
  return base + _PERSON_FUTURE[person][idx]


class _Grammar:
  """Draws sentences from a seeded random.Random."""

  def __init__(self, seed: int):
    self.rng = random.Random(seed)

  def subject(self) -> tuple[str, str]:
    r = self.rng.random()
    if r < 0.35:
      return self.rng.choice(_PRONOUNS)
    if r < 0.85:
      return self.rng.choice(_NAMES), "3sg"
    return self.rng.choice(_GROUPS), "3pl"

  def place(self) -> tuple[str, str]:
    """Splits multi-word place names so suffixes go on the last word."""
    place = self.rng.choice(_PLACES)
    head, _, last = place.rpartition(" ")
    return (head + " " if head else ""), last

  def action(self) -> str:
    subj, person = self.subject()
    tense = self.rng.choice(list(_TIMES))
    time = self.rng.choice(_TIMES[tense])
    kind = self.rng.randrange(4)
    if kind == 0:
      obj = self.rng.choice(_OBJECTS)
      if self.rng.random() < 0.4:
        obj = self.rng.choice(_ADJECTIVES) + " " + obj
      if self.rng.random() < 0.3:
        obj = plural(obj)
      verb = conjugate(self.rng.choice(_TRANSITIVE), tense, person)
      return f"{subj} {time} {accusative(obj)} {verb}."
    head, place = self.place()
    if kind == 1:
      verb = conjugate(self.rng.choice(_TO_PLACE), tense, person)
      return f"{subj} {time} {head}{dative(place)} {verb}."
    if kind == 2:
      verb = conjugate(self.rng.choice(_IN_PLACE), tense, person)
      return f"{subj} {time} {head}{locative(place)} {verb}."
    verb = conjugate(self.rng.choice(_FROM_PLACE), tense, person)
    return f"{subj} {head}{ablative(place)} {time} {verb}."

  def possession(self) -> str:
    owner = self.rng.choice(_NAMES)
    thing = self.rng.choice(list(_POSSESSED))
    if self.rng.random() < 0.2:
      count = str(self.rng.randint(11, 99))  # digits too
    else:
      count = self.rng.choice(_NUMBERS)
    adj = self.rng.choice(_ADJECTIVES) + " " if self.rng.random() < 0.3 else ""
    return f"{genitive(owner)} {count} {adj}{_POSSESSED[thing]} бар."

  def description(self) -> str:
    adj = self.rng.choice(_ADJECTIVES)
    r = self.rng.random()
    if r < 0.4:
      head, place = self.place()
      return f"{head}{place} — {adj} шәһәр."
    if r < 0.7:
      return f"Бу {adj} {self.rng.choice(_OBJECTS)}."
    name, adj, obj = (self.rng.choice(x) for x in (_NAMES, _ADJECTIVES, _OBJECTS))
    return f"{name} {adj} {obj} ярата."

  def question(self) -> str:
    subj, person = self.rng.choice(_PRONOUNS[:2] + _PRONOUNS[3:])
    return f"{subj} кайда {conjugate('яшә', 'present', person)}?"

  def sentence(self) -> str:
    r = self.rng.random()
    if r < 0.55:
      return self.action()
    if r < 0.72:
      return self.possession()
    if r < 0.9:
      return self.description()
    if r < 0.95:
      return self.question()
    return self.rng.choice(_FACTS)

  def line(self) -> str:
    n = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 3)
    return " ".join(self.sentence() for _ in range(n))


def fixture_lines(num_lines: int = 2400, seed: int = 0) -> list[str]:
  grammar = _Grammar(seed)
  return [grammar.line() for _ in range(num_lines)]


def write_fixture_corpus(dir: pathlib.Path, num_lines: int = 2400,
                         seed: int = 0) -> pathlib.Path:
  """Writes 3 UTF-8 *.txt files (one in a subfolder) under `dir`; returns `dir`."""
  dir = pathlib.Path(dir)
  lines = fixture_lines(num_lines, seed)
  third = len(lines) // 3
  parts = {
      dir / "a_stories.txt": lines[:third],
      dir / "b_facts.txt": lines[third:2 * third],
      dir / "more" / "c_dialogs.txt": lines[2 * third:],
  }
  for path, part in parts.items():
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(part) + "\n", encoding="utf-8")
  return dir
