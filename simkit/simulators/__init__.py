"""Built-in simulators; each module registers itself on import (see simkit.registry)."""
