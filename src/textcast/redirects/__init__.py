"""Tracked short links answered: ``/s/<code>`` (and ``/<code>`` on the
operator's short domain) redirect to their destination once the click is
recorded."""
