"""Container health check: exit 0 when the quote server on this container's port reports ready (GET /readyz)."""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('CMM_PORT', '8000')}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as err:  # connection refused, timeout, or HTTP 503 while loading
        print(f"healthcheck: {url}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
