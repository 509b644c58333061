"""Sending policies as data, checked at one point before a message is
committed: frequency caps and quiet hours in the recipient's time zone, and
the countries a provider may send to. Each answers "send", "defer until T"
or "skip with reason", like :class:`textcast.retry.RetryStrategy` answers
"retry after T" or "give up"."""
