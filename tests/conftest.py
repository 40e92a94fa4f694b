import sys
from pathlib import Path

# tests/kinds.py is a helper module shared by the I/O tests
sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print pytest-randomly's seed also under ``-q`` (which hides the report header), so
    that a failing order can be replayed with ``--randomly-seed=N``."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(f"test order: pytest-randomly seed {seed} "
                                    f"(replay with --randomly-seed={seed})")
