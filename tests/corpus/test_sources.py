"""Leipzig downloader against a local HTTP server (127.0.0.1) that the test builds."""

import http.server
import io
import json
import tarfile
import threading

import pytest

from llmjax.corpus import sources
from llmjax.errors import DataError

SENTENCES = ["Казан – Татарстанның башкаласы.", "Бүген һава бик җылы.", "Мин татарча сөйләшәм."]


def _archive(name: str, member: str | None = None, lines=None) -> bytes:
  body = "".join(f"{i}\t{s}\n" for i, s in enumerate(lines or SENTENCES, 1)).encode()
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    for path, data in ((member or sources.sentences_member(name), body),
                       (f"{name}/{name}-words.txt", b"1\tword\t3\n" * 2000)):
      info = tarfile.TarInfo(path)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return buf.getvalue()


class _Server:
  """Serves self.files[path] = (bytes, mode); mode: ok, drop_first (half, then close), stall."""

  def __init__(self):
    self.files: dict[str, tuple[bytes, str]] = {}
    self.requests: list[tuple[str, str | None]] = []
    self.release = threading.Event()
    outer = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def log_message(self, *a):  # quiet
        pass

      def do_GET(self):
        rng = self.headers.get("Range")
        outer.requests.append((self.path, rng))
        if self.path not in outer.files:
          self.send_error(404)
          return
        data, mode = outer.files[self.path]
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if rng:
          self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if mode == "stall":
          self.wfile.write(data[:100])
          self.wfile.flush()
          outer.release.wait(10)
          return
        if mode == "drop_first" and not rng:
          self.wfile.write(data[:len(data) // 2])
          self.wfile.flush()
          self.close_connection = True
          return
        self.wfile.write(data[start:])

    self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.httpd.daemon_threads = True
    self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
    self.thread.start()
    self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/corpora/{{name}}.tar.gz"

  def add(self, name: str, data: bytes, mode: str = "ok") -> None:
    self.files[f"/corpora/{name}.tar.gz"] = (data, mode)

  def close(self):
    self.release.set()
    self.httpd.shutdown()
    self.httpd.server_close()


@pytest.fixture
def server():
  s = _Server()
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
