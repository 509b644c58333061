"""The dispatcher: claims queued messages from the outbox and sends them."""
