"""Sample lines in Tatar and its neighbours, and a small raw corpus to clean."""

import json
import pathlib

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


def write_corpus(root: pathlib.Path) -> pathlib.Path:
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
