"""Any HTTP SMS API, defined by the user or by a preset, all of it in one place.

- ``config``: the definition stored (request shape in clear, credentials encrypted).
- ``provider``: the request built from the definition and sent; the answer read.
- ``template``: ``$$`` placeholders, each value encoded for where it lands.
- ``answers``: rules that find success, the message ID and errors in an answer.
- ``receipts``: delivery receipts read through the definition's mapping.
- ``presets``: ready-made definitions for common SMS APIs, one module each,
  with Plivo's V3 request signature.

Nothing here touches the database: :mod:`textcast.callbacks.generic_routes`
receives the receipts and stores what these modules read from them.
"""
