"""tetherguard's engine: adb link, collectors, parsers, detection, policy, actions, simulator.

Nothing in this package imports Textual or :mod:`tui`; an import-linter contract enforces it.
"""

__version__ = "0.1.0"
