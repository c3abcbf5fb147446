"""Leipzig downloader against a local HTTP server (127.0.0.1) that the test builds."""

import io
import json
import tarfile

import pytest

from llmjax.corpus import sources
from llmjax.errors import DataError
from tests.leipzig_mirror import Mirror, archive

SENTENCES = ["Казан – Татарстанның башкаласы.", "Бүген һава бик җылы.", "Мин татарча сөйләшәм."]


def _archive(name: str, member: str | None = None, lines=None) -> bytes:
  return archive(name, lines or SENTENCES, member)


@pytest.fixture
def server():
  s = Mirror()
  yield s
  s.close()


def _fetch(server, name, cache, **kw):
  kw.setdefault("timeout", 2.0)
  kw.setdefault("retries", 2)
  return sources.fetch_leipzig(name, cache, base_url=server.base, progress=False,
                               sleep=lambda s: None, **kw)


def test_download_extract_manifest_and_cache(server, tmp_path):
  name = "tat_news_2015_10K"
  data = _archive(name)
  server.add(name, data)
  out = _fetch(server, name, tmp_path)
  assert (out / "sentences.txt").read_text(encoding="utf-8").splitlines() == SENTENCES
  manifest = json.loads((tmp_path / "manifest.json").read_text())
  assert manifest[name]["size"] == len(data)
  assert manifest[name]["sha256"] == sources.sha256_file(tmp_path / f"{name}.tar.gz")
  n = len(server.requests)
  assert _fetch(server, name, tmp_path) == out  # cached: no new request
  assert len(server.requests) == n
  # A changed archive in the cache no longer matches the manifest.
  (tmp_path / f"{name}.tar.gz").write_bytes(_archive(name, lines=["Башка җөмлә."]))
  with pytest.raises(DataError, match="does not match manifest.json"):
    _fetch(server, name, tmp_path)


def test_404_fails_at_once(server, tmp_path):
  with pytest.raises(DataError, match="HTTP 404"):
    _fetch(server, "tat_web_2018_1M", tmp_path)
  assert len(server.requests) == 1  # no retries for a missing file
  assert not (tmp_path / "tat_web_2018_1M.tar.gz").exists()


def test_resume_after_dropped_connection(server, tmp_path):
  name = "tat_mixed_2015_30K"
  data = _archive(name)
  server.add(name, data, mode="drop_first")
  out = _fetch(server, name, tmp_path)
  assert (out / "sentences.txt").read_text(encoding="utf-8").splitlines() == SENTENCES
  assert server.requests[0][1] is None
  assert server.requests[1][1] == f"bytes={len(data) // 2}-"  # resumed, not restarted
  assert (tmp_path / f"{name}.tar.gz").read_bytes() == data


def test_stalled_server_times_out_and_keeps_partial(server, tmp_path):
  name = "tat_news_2015_100K"
  server.add(name, _archive(name) * 3, mode="stall")
  with pytest.raises(DataError, match=r"after 2 attempts: .*timed out"):
    _fetch(server, name, tmp_path, timeout=0.3, retries=1)
  assert not (tmp_path / f"{name}.tar.gz").exists()
  # Each stalled attempt delivered 100 bytes; the second one asked only for the rest.
  assert server.requests[1][1] == "bytes=100-"
  assert (tmp_path / f"{name}.tar.gz.part").stat().st_size == 200  # resumable later


def test_truncated_archive_and_wrong_layout(server, tmp_path):
  name = "tat_web_2018_10K"
  data = _archive(name)
  server.add(name, data[:len(data) // 2])
  with pytest.raises(DataError, match="not a complete .tar.gz"):
    _fetch(server, name, tmp_path)
  assert not (tmp_path / name / "sentences.txt").exists()
  other = "tat_web_2018_30K"
  server.add(other, _archive(other, member="corpus/sentences.txt"))
  with pytest.raises(DataError, match="not in Leipzig's layout"):
    _fetch(server, other, tmp_path)
  with pytest.raises(DataError, match="not a Leipzig corpus name"):
    _fetch(server, "../etc/passwd", tmp_path)


def test_bad_sentence_lines(server, tmp_path):
  name = "tat_news_2015_300K"
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    body = b"1\tOK line.\nno tab here\n"
    info = tarfile.TarInfo(sources.sentences_member(name))
    info.size = len(body)
    tar.addfile(info, io.BytesIO(body))
  server.add(name, buf.getvalue())
  with pytest.raises(DataError, match="line 2 is not '<id>"):
    _fetch(server, name, tmp_path)
  assert not (tmp_path / name / "sentences.txt").exists()


# -- TFDS builder and data.sources -------------------------------------------------------------
def test_tfds_builder_array_record_data_source_and_grain(server, tmp_path, monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("importlib_resources")  # tfds needs it to build without TensorFlow
  import grain

  from llmjax.corpus import mix, tfds_leipzig
  name = "tat_news_2015_10K"
  server.add(name, _archive(name))
  monkeypatch.setenv("LLMJAX_LEIPZIG_CACHE", str(tmp_path / "cache"))
  monkeypatch.setattr(tfds_leipzig.LeipzigTatar, "base_url", server.base)
  builder = tfds_leipzig.LeipzigTatar(config=name, data_dir=str(tmp_path / "tfds"),
                                      file_format="array_record")
  builder.download_and_prepare()
  assert list((tmp_path / "tfds").rglob("*.array_record*"))
  ds = tfds.data_source(f"leipzig_tatar/{name}", split="train", data_dir=str(tmp_path / "tfds"))
  assert len(ds) == len(SENTENCES)
  rows = list(grain.MapDataset.source(ds).map(lambda r: (int(r["index"]),
                                                         r["text"].decode("utf-8"))))
  assert sorted(rows) == list(enumerate(SENTENCES))
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  _, docs = mix.read_sources(f"tfds:leipzig_tatar/{name}")
  assert sorted(docs) == sorted(SENTENCES)


@pytest.mark.parametrize("name", ["tat_mixed_2015_1M", "tat_news_2015_1M", "tat_web_2018_1M",
                                  "tat_wikipedia_2021_100K", "tat_news_2005-2011_300K",
                                  "tat_community_2017", "tat_newscrawl_2011_30K"])
def test_every_real_tatar_corpus_name_is_accepted(name):
  assert sources.check_name(name) == name


@pytest.mark.parametrize("name", ["../etc/passwd", "tat_news_2015_1M/../x", "tat", "TAT_news_2015",
                                  "tat_news_15_1M", "tat_news_2015_1M.tar.gz", ""])
def test_names_that_are_not_leipzig_names_are_refused(name):
  with pytest.raises(DataError, match="not a Leipzig corpus name"):
    sources.check_name(name)


def test_an_unreachable_server_is_offline_at_once(tmp_path):
  import socket
  import time
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # closed again: nothing listens there
  start = time.perf_counter()
  with pytest.raises(sources.Offline, match="cannot reach"):
    sources.fetch_leipzig("tat_news_2015_10K", tmp_path,
                          base_url=f"http://127.0.0.1:{port}/{{name}}.tar.gz", progress=False)
  assert time.perf_counter() - start < 5  # no retries with back-off for a refused connection


def test_cleaned_copy_is_cached_by_archive_and_settings(server, tmp_path):
  from llmjax.corpus import cleaning
  name = "tat_news_2015_10K"
  server.add(name, _archive(name, lines=[f"{s} {i}-нче җөмлә." for i in range(40)
                                         for s in SENTENCES]))
  folder = _fetch(server, name, tmp_path / "cache")
  logs: list[str] = []
  root = tmp_path / "clean"
  first = cleaning.clean_cached(folder, root, sources.archive_digest(folder), log=logs.append)
  again = cleaning.clean_cached(folder, root, sources.archive_digest(folder), log=logs.append)
  assert first == again and logs[-1].startswith("reusing the cleaned text")
  assert (first / "sentences.txt").is_file() and (first / cleaning.STATS_FILE).is_file()
  other = cleaning.clean_cached(folder, root, sources.archive_digest(folder),
                                cleaning.CleanConfig(near_dup=False), log=logs.append)
  assert other != first  # other settings: another cleaned copy
  assert sorted(p.name for p in root.iterdir()) == sorted([first.name, other.name])
