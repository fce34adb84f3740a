"""The `cmm` command: one entry point, one subcommand per job.

Each package contributes its subcommands through a small `*_cli` module exposing
`register(subparsers)`. Those modules import only argparse-level code at the top and
defer heavy imports (torch, onnxruntime) to the handler, so `cmm --help` works with
only the serving dependencies installed.
"""

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "lob.cli",
    "export.teacher_cli",
    "export.distill_cli",
    "export.evaluate_cli",
    "server.cli",
    "loadtest.cli",
)


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmm", description="CMM Quote: LOB data, distillation, serving.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name in (name, name.partition(".")[0]):  # that package is not installed here
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as err:
        print(f"cmm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
