"""The TwiML answer to an inbound message: empty, or one auto-reply."""

from __future__ import annotations

from xml.sax.saxutils import escape as xml_escape

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml_reply(text: str | None) -> str:
    """Empty TwiML, or one ``<Message>`` when a keyword has an auto-reply."""
    if not text:
        return EMPTY_TWIML
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Message>{xml_escape(text)}</Message></Response>"
    )
