#!/usr/bin/env bash
# Download the wheels the container images install, for an air-gapped build: the project's base dependencies
# (pyproject.toml), hdrhistogram from its loadtest extra (the replay client), and setuptools to build the project,
# as binary wheels for CPython 3.11 on this machine's architecture. When .venv exists, its versions are used
# (the image then runs what `make test` tested). Run on a host that can reach a package index.
# Usage: scripts/wheelhouse.sh [DIR]    (default DIR: docker/wheels, where the Dockerfile looks)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-docker/wheels}
PY=${PY:-$(command -v .venv/bin/python || command -v python3.11 || command -v python3)}

case "$(uname -m)" in
    x86_64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) echo "wheelhouse.sh: no manylinux wheels for architecture $(uname -m)" >&2; exit 1 ;;
esac
platforms=()
for tag in manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_34; do platforms+=(--platform "${tag}_${arch}"); done

mapfile -t reqs < <("$PY" docker/requirements.py pyproject.toml && "$PY" docker/requirements.py pyproject.toml hdrhistogram)
reqs+=("setuptools>=68")
constraints=()
if [[ -x .venv/bin/python ]]; then
    pins=$(mktemp)
    trap 'rm -f "$pins"' EXIT
    .venv/bin/python -m pip freeze --exclude-editable | grep '==' >"$pins" || true
    constraints=(--constraint "$pins")
fi
mkdir -p "$DIR"
echo "wheelhouse: ${reqs[*]} -> $DIR${constraints:+ (versions of .venv)}"
# The host's pip config may list local indexes that lack some projects: keep their warnings out of the way.
"$PY" -m pip download --quiet --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    "${platforms[@]}" "${constraints[@]}" -d "$DIR" "${reqs[@]}" 2> >(grep -v 'is ignored: it is neither' >&2)
echo "wheelhouse: $(find "$DIR" -name '*.whl' | wc -l) wheels, $(du -sh "$DIR" | cut -f1)"
