"""`python -m fakejira --mode cloud --issues 5000 --port 0`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from .server import MODES, FakeJira


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="fakejira", description=__doc__)
    ap.add_argument("--mode", choices=MODES, default="cloud")
    ap.add_argument("--issues", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--project", default="DEMO")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--context-path", default="")
    ap.add_argument("--email", default="tester@example.com")
    ap.add_argument("--token", default="fake-api-token")
    ap.add_argument("--cloud-id", default="0e5c5b8d-7f0a-4d1e-9a57-1f2e3d4c5b6a")
    ap.add_argument("--time-zone", default="America/Los_Angeles")
    ap.add_argument("--max-results-cap", type=int, default=100)
    ap.add_argument(
        "--search-window", type=int, default=10_000, help="DC: deepest startAt+maxResults"
    )
    ap.add_argument(
        "--comment-limit", type=int, default=5000, help="Cloud: comments per issue (413 past it)"
    )
    ap.add_argument("--no-comments", action="store_true")
    ap.add_argument("--no-attachments", action="store_true")
    a = ap.parse_args(argv)
    fj = FakeJira(
        mode=a.mode, issues=a.issues, seed=a.seed, project=a.project, latency_ms=a.latency_ms,
        comments=not a.no_comments, attachments=not a.no_attachments, context_path=a.context_path,
        email=a.email, token=a.token, cloud_id=a.cloud_id, time_zone=a.time_zone,
        max_results_cap=a.max_results_cap, search_window=a.search_window, host=a.host, port=a.port,
        comment_limit=a.comment_limit,
    )  # fmt: skip
    with fj:
        print(f"fakejira {a.mode} serving {a.issues} issues at {fj.url}", flush=True)
        if a.mode == "gateway":
            print(f"gateway: {fj.api_url}", flush=True)
        print(f"auth: {fj.auth_headers() or 'none'}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
