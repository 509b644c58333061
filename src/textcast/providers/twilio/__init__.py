"""Twilio Programmable Messaging (REST API 2010-04-01), all of it in one place.

- ``config``: the settings a Twilio provider stores (Account SID, auth token).
- ``provider``: sending, balance and look-ups over the REST API.
- ``answers``: Twilio's answers read back (message resources, error bodies).
- ``form``: the ``Messages.json`` form, encoded fast, and form bodies decoded.
- ``statuses``: Twilio's status vocabulary and its status callbacks.
- ``signature``: ``X-Twilio-Signature``, computed and checked.
- ``webhook``: who sent a callback (Twilio directly, a relay, or neither).
- ``twiml``: the TwiML answer to an inbound message.

Nothing here touches the database: the callback receivers in
:mod:`textcast.callbacks` load the secrets and store what these modules return.
"""
