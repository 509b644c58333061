"""SMS providers: one package each (``twilio``, ``generic``), behind the small
interface in ``base``, reaching the outside world through the seam in ``http``;
``registry`` is the one table of provider types."""
