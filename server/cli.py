"""`cmm serve`: serve quotes over HTTP with uvicorn (uvloop + httptools), settings from CMM_* variables.

Flags override the environment. Workers are separate processes, each with its own per-symbol state:
send a symbol's snapshots to one worker (one worker is the default), or its windows fill more slowly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve quotes over HTTP from a model bundle",
        description="Serve POST /v1/quote and friends. Other settings: CMM_* environment variables "
        "(server/settings.py), e.g. CMM_ADMIN_TOKEN enables POST /v1/admin/reload.",
    )
    parser.add_argument("--bundle", type=Path, help="model bundle directory (default $CMM_BUNDLE or models/default)")
    parser.add_argument("--host", help="address to bind (default $CMM_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default $CMM_PORT or 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (default $CMM_WORKERS or 1)")
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from server.errors import field_path
    from server.runtime import load_runtime
    from server.settings import Settings

    flags = {k: getattr(args, k) for k in ("bundle", "host", "port", "workers") if getattr(args, k) is not None}
    try:
        settings = Settings(**flags)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        raise ValueError(f"setting {field_path(tuple(first['loc']))}: {first['msg']}") from None
    settings.quote_params()
    load_runtime(settings.bundle, warmup_runs=0)  # refuse a missing or corrupt bundle before starting workers
    for key, value in flags.items():  # workers build their settings from the environment
        os.environ[f"CMM_{key.upper()}"] = str(value)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
    )
    return 0
