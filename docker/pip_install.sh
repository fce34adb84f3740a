#!/bin/sh
# Install requirements into /opt/venv: from the wheelhouse /wheels when it holds wheels (air-gapped build),
# from the package index otherwise. Usage (inside an image build): pip_install.sh REQUIREMENT...
set -eu
if ls /wheels/*.whl >/dev/null 2>&1; then
    echo "pip_install: from the wheelhouse ($(ls /wheels/*.whl | wc -l) wheels)"
    exec /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels "$@"
fi
echo "pip_install: no wheelhouse, from the package index"
exec /opt/venv/bin/pip install --no-cache-dir "$@"
