"""The owner's remedies: revoke, restrict, disable, uninstall, restore - checked, recorded in the
audit log before they run, verified by reading the phone back, and reversible
(:meth:`Actions.undo`). See :mod:`agent.actions.core`."""

from agent.actions.core import KINDS, Action, ActionError, Actions, Capability, Outcome
from agent.actions.messages import Refusal, explain
from agent.actions.protected import PROTECTED, protection

__all__ = [
    "KINDS",
    "PROTECTED",
    "Action",
    "ActionError",
    "Actions",
    "Capability",
    "Outcome",
    "Refusal",
    "explain",
    "protection",
]
