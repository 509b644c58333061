"""What is said: message templates and their versions, personalisation
(rendered in a sandbox), previews (segments, encoding, missing variables)."""
