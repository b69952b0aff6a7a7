"""``publisher serve``: a local web dashboard over the same library the CLI uses (``publisher.app.Project``).

Server-rendered pages that work without JavaScript (forms post to the JSON API, which answers a form with a
redirect back), a token on every request, and a CSRF token or a Bearer header on every change.
"""
