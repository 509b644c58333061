"""What the faces present: the JSON shapes of API answers, also printed by the
CLI's ``--json`` and read by the dashboard's pages, so the three never differ."""
