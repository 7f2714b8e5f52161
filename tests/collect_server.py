"""A local HTTP server on 127.0.0.1 for the collect tests: routes replay real fixture bytes or fail on purpose."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, list[str]], "BaseHTTPRequestHandler"], Reply | None]


class LocalServer:
    """`routes` maps a path (exact, or a prefix ending in '/') to a function of (query, handler) returning
    (status, headers, body); returning None means the function wrote the response itself."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes, self.hits, self.requests = routes, Counter[str](), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    query.update(parse_qs(self.rfile.read(length).decode()))
                outer.hits[parts.path] += 1
                outer.requests.append((self.command, parts.path, query, dict(self.headers)))
                route = outer.routes.get(parts.path) or next(
                    (r for p, r in outer.routes.items() if p.endswith("/") and parts.path.startswith(p)), None)
                reply = route(query, self) if route else (404, {}, b"not found")
                if reply is None:
                    return
                status, headers, body = reply
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def static(body: bytes, content_type: str = "application/octet-stream", status: int = 200) -> Route:
    return lambda q, h: (status, {"Content-Type": content_type}, body)


def slow(seconds: float) -> Route:
    def route(q: dict[str, list[str]], h: BaseHTTPRequestHandler) -> Reply:
        time.sleep(seconds)
        return 200, {}, b"late"
    return route


def truncated(body: bytes, claimed: int) -> Route:
    """Declares `claimed` bytes, sends `body` and closes: a connection cut mid-download."""
    def route(q: dict[str, list[str]], h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(claimed))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
        h.close_connection = True
    return route


def jpeg(seed: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """A small real JPEG drawn here (seeded noise on a skin tone), for the collectors' download tests: they
    need image bytes to serve, not a particular photograph, so they run without ../shared/fixtures."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array([222, 176, 140]) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()
