"""Provider callbacks: signature checks, status and inbound receivers."""
