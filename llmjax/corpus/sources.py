"""Leipzig Wortschatz corpora: download (resume, retries, cache, manifest), validate, extract.

`python -m llmjax.corpus.download --name=tat_news_2015_1M` fetches one and prints the folder
holding `sentences.txt` (one sentence per line), ready for `--config.data.text_dir` or the
`leipzig:<name>` entry of `data.sources`.

Archives live at llmjax.paths.leipzig_url() ($LLMJAX_LEIPZIG_URL or Leipzig's server); each holds `<name>/<name>-sentences.txt` with lines
`<id>\\t<sentence>`. The first download records size and sha256 in `<cache>/manifest.json`;
later runs check the cached archive against it, so a corrupted or swapped file is an error.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import pathlib
import re
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from typing import Callable, Iterator

from llmjax import paths
from llmjax.errors import DataError
from llmjax.paths import atomic_write_lines, atomic_write_text

MANIFEST = "manifest.json"
_NAME = re.compile(r"^[a-z]{3}[a-z0-9_\-]*_\d{4}_(10K|30K|100K|300K|1M|3M|10M)$")
_FATAL_HTTP = (400, 401, 403, 404, 410)  # retrying cannot help


def check_name(name: str) -> str:
  if not _NAME.match(name):
    raise DataError(f"{name!r} is not a Leipzig corpus name like tat_news_2015_1M "
                    "(<lang>_<genre>_<year>_<size>, size one of 10K/30K/100K/300K/1M)")
  return name


class _Progress:
  """A one-line progress bar on stderr (updated at most 5 times a second)."""

  def __init__(self, label: str, total: int | None, enabled: bool):
    self.label, self.total, self.enabled = label, total, enabled
    self.start = self.last = time.monotonic()

  def update(self, done: int, force: bool = False) -> None:
    now = time.monotonic()
    if not self.enabled or (not force and now - self.last < 0.2):
      return
    self.last = now
    rate = done / max(now - self.start, 1e-6) / 1e6
    if self.total:
      pct = 100 * done / self.total
      bar = "#" * int(pct / 5)
      msg = f"\r{self.label} [{bar:<20}] {done / 1e6:.1f}/{self.total / 1e6:.1f} MB ({pct:.0f}%) {rate:.1f} MB/s"
    else:
      msg = f"\r{self.label} {done / 1e6:.1f} MB {rate:.1f} MB/s"
    print(msg, end="\n" if force else "", file=sys.stderr, flush=True)


def download(url: str, dest: os.PathLike | str, *, timeout: float = 30.0, retries: int = 4,
             backoff: float = 1.0, progress: bool = True, chunk: int = 1 << 16,
             sleep: Callable[[float], None] = time.sleep) -> pathlib.Path:
  """Downloads url to dest via dest.part, resuming it (HTTP Range) across attempts.

  Connection errors, timeouts (a stalled server) and short reads are retried `retries`
  times with exponential back-off; HTTP 4xx errors fail at once. dest appears only when
  complete (rename of the .part file).
  """
  dest = pathlib.Path(dest)
  dest.parent.mkdir(parents=True, exist_ok=True)
  part = dest.with_name(dest.name + ".part")
  last_error = "no attempt"
  for attempt in range(retries + 1):
    if attempt:
      sleep(backoff * 2 ** (attempt - 1))
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "llmjax", **({"Range": f"bytes={have}-"} if have else {})}
    try:
      with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                  timeout=timeout) as resp:
        if have and resp.status != 206:
          have = 0  # the server ignored the range: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = _Progress(dest.name, total, progress)
        with open(part, "ab" if have else "wb") as f:
          done = have
          while True:
            block = resp.read1(chunk)  # what has arrived: a stall keeps the bytes so far
            if not block:
              break
            f.write(block)
            done += len(block)
            bar.update(done)
        bar.update(done, force=True)
        if total is not None and done != total:
          raise http.client.IncompleteRead(b"", total - done)
      os.replace(part, dest)
      return dest
    except urllib.error.HTTPError as e:
      if e.code == 416 and have:  # our partial file is not a prefix we can resume from
        part.unlink(missing_ok=True)
        last_error = "HTTP 416 (range not satisfiable): restarting"
        continue
      if e.code in _FATAL_HTTP:
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
      last_error = f"HTTP {e.code} {e.reason}"
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, TimeoutError,
            ConnectionError) as e:
      last_error = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
    except OSError as e:
      raise DataError(f"cannot write {str(part)!r}: {e.strerror or e}") from e
    print(f"download of {url} failed (attempt {attempt + 1}/{retries + 1}): {last_error}",
          file=sys.stderr)
  raise DataError(f"cannot download {url} after {retries + 1} attempts: {last_error} "
                  f"(partial data kept in {str(part)!r} for the next resume)")


def sha256_file(path: os.PathLike | str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _load_manifest(cache: pathlib.Path) -> dict:
  p = cache / MANIFEST
  if not p.is_file():
    return {}
  try:
    return json.loads(p.read_text(encoding="utf-8"))
  except ValueError as e:
    raise DataError(f"{str(p)!r} is not valid JSON: delete it to re-record checksums") from e


def sentences_member(name: str) -> str:
  return f"{name}/{name}-sentences.txt"


def validate_archive(path: os.PathLike | str, name: str) -> None:
  """DataError unless path is a complete .tar.gz holding <name>/<name>-sentences.txt."""
  try:
    with tarfile.open(path, "r:gz") as tar:
      names = tar.getnames()  # reads to the end: a truncated archive fails here
  except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
    raise DataError(f"{str(path)!r} is not a complete .tar.gz archive ({e}): delete it "
                    "and download again") from e
  if sentences_member(name) not in names:
    raise DataError(f"{str(path)!r} is not in Leipzig's layout: no "
                    f"{sentences_member(name)!r} among its {len(names)} members "
                    f"(e.g. {names[:3]})")


def iter_sentences(path: os.PathLike | str, name: str) -> Iterator[str]:
  """Sentences of the archive's sentences file (`<id>\\t<sentence>` lines)."""
  with tarfile.open(path, "r:gz") as tar:
    f = tar.extractfile(sentences_member(name))
    if f is None:
      raise DataError(f"{sentences_member(name)!r} in {str(path)!r} is not a regular file")
    for lineno, raw in enumerate(f, start=1):
      try:
        line = raw.decode("utf-8").rstrip("\r\n")
      except UnicodeDecodeError as e:
        raise DataError(f"{sentences_member(name)} line {lineno} is not valid UTF-8") from e
      if not line.strip():
        continue
      idx, tab, sentence = line.partition("\t")
      if not tab or not idx.strip().isdigit():
        raise DataError(f"{sentences_member(name)} line {lineno} is not '<id>\\t<sentence>': "
                        "not Leipzig's layout")
      if sentence.strip():
        yield sentence.strip()


def fetch_leipzig(name: str, cache_dir: os.PathLike | str | None = None, *,
                  base_url: str | None = None, progress: bool = True,
                  **download_kw) -> pathlib.Path:
  """Downloads (or reuses) and extracts one corpus; returns the folder with sentences.txt.

  cache_dir / base_url default to llmjax.paths.leipzig_cache() / leipzig_url()."""
  check_name(name)
  cache = pathlib.Path(cache_dir or paths.leipzig_cache()).expanduser()
  base_url = base_url or paths.leipzig_url()
  archive = cache / f"{name}.tar.gz"
  manifest = _load_manifest(cache)
  if not archive.is_file():
    download(base_url.format(name=name), archive, progress=progress, **download_kw)
  size, digest = archive.stat().st_size, sha256_file(archive)
  known = manifest.get(name)
  if known and (known["size"], known["sha256"]) != (size, digest):
    raise DataError(f"{str(archive)!r} does not match {MANIFEST} (size {size} vs "
                    f"{known['size']}, sha256 {digest[:12]}… vs {known['sha256'][:12]}…): "
                    "delete the archive to download it again")
  validate_archive(archive, name)
  if not known:
    manifest[name] = {"url": base_url.format(name=name), "size": size, "sha256": digest}
    atomic_write_text(cache / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
  out = cache / name / "sentences.txt"
  stamp = cache / name / ".sha256"
  if not (out.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
    n = atomic_write_lines(out, iter_sentences(archive, name))
    if n == 0:
      raise DataError(f"{str(archive)!r} holds no sentences")
    atomic_write_text(stamp, digest)
  return out.parent
