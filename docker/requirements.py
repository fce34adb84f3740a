"""Print requirements from pyproject.toml, one a line: the base dependencies, or those of the named packages.

    python3 docker/requirements.py pyproject.toml                  # [project] dependencies
    python3 docker/requirements.py pyproject.toml hdrhistogram     # that package's requirement, from an extra

Used by the Dockerfile (to install dependencies in a layer of their own) and scripts/wheelhouse.sh, so that
versions are written once, in pyproject.toml. Standard library only: it runs in the bare base image.
"""

import re
import sys
import tomllib


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements(pyproject: str, names: list[str]) -> list[str]:
    """Base dependencies when `names` is empty, else the requirement of each name (from any extra)."""
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    if not names:
        return list(project["dependencies"])
    found = {requirement_name(r): r for extra in project.get("optional-dependencies", {}).values() for r in extra}
    found.update({requirement_name(r): r for r in project["dependencies"]})
    missing = [n for n in names if n.lower() not in found]
    if missing:
        raise SystemExit(f"requirements.py: {pyproject} does not require {', '.join(missing)}")
    return [found[n.lower()] for n in names]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))
