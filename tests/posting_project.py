"""A project folder that posts a 5-part thread (intro, 3 quote cards, outro) to a local PDS, a fake X, or both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
USED_SECRETS: list[str] = []  # every password and key a test hands to publisher; tests/test_zz_secrets.py checks


def make_project(root: Path, *, bluesky: tuple[str, str] | None = None, x: bool = False,
                 mention_handle: str | None = None, campaign: str = "thread", mastodon: str | None = None,
                 mastodon_keys: str = "", quotes_per_thread: int = 3) -> Path:
    """``bluesky`` is (service URL, handle); the X account uses the fake's API through PUBLISHER_X_API_BASE;
    ``mastodon`` is the instance's URL of account masto (``mastodon_keys``: more lines of its table)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "quotes").mkdir(exist_ok=True)
    collection = (REPO / "quotes" / "caseyreview.toml").read_text("utf-8")
    if mention_handle:
        collection = collection.replace('"@metpoliceuk" = ""', f'"@metpoliceuk" = "{mention_handle}"')
    (root / "quotes" / "caseyreview.toml").write_text(collection, encoding="utf-8")
    accounts, names = [], []
    if bluesky:
        service, handle = bluesky
        accounts.append(f'[accounts.bsky]\nplatform = "bluesky"\nhandle = "{handle}"\nservice = "{service}"\n')
        names.append("bsky")
    if x:
        accounts.append('[accounts.x]\nplatform = "x"\nhandle = "@publisher_test"\n')
        names.append("x")
    if mastodon:
        accounts.append(f'[accounts.masto]\nplatform = "mastodon"\ninstance = "{mastodon}"\n{mastodon_keys}')
        names.append("masto")
    (root / "schedule.toml").write_text(
        '[defaults]\ntimezone = "Europe/London"\n\n' + "\n".join(accounts) + f"""
[[campaigns]]
name = "{campaign}"
collection = "caseyreview"
accounts = {names!r}
quotes_per_thread = {quotes_per_thread}
intro = "What the #CaseyReview found about the Met 🧵 ({campaign})"
outro = "Read the review: https://example.org/casey-review {{hashtags}}"
numbering = true
""".replace("'", '"'), encoding="utf-8")
    return root


def environment(*, bluesky_password: str | None = None, fake_x: Any = None, x_user: Any = None,
                timeout: float | None = None, mastodon_token: str | None = None) -> dict[str, str]:
    env: dict[str, str] = {}
    if mastodon_token:
        env["PUBLISHER_MASTODON_TOKEN"] = mastodon_token
        USED_SECRETS.append(mastodon_token)
    if bluesky_password:
        env["PUBLISHER_BSKY_APP_PASSWORD"] = bluesky_password
        USED_SECRETS.append(bluesky_password)
    if fake_x is not None:
        credentials = fake_x.credentials(x_user)
        env.update(credentials)
        env["PUBLISHER_X_API_BASE"] = fake_x.url
        USED_SECRETS.extend([credentials["PUBLISHER_X_API_SECRET"], credentials["PUBLISHER_X_ACCESS_TOKEN_SECRET"]])
    if timeout is not None:
        env["PUBLISHER_HTTP_TIMEOUT"] = str(timeout)
    return env
