"""Who is messaged: contacts (phone, attributes, tags, time zone), segments,
suppressions (the opt-out lists), keyword rules in replies, and imports."""
