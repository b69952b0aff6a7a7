"""Broken collection and schedule files: each gives one line naming the file and line, a status, no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from publisher.errors import ExitStatus

GOOD_QUOTE = '[[quotes]]\nid = "one"\ntext = "Public consent is broken."\n'
COLLECTION_HEAD = '[collection]\nname = "broken"\ntitle = "T"\nattribution = "A"\n'


def collection(body: str, head: str = COLLECTION_HEAD) -> str:
    return head + "\n" + body


# (case id, file written, its content, the exact line expected on stderr)
CASES: list[tuple[str, str, str | bytes, str]] = [
    ("toml-syntax", "quotes/broken.toml", collection('[[quotes]]\nid = "one"\ntext = Public\n'),
     "quotes/broken.toml:8: invalid TOML: invalid value (column 8) "
     "(values need quotes for text, [ ] for lists, or true/false/numbers)"),
    ("unterminated-string", "quotes/broken.toml", collection('[[quotes]]\nid = "one"\ntext = "Public\n'),
     "quotes/broken.toml:8: invalid TOML: illegal character '\\n' (column 15) "
     "(escape it, or use a multi-line string)"),
    ("duplicate-key", "quotes/broken.toml", collection(GOOD_QUOTE + 'id = "two"\n'),
     "quotes/broken.toml:9: invalid TOML: cannot overwrite a value (column 11) "
     "(each key may appear only once per table: remove or rename the duplicate)"),
    ("empty-file", "quotes/broken.toml", "",
     "quotes/broken.toml: the file is empty (publisher help collections says what it holds)"),
    ("only-comments", "quotes/broken.toml", "# nothing yet\n\n",
     "quotes/broken.toml: the file is empty (publisher help collections says what it holds)"),
    ("invalid-utf8", "quotes/broken.toml", collection(GOOD_QUOTE).encode() + b'alt = "caf\xe9"\n',
     "quotes/broken.toml:9: invalid UTF-8 (byte 0xe9) (save the file as UTF-8)"),
    ("unknown-quote-key", "quotes/broken.toml", collection(GOOD_QUOTE + 'higlight = ["x"]\n'),
     'quotes/broken.toml:9: quotes[0].higlight: unknown key (did you mean "highlight"?)'),
    ("unknown-collection-key", "quotes/broken.toml",
     collection(GOOD_QUOTE, COLLECTION_HEAD + 'hastags = ["x"]\n'),
     'quotes/broken.toml:5: collection.hastags: unknown key (did you mean "hashtags"?)'),
    ("missing-text", "quotes/broken.toml", collection('[[quotes]]\nid = "one"\n'),
     "quotes/broken.toml:6: quotes[0].text: missing required key (add text = ...)"),
    ("missing-attribution", "quotes/broken.toml",
     collection(GOOD_QUOTE, '[collection]\nname = "broken"\ntitle = "T"\n'),
     "quotes/broken.toml:1: collection.attribution: missing required key (add attribution = ...)"),
    ("text-not-string", "quotes/broken.toml", collection('[[quotes]]\nid = "one"\ntext = 42\n'),
     "quotes/broken.toml:8: quotes[0].text: expected text, got a whole number "
     '(put it in double quotes: "...")'),
    ("hashtags-not-list", "quotes/broken.toml", collection(GOOD_QUOTE + 'hashtags = "Met"\n'),
     'quotes/broken.toml:9: quotes[0].hashtags: expected a list, got text (write it in brackets, e.g. ["a", "b"])'),
    ("duplicate-id", "quotes/broken.toml", collection(GOOD_QUOTE + '\n[[quotes]]\nid = "one"\ntext = "Other."\n'),
     'quotes/broken.toml:11: quotes[1].id: duplicate id "one" (line 7 already uses it; ids must be unique)'),
    ("no-quote-table", "quotes/broken.toml", COLLECTION_HEAD,
     "quotes/broken.toml: quotes: missing required key (add a [[quotes]] table with id = ... and text = ...)"),
    ("no-collection-table", "quotes/broken.toml", GOOD_QUOTE,
     "quotes/broken.toml: collection: missing required key "
     "(add a [collection] table with name = ..., title = ... and attribution = ...)"),
    ("bad-id", "quotes/broken.toml", collection('[[quotes]]\nid = "Public Consent"\ntext = "x"\n'),
     'quotes/broken.toml:7: quotes[0].id: "Public Consent" is not a slug '
     '(use at most 64 lowercase letters, digits and hyphens, e.g. "public-consent")'),
    ("hashtag-with-hash", "quotes/broken.toml", collection(GOOD_QUOTE + 'hashtags = ["#Met"]\n'),
     'quotes/broken.toml:9: quotes[0].hashtags[0]: hashtag "#Met" starts with "#" (write it without the "#": "Met")'),
    ("hashtag-with-space", "quotes/broken.toml", collection(GOOD_QUOTE + 'hashtags = ["Casey Review"]\n'),
     'quotes/broken.toml:9: quotes[0].hashtags[0]: "Casey Review" is not a valid hashtag '
     "(use letters, digits and underscores only, not all digits, at most 64 characters)"),
    ("hashtag-all-digits", "quotes/broken.toml", collection(GOOD_QUOTE + 'hashtags = ["2023"]\n'),
     'quotes/broken.toml:9: quotes[0].hashtags[0]: "2023" is not a valid hashtag '
     "(use letters, digits and underscores only, not all digits, at most 64 characters)"),
    ("bad-mention", "quotes/broken.toml", collection(GOOD_QUOTE, COLLECTION_HEAD + 'mentions = ["metpoliceuk"]\n'),
     'quotes/broken.toml:5: collection.mentions[0]: "metpoliceuk" is not an X handle '
     '(write "@" then 1-15 letters, digits or underscores)'),
    ("highlight-not-in-text", "quotes/broken.toml", collection(GOOD_QUOTE + 'highlight = ["consent is lost"]\n'),
     'quotes/broken.toml:9: quotes[0].highlight[0]: "consent is lost" does not occur in the quote text '
     "(copy the phrase exactly from text)"),
    ("empty-text", "quotes/broken.toml", collection('[[quotes]]\nid = "one"\ntext = "  "\n'),
     "quotes/broken.toml:8: quotes[0].text: is empty (write some text)"),
    ("no-quotes", "quotes/broken.toml", "quotes = []\n" + COLLECTION_HEAD,
     "quotes/broken.toml:1: quotes: needs at least 1 item(s), has 0 (add one)"),
    ("name-mismatch", "quotes/broken.toml", collection(GOOD_QUOTE, COLLECTION_HEAD.replace("broken", "other")),
     'quotes/broken.toml:2: collection.name: "other" does not match the file name '
     '(write name = "broken" or rename the file)'),
    ("schedule-syntax", "schedule.toml", "[defaults\ntimezone = 'UTC'\n",
     "schedule.toml:1: invalid TOML: expected ']' at the end of a table declaration (column 10) "
     "(close the [table] header with ])"),
    ("unknown-timezone", "schedule.toml", '[defaults]\ntimezone = "Europe/Londn"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "Europe/Londn" (did you mean "Europe/London"?)'),
    ("timezone-abbreviation", "schedule.toml", '[defaults]\ntimezone = "BST"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "BST" '
     '(write "Europe/London": UK time, GMT in winter and BST in summer)'),
    ("timezone-abbreviation-lowercase", "schedule.toml", '[defaults]\ntimezone = "pst"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "pst" '
     '(write "America/Los_Angeles": US Pacific time, PST in winter and PDT in summer)'),
    ("timezone-summer-abbreviation", "schedule.toml", '[defaults]\ntimezone = "CEST"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "CEST" (write the zone of your city, e.g. "Europe/Paris" '
     'or "Europe/Berlin": Central European time, CET in winter and CEST in summer)'),
    ("timezone-ambiguous-abbreviation", "schedule.toml", '[defaults]\ntimezone = "IST"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "IST" (write "Asia/Kolkata" for India Standard Time; '
     'for Irish time, "Europe/Dublin"; for Israel time, "Asia/Jerusalem")'),
    ("timezone-case", "schedule.toml", '[defaults]\ntimezone = "utc"\n',
     'schedule.toml:2: defaults.timezone: unknown timezone "utc" (did you mean "UTC"?)'),
    ("unknown-top-level", "schedule.toml", '[default]\ntimezone = "UTC"\n',
     'schedule.toml:1: default: unknown key (did you mean "defaults"?)'),
    ("inline-password", "schedule.toml",
     '[accounts.bsky]\nplatform = "bluesky"\nhandle = "me.bsky.social"\npassword = "abcd-efgh-ijkl-mnop"\n',
     "schedule.toml:4: accounts.bsky.password: secrets must not be written in schedule.toml (delete it, "
     "put the secret in an environment variable and write "
     'password_env = "PUBLISHER_BSKY_APP_PASSWORD" here)'),
    ("inline-app-password", "schedule.toml",
     '[accounts.bsky]\nplatform = "bluesky"\nhandle = "me.bsky.social"\napp_password = "abcd-efgh-ijkl-mnop"\n',
     "schedule.toml:4: accounts.bsky.app_password: secrets must not be written in schedule.toml (delete it, "
     'put the secret in an environment variable and write password_env = "PUBLISHER_BSKY_APP_PASSWORD" here)'),
    ("inline-x-secret", "schedule.toml", '[accounts.x]\nplatform = "x"\naccess_token_secret = "abc"\n',
     "schedule.toml:3: accounts.x.access_token_secret: secrets must not be written in schedule.toml (delete it, "
     'put the secret in an environment variable and write access_token_secret_env = '
     '"PUBLISHER_X_ACCESS_TOKEN_SECRET" here)'),
    ("secret-as-env-name", "schedule.toml",
     '[accounts.bsky]\nplatform = "bluesky"\nhandle = "me.bsky.social"\npassword_env = "abcd-efgh-ijkl-mnop"\n',
     "schedule.toml:4: accounts.bsky.password_env: must be the NAME of an environment variable, not the secret "
     'itself (write a name in capitals, digits and underscores, e.g. "PUBLISHER_MY_SECRET"; put the secret in that '
     'variable)'),
    ("unknown-platform", "schedule.toml", '[accounts.main]\nplatform = "myspace"\n',
     "schedule.toml:2: accounts.main.platform: unknown platform 'myspace' "
     '(write platform = one of "x", "bluesky", "mastodon", "outbox")'),
    ("mastodon-without-instance", "schedule.toml", '[accounts.main]\nplatform = "mastodon"\n',
     "schedule.toml:1: accounts.main.instance: missing required key "
     "(add instance = ...)"),
    ("mastodon-profile-url", "schedule.toml", '[accounts.main]\nplatform = "mastodon"\n'
     'instance = "https://social.example/@campaign"\n',
     'schedule.toml:3: accounts.main.instance: "https://social.example/@campaign" is not a server\'s address (it '
     'goes on to a page of it) (give the server alone, e.g. "https://social.example")'),
    ("mastodon-over-http", "schedule.toml", '[accounts.main]\nplatform = "mastodon"\ninstance = "http://social.example"\n',
     'schedule.toml:3: accounts.main.instance: "http://social.example" is plain http:// to another machine: the '
     "account's secret would cross the network unencrypted (use https://; plain http:// is only for a server on "
     "this machine)"),
    ("misspelt-platform", "schedule.toml", '[accounts.main]\nplatform = "blusky"\nhandle = "a.bsky.social"\n',
     "schedule.toml:2: accounts.main.platform: unknown platform 'blusky' (did you mean \"bluesky\"?)"),
    ("bad-bluesky-handle", "schedule.toml", '[accounts.main]\nplatform = "bluesky"\nhandle = "me"\n',
     'schedule.toml:3: accounts.main.handle: "me" is not a Bluesky handle '
     '(write the full handle, e.g. "example.bsky.social")'),
    ("unknown-account-key", "schedule.toml", '[accounts.local]\nplatform = "outbox"\ndirectroy = "out"\n',
     'schedule.toml:3: accounts.local.directroy: unknown key (did you mean "directory"?)'),
    ("bad-time", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = ["local"]\nslots = { days = ["mon"], times = ["25:00"] }\n',
     'schedule.toml:8: campaigns[0].slots.times[0]: "25:00" is not a time of day '
     '(write HH:MM on the 24-hour clock, e.g. "08:30")'),
    ("bad-day", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = ["local"]\nslots = { days = ["monday"], times = ["08:00"] }\n',
     'schedule.toml:8: campaigns[0].slots.days[0]: "monday" is not a day (did you mean "mon"?)'),
    ("missing-collection", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreviews"\n'
     'accounts = ["local"]\n',
     'schedule.toml:6: campaigns[0].collection: no collection "caseyreviews" in quotes/ (did you mean "caseyreview"?)'),
    ("missing-account", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = [\n  "local",\n  "bsky",\n]\n',
     'schedule.toml:9: campaigns[0].accounts[1]: no account "bsky" (add an [accounts.bsky] table)'),
    ("quotes-per-thread-string", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = ["local"]\nquotes_per_thread = "3"\n',
     "schedule.toml:8: campaigns[0].quotes_per_thread: expected a whole number, got text "
     "(write digits without quotes, e.g. 3)"),
    ("quotes-per-thread-zero", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = ["local"]\nquotes_per_thread = 0\n',
     "schedule.toml:8: campaigns[0].quotes_per_thread: must be at least 1, not 0"),
    ("campaign-missing-name", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\ncollection = "caseyreview"\naccounts = ["local"]\n',
     "schedule.toml:4: campaigns[0].name: missing required key (add name = ...)"),
    ("unknown-source", "quotes/broken.toml",
     collection('[[sources]]\nid = "review"\nfile = "review.txt"\n\n' + GOOD_QUOTE + 'source = "reveiw"\n'),
     'quotes/broken.toml:13: quotes[0].source: no source "reveiw" (did you mean "review"?)'),
    ("source-file-missing", "quotes/broken.toml",
     collection('[[sources]]\nid = "review"\nfile = "review.txt"\n\n' + GOOD_QUOTE + 'source = "review"\n'),
     'quotes/broken.toml:8: sources[0].file: no file "review.txt" in sources/ (put the document there, or correct '
     "file)"),
    ("source-file-outside", "quotes/broken.toml",
     collection('[[sources]]\nid = "review"\nfile = "../secret.txt"\n\n' + GOOD_QUOTE),
     'quotes/broken.toml:8: sources[0].file: "../secret.txt" is not a path inside the sources folder (give it '
     'relative to sources/, e.g. "casey-review.pdf")'),
    ("page-without-source", "quotes/broken.toml", collection(GOOD_QUOTE + "page = 12\n"),
     'quotes/broken.toml:9: quotes[0].page: a page, but no source to find it in (name its source = "ID", a '
     "[[sources]] id, or set the collection's)"),
    ("enabled-as-string", "schedule.toml",
     '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "d"\ncollection = "caseyreview"\n'
     'accounts = ["local"]\nenabled = "yes"\n',
     "schedule.toml:8: campaigns[0].enabled: expected true or false, got text (write true or false without quotes)"),
]


@pytest.mark.parametrize(("filename", "content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_file_gives_one_line(project: Path, run_cli: Callable[..., Result], filename: str,
                                    content: str | bytes, expected: str) -> None:
    target = project / filename
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]
    assert "Traceback" not in result.output


def test_at_least_twenty_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) >= 20
    assert len({c[2] for c in CASES}) == len(CASES)


def test_every_problem_in_a_run_is_reported(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "quotes" / "broken.toml").write_text(
        collection('[[quotes]]\nid = "Bad Id"\ntext = 1\nhigh = 2\n'), encoding="utf-8")
    (project / "schedule.toml").write_text('[defaults]\ntimezone = "Mars/Base"\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    lines = result.stderr.splitlines()
    assert [line.split(":")[0:2] for line in lines] == [
        ["schedule.toml", "2"], ["quotes/broken.toml", "7"], ["quotes/broken.toml", "8"], ["quotes/broken.toml", "9"],
    ]


SCHEDULE_HEAD = '[defaults]\ntimezone = "Europe/London"\n\n[accounts.local]\nplatform = "outbox"\n\n'


def test_a_refused_slot_hides_no_unknown_account_or_collection(project: Path,
                                                                run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(
        SCHEDULE_HEAD + '[[campaigns]]\nname = "d"\ncollection = "caseyreviw"\naccounts = ["local", "bsky"]\n'
        'slots = { days = ["fry"], times = ["8:30"] }\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [
        'schedule.toml:9: campaigns[0].collection: no collection "caseyreviw" in quotes/ (did you mean "caseyreview"?)',
        'schedule.toml:10: campaigns[0].accounts[1]: no account "bsky" (add an [accounts.bsky] table)',
        'schedule.toml:11: campaigns[0].slots.days[0]: "fry" is not a day (did you mean "fri"?)',
        'schedule.toml:11: campaigns[0].slots.times[0]: "8:30" is not a time of day '
        '(write HH:MM on the 24-hour clock, e.g. "08:30")',
    ]


def test_a_quote_without_an_id_still_has_its_highlight_checked(project: Path,
                                                                run_cli: Callable[..., Result]) -> None:
    (project / "quotes" / "broken.toml").write_text(collection(
        '[[quotes]]\ntext = "Public consent is broken."\nhighlight = ["consent is lost"]\n\n'
        '[[quotes]]\nid = "two"\ntext = "Public consent is broken."\n'), encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [
        "quotes/broken.toml:6: quotes[0].id: missing required key (add id = ...)",
        'quotes/broken.toml:8: quotes[0].highlight[0]: "consent is lost" does not occur in the quote text '
        "(copy the phrase exactly from text)",
        "quotes/broken.toml:12: quotes[1].text: the same text as an earlier quote (line 6; remove one)",
    ]


def card_problem(project: Path, run_cli: Callable[..., Result], text: str, card_format: str) -> str:
    """The one line validate gives for a collection of one quote, posted by a campaign on cards of that format."""
    (project / "quotes" / "broken.toml").write_text(collection(f'[[quotes]]\nid = "one"\ntext = "{text}"\n'),
                                                    encoding="utf-8")
    (project / "schedule.toml").write_text(
        SCHEDULE_HEAD + f'[[campaigns]]\nname = "d"\ncollection = "broken"\naccounts = ["local"]\n'
        f'format = "{card_format}"\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    [line] = result.stderr.splitlines()
    return line


def test_a_quote_too_long_for_its_card_is_reported_at_its_text(project: Path,
                                                                run_cli: Callable[..., Result]) -> None:
    line = card_problem(project, run_cli, " ".join(["Public consent is broken."] * 40), "square")  # 1,039 characters
    prefix = ('quotes/broken.toml:8: quotes[0].text: does not fit the square card of campaign "d" at the theme\'s '
              'minimum of 36 px (use format = "portrait" or "story", where it fits, or shorten it by about ')
    assert line.startswith(prefix) and line.endswith(" characters)")
    assert 150 <= int(line.removeprefix(prefix).split()[0]) <= 300  # 201 fewer fit: an estimate, not a promise


def test_a_quote_too_long_for_every_card_is_offered_no_format(project: Path,
                                                              run_cli: Callable[..., Result]) -> None:
    line = card_problem(project, run_cli, " ".join(["Public consent is broken."] * 60), "story")  # 1,559 characters
    prefix = ('quotes/broken.toml:8: quotes[0].text: does not fit the story card of campaign "d" at the theme\'s '
              "minimum of 36 px (shorten it by about ")
    assert line.startswith(prefix)
    assert " or lower min_quote_size in theme \"campaign\" from 36 to " in line
    assert line.endswith("; no other format fits it)") and "format =" not in line


def test_a_character_no_font_draws_is_reported_at_its_text(project: Path, run_cli: Callable[..., Result]) -> None:
    line = card_problem(project, run_cli, "A Linear B sign \U00010000 here", "square")
    assert line == ("quotes/broken.toml:8: quotes[0].text: no bundled or installed font draws '\U00010000' "
                    "(U+10000 LINEAR B SYLLABLE B008 A) (add a font that has it to assets/fonts/ and to the theme's "
                    "fonts.fallback, or install one)")


def test_real_process_prints_no_traceback(project: Path) -> None:
    (project / "quotes" / "broken.toml").write_text("[collection\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "publisher", "validate"], capture_output=True, text=True,
                          cwd=project, check=False)
    assert done.returncode == ExitStatus.CONFIG
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("quotes/broken.toml:1: invalid TOML")
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(project: Path) -> None:
    (project / "quotes" / "broken.toml").write_text("[collection\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "publisher", "--debug", "validate"], capture_output=True,
                          text=True, cwd=project, check=False)
    assert done.returncode == ExitStatus.CONFIG
    assert "Traceback" in done.stderr


def test_a_timezone_without_summer_time_is_valid_and_said(project: Path, run_cli: Callable[..., Result]) -> None:
    """tzdata knows "GMT" and "EST" as offsets that never change for summer time, which is not UK or New York
    time: a schedule using one stays valid (it may be meant), and validate says what it means."""
    path = project / "schedule.toml"
    path.write_text(re.sub(r'(?m)^timezone = ".*"$', 'timezone = "GMT"', path.read_text("utf-8"), count=1),
                    encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    assert ('  schedule.toml: defaults.timezone: "GMT" is UTC+0 all year, without the summer time (BST) of UK time '
            '(write "Europe/London": UK time, GMT in winter and BST in summer, or "UTC" to keep GMT all year)'
            ) in result.stdout.splitlines()


def _nested_brackets(message: str) -> bool:
    depth = 0
    for char in message:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth > 1:
            return True
    return False


def test_no_message_has_brackets_inside_brackets() -> None:
    """(A fix (with an aside)) reads badly: a message and its fix in brackets, the fix in plain words."""
    from test_themes import CASES as THEME_CASES

    expected = [case[-1] for case in CASES] + [case[-1] for case in THEME_CASES]
    assert [m for m in expected if isinstance(m, str) and _nested_brackets(m)] == []
