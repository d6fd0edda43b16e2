"""Policies: rules that say which events to alert on and which to act on, in dry-run or
enforce mode (:mod:`agent.policy.model`, files in :mod:`agent.policy.load`, decisions and
their enforcement in :mod:`agent.policy.enforce`)."""
