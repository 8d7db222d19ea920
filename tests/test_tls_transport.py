"""The session's TLS is set up on its first https request (`adapters/http.py`, `_TlsWhenNeeded`),
and is then exactly httpx's: the certificate is verified against the default trust, and
SSL_CERT_FILE is honoured. Against a real TLS server on 127.0.0.1 (a self-signed certificate kept
in tests/data/tls), in a fresh interpreter each time (the session is process-wide).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TLS = Path(__file__).parent / "data" / "tls"

SCRIPT = r"""
import http.server, ssl, sys, threading

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
tls.socket = context.wrap_socket(tls.socket, server_side=True)
plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
for server in (tls, plain):
    threading.Thread(target=server.serve_forever, daemon=True).start()

from huggingface_hub import get_session
from hfops.adapters.http import start_session

start_session(5.0, ("http://127.0.0.1",))
session = get_session()
print("plain", session.get(f"http://127.0.0.1:{plain.server_address[1]}/").status_code)
try:
    print("tls", session.get(f"https://127.0.0.1:{tls.server_address[1]}/").status_code)
except Exception as error:
    print("tls refused", type(error).__name__, "CERTIFICATE_VERIFY_FAILED" in str(error))
"""


def _run(**env: str) -> list[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    full.update(env, NO_PROXY="127.0.0.1")
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(TLS / "loopback.pem"), str(TLS / "loopback.key")],
        env=full, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_an_https_request_after_plain_ones_verifies_the_server_certificate() -> None:
    assert _run() == ["plain 200", "tls refused ConnectError True"]


def test_ssl_cert_file_is_trusted_by_the_tls_set_up_on_first_use() -> None:
    assert _run(SSL_CERT_FILE=str(TLS / "loopback.pem")) == ["plain 200", "tls 200"]
