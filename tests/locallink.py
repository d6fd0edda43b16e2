"""The in-process link lives in the agent (``policy test`` replays scenarios with it)."""

from agent.simlink import LocalLink

__all__ = ["LocalLink"]
