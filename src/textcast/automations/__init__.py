"""Automations: a trigger, then waits, branches and SMS steps; each contact's
place in a journey is a row with a ``next_run_at`` that workers claim."""
