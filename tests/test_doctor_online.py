"""``publisher doctor --online``: each account an enabled campaign posts to is logged in, as ``publisher login``
does, against real servers on 127.0.0.1 (the X fake, the Mastodon fake), one line each: who it is, or the
platform's error with its fix. Without ``--online`` nothing is sent anywhere."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from conftest import REPO
from fakes.mastodon_api import FakeMastodonAPI
from fakes.x_api import FakeXAPI
from posting_project import USED_SECRETS, environment
from publisher.errors import ExitStatus

ACCOUNTS = {
    "local": 'platform = "outbox"\n',
    "x": 'platform = "x"\nhandle = "@publisher_test"\n',
    "bsky": 'platform = "bluesky"\nhandle = "campaign.example.com"\npassword_env = "PUBLISHER_DOCTOR_BSKY_PASSWORD"\n',
}


def make_project(root: Path, accounts: dict[str, str]) -> Path:
    (root / "quotes").mkdir(parents=True)
    shutil.copy(REPO / "quotes" / "caseyreview.toml", root / "quotes" / "caseyreview.toml")
    tables = "".join(f"[accounts.{name}]\n{table}\n" for name, table in accounts.items())
    (root / "schedule.toml").write_text(f"""\
[defaults]
timezone = "Europe/London"

{tables}
[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = {json.dumps(list(accounts))}
""", encoding="utf-8")
    return root


@pytest.fixture
def doctor(run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``publisher doctor`` in-process, in a project, with these variables set (and only these of publisher's)."""
    def run(root: Path, env: dict[str, str], *args: str) -> Result:
        for variable in ("PUBLISHER_HTTP_TIMEOUT", "PUBLISHER_X_API_BASE", "PUBLISHER_MASTODON_TOKEN",
                         "PUBLISHER_DOCTOR_BSKY_PASSWORD"):
            monkeypatch.delenv(variable, raising=False)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        monkeypatch.chdir(root)
        return run_cli("doctor", *args)

    return run


def logins(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line[2:].startswith("login ")]


def test_online_logs_each_account_in_and_says_who_or_what_to_fix(tmp_path: Path, fake_x: FakeXAPI,
                                                                  doctor: Callable[..., Result]) -> None:
    root = make_project(tmp_path / "project", ACCOUNTS)
    user = fake_x.add_user("publisher_test")
    env = environment(fake_x=fake_x, x_user=user)

    offline = doctor(root, env)
    assert logins(offline) == [] and fake_x.requests == [], "doctor without --online touched the network"

    result = doctor(root, env, "--online")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    outbox = (root / "outbox" / "local").resolve()
    assert logins(result) == [
        f"✓ login local (outbox): outbox {outbox}",
        "✓ login x (x): @publisher_test",
        "✗ login bsky (bluesky): account bsky: PUBLISHER_DOCTOR_BSKY_PASSWORD is not set in the environment "
        "(export PUBLISHER_DOCTOR_BSKY_PASSWORD with an app password of campaign.example.com)",
    ]
    assert ("GET", "/2/users/me") in fake_x.requests
    failed = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert [line.split(":")[0] for line in failed] == ["✗ account bsky (bluesky)", "✗ login bsky (bluesky)"]
    assert not (root / "state").exists(), "doctor --online made the state folder: with no store it keeps none"

    report = json.loads(doctor(root, env, "--online", "--json").stdout)
    x_login = next(check for check in report["checks"] if check["check"] == "login x (x)")
    assert x_login == {"check": "login x (x)", "ok": True, "detail": "@publisher_test", "fix": None}


def test_online_says_what_a_platform_refused(tmp_path: Path, fake_x: FakeXAPI,
                                             doctor: Callable[..., Result]) -> None:
    root = make_project(tmp_path / "project", {"x": ACCOUNTS["x"]})
    user = fake_x.add_user("publisher_test")
    env = {**environment(fake_x=fake_x, x_user=user), "PUBLISHER_X_ACCESS_TOKEN_SECRET": "not-the-secret-4u"}
    USED_SECRETS.append("not-the-secret-4u")
    result = doctor(root, env, "--online")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    assert logins(result) == ["✗ login x (x): X refused the credentials (401) (check the four PUBLISHER_X_* "
                              "variables and that the app has read and write access)"]
    assert "not-the-secret-4u" not in result.output


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_online_gives_up_on_a_server_that_does_not_answer(tmp_path: Path, fake_x: FakeXAPI, silent_server: str,
                                                          doctor: Callable[..., Result]) -> None:
    root = make_project(tmp_path / "project", {"x": ACCOUNTS["x"], "local": ACCOUNTS["local"]})
    env = {**environment(fake_x=fake_x, x_user=fake_x.add_user("publisher_test")),
           "PUBLISHER_X_API_BASE": silent_server, "PUBLISHER_HTTP_TIMEOUT": "1"}
    started = time.monotonic()
    result = doctor(root, env, "--online")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    assert logins(result)[0] == "✗ login x (x): X did not answer in time"
    assert logins(result)[1].startswith("✓ login local (outbox): ")  # the next account is still checked
    assert time.monotonic() - started < 60


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodonAPI]:
    fake = FakeMastodonAPI()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_online_logs_in_to_a_mastodon_server(tmp_path: Path, fake_mastodon: FakeMastodonAPI,
                                             doctor: Callable[..., Result]) -> None:
    root = make_project(tmp_path / "project", {"social": f'platform = "mastodon"\ninstance = "{fake_mastodon.url}"\n'})
    user = fake_mastodon.add_user("campaign", scopes=("write:statuses", "write:media", "read:accounts",
                                                      "read:statuses"))
    USED_SECRETS.append(user.token)
    result = doctor(root, {"PUBLISHER_MASTODON_TOKEN": user.token}, "--online")
    assert logins(result) == ["✓ login social (mastodon): @campaign@127.0.0.1"], result.stdout

    fake_mastodon.revoke(user.token)
    result = doctor(root, {"PUBLISHER_MASTODON_TOKEN": user.token}, "--online")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    [line] = logins(result)
    assert line.startswith("✗ login social (mastodon): Mastodon at 127.0.0.1:") and "revoked" in line, line
    assert "publisher login mastodon social" in line.split(" (", 1)[1], line  # the fix: a new token
    assert user.token not in result.output
