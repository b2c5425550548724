#!/usr/bin/env python3
"""Serves node/dashboard/dist/ as the regulator's node does, for working on
the dashboard without rebuilding the node.

GET /, /app.js and /app.css answer the three built files with the headers
of node/src/rpc/dashboard.rs (its Content-Security-Policy above all); any
POST is forwarded to a node's JSON-RPC port, as the dashboard's own port
does. Run `npm run watch` in node/dashboard beside it.

    python3 tests/dashboard/devserver.py --rpc http://127.0.0.1:PORT [--listen 127.0.0.1:8090]

The browser test does not use it: it opens the node's own dashboard port.
"""

import argparse
import http.server
import sys
import urllib.error
import urllib.request
from pathlib import Path

DIST = Path(__file__).resolve().parents[2] / "node" / "dashboard" / "dist"

# As node/src/rpc/dashboard.rs sends it.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
BODY_MAX = 1 << 20


def handler(rpc_url: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self, head: bool = False):
            page = PAGES.get(self.path.split("?", 1)[0])
            if page is None:
                self._send(404, b"not found: the dashboard is /, its JSON-RPC is POST /rpc\n", "text/plain; charset=utf-8", head)
                return
            name, content_type = page
            self._send(200, (DIST / name).read_bytes(), content_type, head)

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            if length > BODY_MAX:
                self._send(413, b"request too large\n", "text/plain; charset=utf-8")
                return
            body = self.rfile.read(length)
            req = urllib.request.Request(rpc_url, data=body, headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as res:
                    self._send(res.status, res.read(), "application/json")
            except urllib.error.HTTPError as e:
                self._send(e.code, e.read(), "application/json")
            except OSError as e:
                self._send(502, f"cannot reach {rpc_url}: {e}\n".encode(), "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str, head: bool = False):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-cache")
            self.send_header("content-security-policy", CSP)
            self.send_header("x-content-type-options", "nosniff")
            self.send_header("x-frame-options", "DENY")
            self.send_header("referrer-policy", "no-referrer")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("devserver: " + (fmt % args) + "\n")

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpc", required=True, help="the regulator node's JSON-RPC URL, e.g. http://127.0.0.1:8545")
    ap.add_argument("--listen", default="127.0.0.1:8090", help="host:port to serve on (default 127.0.0.1:8090)")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler(args.rpc))
    print(f"dashboard http://{host}:{server.server_port}/ -> JSON-RPC {args.rpc}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
