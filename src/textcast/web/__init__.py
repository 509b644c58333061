"""HTTP plumbing the faces share: request dependencies (the context, a
transactional session, API-key checks, bounded IDs) and the JSON error contract."""
