"""A Leipzig Wortschatz mirror on 127.0.0.1 for tests: archives in the exact upstream layout
(`<name>.tar.gz` holding `<name>/<name>-sentences.txt` with `<id>\\t<sentence>` lines, plus the
other files Leipzig ships), served over HTTP with optional faults."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from typing import Sequence


def archive(name: str, lines: Sequence[str], member: str | None = None) -> bytes:
  """A .tar.gz in Leipzig's layout (member: override the sentences file's path)."""
  body = "".join(f"{i}\t{s}\n" for i, s in enumerate(lines, 1)).encode()
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    for path, data in ((member or f"{name}/{name}-sentences.txt", body),
                       (f"{name}/{name}-words.txt", b"1\tword\t3\n" * 2000)):
      info = tarfile.TarInfo(path)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return buf.getvalue()


class Mirror:
  """Serves files[path] = (bytes, mode); mode: ok, drop_first (half, then close), stall.

  `base` is the URL template for LLMJAX_LEIPZIG_URL; `requests` records (path, Range)."""

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

  def downloads(self, name: str) -> int:
    return sum(1 for path, _ in self.requests if path == f"/corpora/{name}.tar.gz")

  def close(self) -> None:
    self.release.set()
    self.httpd.shutdown()
    self.httpd.server_close()
