"""The ``mnist-lit`` command: import PyTorch and Lightning, then run the CLI."""

import gc
import sys


def main() -> None:
    """Run the command line of :mod:`mnist_lit.cli`; Ctrl-C during its imports ends in one line."""
    # Importing PyTorch and Lightning creates some 400,000 Python objects that live as long as
    # the process. Each full garbage collection would walk them all, while importing and again as
    # the interpreter exits (README, "Speed"). Frozen once imported, they are left out of every
    # collection; all later objects are collected as usual.
    gc.disable()
    try:
        from mnist_lit.cli import main as run_cli  # importing takes seconds: Ctrl-C may come here
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        gc.freeze()
        gc.enable()
    run_cli()
