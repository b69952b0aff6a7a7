"""``publisher serve``: a local web dashboard over the same library the CLI uses (``publisher.app.Project`` and the
queue service).

Server-rendered pages that work without JavaScript (forms post to the JSON API, which answers a form with a
redirect back), a token on every request, and a CSRF token or a Bearer header on every change. The modules point
one way: ``server`` runs ``web`` (the application), which puts ``gate`` (who may ask) in front of ``pages`` and
``api`` (the endpoints); those use ``actions`` and ``packs``, and all of them ``board`` (what the process keeps)
and ``workdir`` (its own folder).
"""
