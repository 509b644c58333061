"""Provider callbacks in: receivers that read a request, verify it through its
provider's package, hand it to services and answer."""
