"""`gallery serve`: a local preview of the site over HTTP, with the standard library's http.server.

Missing pages get the site's 404.html with status 404, as GitHub Pages does, so the preview shows
what visitors of the published atlas will see. `watch` polls the config's modification time (once
a second; a file-system notification library would add a dependency for one file) so the preview
can follow the config as it is edited.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gallery.errors import GalleryError

HOST = "127.0.0.1"  # a preview: reachable from this machine only


class SiteHandler(SimpleHTTPRequestHandler):
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != HTTPStatus.NOT_FOUND or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(code, message)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def server(site: Path, port: int) -> ThreadingHTTPServer:
    """A server for `site` on 127.0.0.1:`port` (0 picks a free port), not yet serving."""
    if not (site / "index.html").is_file():
        raise GalleryError(f"{site}: no index.html; run `gallery build CONFIG` first")
    handler = functools.partial(SiteHandler, directory=str(site.resolve()))
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise GalleryError(f"cannot serve on {HOST}:{port}: {exc.strerror}") from None


def url(httpd: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{httpd.server_port}/"


def watch(config: Path, rebuild: Callable[[], None], stop: threading.Event, interval: float = 1.0) -> None:
    """Call `rebuild` after each change of `config`'s modification time, until `stop` is set."""
    seen = config.stat().st_mtime_ns
    while not stop.wait(interval):
        try:
            changed = config.stat().st_mtime_ns
        except OSError:
            continue  # an editor that saves by replacing the file: it is back on the next poll
        if changed != seen:
            seen = changed
            rebuild()
