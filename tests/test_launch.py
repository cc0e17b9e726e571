"""The ``mnist-lit`` command's start: the imported libraries' objects are frozen out of garbage collection."""

import subprocess
import sys

# Run in a process of its own: freezing would otherwise take in the test session's objects too.
PROBE = """
import gc
from mnist_lit import cli, launch
assert gc.get_freeze_count() == 0
cli.main = lambda: print(gc.isenabled(), gc.get_freeze_count() > 100_000)
launch.main()
"""


def test_the_cli_runs_with_collection_on_and_the_imported_libraries_frozen() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout == "True True\n"
