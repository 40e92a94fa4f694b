import sys
from pathlib import Path

# tests/kinds.py is a helper module shared by the I/O tests
sys.path.insert(0, str(Path(__file__).parent))
