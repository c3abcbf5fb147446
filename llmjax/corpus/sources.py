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

import tqdm.auto as tqdm

from llmjax import paths
from llmjax.errors import DataError
from llmjax.paths import atomic_write_lines, atomic_write_text

MANIFEST = "manifest.json"
STAMP = ".sha256"  # beside sentences.txt: the digest of the archive it came from
# <lang>_<genre>_<year or years>[_<size>]: tat_news_2015_1M, tat_news_2005-2011_300K,
# tat_community_2017, tat_wikipedia_2021_100K. Letters, digits, '_' and '-' only: the name
# becomes a URL and a file name.
_NAME = re.compile(r"^[a-z]{3}(?:-[a-z]+)?_[a-z][a-z0-9-]*(?:_[a-z][a-z0-9-]*)*"
                   r"_\d{4}(?:-\d{4})?(?:_\d+[KM])?$")
_FATAL_HTTP = (400, 401, 403, 404, 410)  # retrying cannot help


class Offline(DataError):
  """The server cannot be reached at all (no network, or no such host)."""


def check_name(name: str) -> str:
  if not _NAME.match(name):
    raise DataError(f"{name!r} is not a Leipzig corpus name like tat_news_2015_1M or "
                    "tat_community_2017 (<lang>_<genre>_<year>[_<size>])")
  return name


def _unreachable(e: urllib.error.URLError) -> bool:
  """No such host, or nothing listening: waiting and retrying will not help."""
  return isinstance(e.reason, (socket.gaierror, ConnectionRefusedError))


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
        with open(part, "ab" if have else "wb") as f, tqdm.tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=f"download {dest.name}",
            disable=not progress, file=sys.stderr) as bar:
          done = have
          while True:
            block = resp.read1(chunk)  # what has arrived: a stall keeps the bytes so far
            if not block:
              break
            f.write(block)
            done += len(block)
            bar.update(len(block))
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
    except urllib.error.URLError as e:
      if _unreachable(e) and not attempt:
        raise Offline(f"cannot reach {url}: {e.reason}") from e
      last_error = f"{type(e).__name__}: {e.reason}"
    except (http.client.HTTPException, socket.timeout, TimeoutError, ConnectionError) as e:
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


def iter_sentences(path: os.PathLike | str, name: str, progress: bool = False
                   ) -> Iterator[str]:
  """Sentences of the archive's sentences file (`<id>\\t<sentence>` lines)."""
  with tarfile.open(path, "r:gz") as tar:
    member = tar.getmember(sentences_member(name))
    f = tar.extractfile(member)
    if f is None:
      raise DataError(f"{sentences_member(name)!r} in {str(path)!r} is not a regular file")
    bar = tqdm.tqdm(total=member.size, unit="B", unit_scale=True, desc=f"extract {name}",
                    disable=not progress, file=sys.stderr)
    for lineno, raw in enumerate(f, start=1):
      bar.update(len(raw))
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
    bar.close()


def fetch_leipzig(name: str, cache_dir: os.PathLike | str | None = None, *,
                  base_url: str | None = None, progress: bool = True,
                  log: Callable[[str], None] = lambda msg: None,
                  **download_kw) -> pathlib.Path:
  """Downloads (or reuses) and extracts one corpus; returns the folder with sentences.txt.

  cache_dir / base_url default to llmjax.paths.leipzig_cache() / leipzig_url(). The folder
  also holds `.sha256`, the archive's digest (archive_digest reads it).
  """
  check_name(name)
  cache = pathlib.Path(cache_dir or paths.leipzig_cache()).expanduser()
  base_url = base_url or paths.leipzig_url()
  archive = cache / f"{name}.tar.gz"
  manifest = _load_manifest(cache)
  if not archive.is_file():
    log(f"downloading {name} from {base_url.format(name=name)} into {cache}")
    download(base_url.format(name=name), archive, progress=progress, **download_kw)
  size, digest = archive.stat().st_size, sha256_file(archive)
  known = manifest.get(name)
  if known and (known["size"], known["sha256"]) != (size, digest):
    raise DataError(f"{str(archive)!r} does not match {MANIFEST} (size {size} vs "
                    f"{known['size']}, sha256 {digest[:12]}… vs {known['sha256'][:12]}…): "
                    "delete the archive to download it again")
  out = cache / name / "sentences.txt"
  stamp = cache / name / STAMP
  if not (out.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
    validate_archive(archive, name)
    if not known:
      manifest[name] = {"url": base_url.format(name=name), "size": size, "sha256": digest}
      atomic_write_text(cache / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    log(f"extracting the sentences of {archive.name}")
    n = atomic_write_lines(out, iter_sentences(archive, name, progress))
    if n == 0:
      raise DataError(f"{str(archive)!r} holds no sentences")
    atomic_write_text(stamp, digest)
  return out.parent


def archive_digest(folder: os.PathLike | str) -> str:
  """The sha256 of the archive a fetch_leipzig folder was extracted from."""
  return (pathlib.Path(folder) / STAMP).read_text().strip()
