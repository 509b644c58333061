"""Campaigns: an audience, content and a schedule; launching fans out one
recipient row per contact in the database (``INSERT … SELECT``), and a loop
turns due recipients into messages for the dispatcher."""
