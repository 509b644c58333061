"""Background jobs a process runs for its own users: contact imports, claimed
from the database like the outbox and run one at a time."""
