#!/usr/bin/env python3
"""The physical limit hfops is measured against: the same work, done as plainly as Python can.

Run as a subprocess by bench.py, like hfops, so that both pay for an interpreter start. Standard
library and PyYAML only (no huggingface_hub, no httpx, no hfops):

  plan   load every manifest with plain libyaml (`yaml.load_all(..., CSafeLoader)`, no checks),
         then one concurrent wave of raw HTTP requests: the list of each namespace, each model's
         info and its config.json, every answer parsed as JSON; then read (`json.load`) each
         credential file in `--read-dir`, which a plan compares with what it should hold.
  apply  raw concurrent POSTs of N create bodies (one connection per worker, `--workers` of
         them), then a list of the namespace every `--poll` seconds until all N are running, then
         each endpoint's TGI /health and /info, concurrently. With `--pace RPS:BURST` the POSTs
         are sent no faster than a token bucket of that rate allows (the server's own limit,
         known in advance: the best any client can do under it).

Prints one JSON line: {"seconds": wall from the first line of this script, "requests": n, ...}.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402


class Raw:
    """One kept-alive HTTP/1.1 connection per thread."""

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.local = threading.local()
        self.count = 0
        self.refused = 0
        self.lock = threading.Lock()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=self.headers)
        response = conn.getresponse()
        payload = response.read()
        with self.lock:
            self.count += 1
        try:
            return response.status, json.loads(payload) if payload else None
        except ValueError:
            return response.status, None


def concurrently(calls: Sequence[Callable[[], Any]], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        return list(pool.map(lambda call: call(), calls))


def plan(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    docs = 0
    for file in args.files:
        with open(file, encoding="utf-8") as handle:
            docs += sum(1 for d in yaml.load_all(handle.read(), Loader=yaml.CSafeLoader) if d)
    raw = Raw(args.url, args.token)
    calls: list[Callable[[], Any]] = [
        (lambda ns=ns: raw.request("GET", f"/v2/endpoint/{quote(ns)}")) for ns in args.namespaces
    ]
    calls += [(lambda m=m: raw.request("GET", f"/api/models/{m}")) for m in args.models]
    calls += [(lambda m=m: raw.request("GET", f"/{m}/resolve/main/config.json")) for m in args.models]
    answers = concurrently(calls, len(calls))
    read = 0
    if args.read_dir:  # the credential files a plan compares with what they should hold
        import os

        for entry in os.scandir(args.read_dir):
            if entry.name.endswith(".json") and entry.is_file():
                with open(entry.path, encoding="utf-8") as handle:
                    json.load(handle)
                read += 1
    listed = sum(len(body["items"]) for status, body in answers[: len(args.namespaces)] if status == 200)
    return {"documents": docs, "listed": listed, "requests": raw.count, "files_read": read}


def apply(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.body, encoding="utf-8") as handle:
        template = json.load(handle)
    raw = Raw(args.url, args.token)
    names = [f"{args.prefix}-{i:04d}" for i in range(args.count)]
    pacer = Bucket(args.pace) if args.pace else None

    def post(name: str) -> int:
        while True:
            if pacer is not None:
                pacer.take()
            status, _ = raw.request("POST", f"/v2/endpoint/{quote(args.namespace)}", {**template, "name": name})
            if status != 429:  # only if the bucket was not full at the start (bench.py lets it refill)
                return status
            raw.refused += 1
            time.sleep(1.0)

    statuses = concurrently([(lambda n=n: post(n)) for n in names], args.workers)
    refused = [s for s in statuses if not 200 <= s < 300]
    if refused:
        raise SystemExit(f"probe: {len(refused)} POSTs refused: {sorted(set(refused))}")
    posted = time.perf_counter() - STARTED
    urls: dict[str, str] = {}
    while len(urls) < len(names):
        time.sleep(args.poll)
        if pacer is not None:
            pacer.take()
        status, body = raw.request("GET", f"/v2/endpoint/{quote(args.namespace)}")
        if status != 200:
            continue
        for item in body["items"]:
            if item["name"] in names and item["status"]["state"] == "running" and item["status"].get("url"):
                urls[item["name"]] = item["status"]["url"]
    running = time.perf_counter() - STARTED

    def tgi(url: str, route: str) -> int:
        path = urlsplit(url).path.rstrip("/") + route
        return raw.request("GET", path)[0]

    checks = [(lambda u=u, r=r: tgi(u, r)) for u in urls.values() for r in ("/health", "/info")]
    concurrently(checks, args.workers)
    return {"posted": round(posted, 3), "running": round(running, 3), "requests": raw.count, "429": raw.refused}


class Bucket:
    def __init__(self, spec: str) -> None:
        rate, _, burst = spec.partition(":")
        self.rate = float(rate)
        self.tokens = self.burst = float(burst or rate)
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["plan", "apply"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--files", nargs="*", default=[])
    parser.add_argument("--namespaces", nargs="*", default=[])
    parser.add_argument("--models", nargs="*", default=[])
    parser.add_argument("--namespace", default="")
    parser.add_argument("--prefix", default="probe")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--body", default="")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--pace", default="")
    parser.add_argument("--read-dir", default="")
    args = parser.parse_args(argv)
    result = plan(args) if args.what == "plan" else apply(args)
    result["seconds"] = round(time.perf_counter() - STARTED, 4)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
