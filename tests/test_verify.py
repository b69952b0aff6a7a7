"""publisher verify over a project's collections: each status, --json, the exit status, results kept in the store
(a second run reads no document), and require_verified keeping unverified quotes out of threads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from publisher.errors import ExitStatus
from publisher.project import ProjectFiles
from publisher.store import Store
from publisher.verification import verify

SOURCE = """# The review

The Met has yet to free itself of institutional racism, sexism and homophobia. Public consent is broken.

## Culture

Officers told us they felt demoralised and let down by their leaders, and that the misconduct process is not fit
for purpose.
"""

COLLECTION = """[collection]
name = "checked"
title = "Checked"
attribution = "Baroness Louise Casey, {source}"
source = "review"

[[sources]]
id = "review"
file = "review.md"
title = "The Review"

[[quotes]]
id = "exact"
text = "The Met has yet to free itself of institutional racism, sexism and homophobia."

[[quotes]]
id = "typography"
text = "officers told us they felt demoralised and let down by their leaders"

[[quotes]]
id = "dropped-not"
text = "the misconduct process is fit for purpose"

[[quotes]]
id = "elsewhere"
text = "Nothing like this sentence is in the review at all, anywhere."

[[quotes]]
id = "unsourced"
text = "A quote with no source of its own."
source = "notes"

[[sources]]
id = "notes"
file = "notes.txt"
"""


def make(project: Path, campaign: str | None = None) -> None:
    """The sources and the collection "checked"; with ``campaign``, the campaign posts it, with these keys."""
    (project / "sources").mkdir(exist_ok=True)
    (project / "sources" / "review.md").write_text(SOURCE, encoding="utf-8")
    (project / "sources" / "notes.txt").write_text("Other words entirely.\n", encoding="utf-8")
    (project / "quotes" / "checked.toml").write_text(COLLECTION, encoding="utf-8")
    if campaign is not None:
        schedule = project / "schedule.toml"
        text = schedule.read_text("utf-8").replace('collection = "caseyreview"', 'collection = "checked"')
        schedule.write_text(text + campaign, encoding="utf-8")


def test_each_quote_gets_its_status_and_the_exit_says_if_all_are_verified(project: Path, run_cli: Any) -> None:
    make(project)
    done = run_cli("verify", "checked", "--json")
    assert done.exit_code == ExitStatus.UNVERIFIED, done.output
    checks = {c["quote_id"]: c for c in json.loads(done.stdout)}
    assert list(checks["exact"]) == ["quote_id", "collection", "status", "source", "page", "passage", "diff"]
    assert {q: c["status"] for q, c in checks.items()} == {
        "exact": "verified", "typography": "verified", "dropped-not": "differs", "elsewhere": "not_found",
        "unsourced": "not_found"}
    assert "institutional racism" in checks["exact"]["passage"] and checks["exact"]["source"] == "review"
    assert any("not" in d for d in checks["dropped-not"]["diff"]), checks["dropped-not"]
    assert "2 quotes" not in done.stderr and "3 quotes are not verified" in done.stderr
    text = run_cli("verify", "checked")
    assert text.exit_code == ExitStatus.UNVERIFIED and "2 verified, 1 differs, 2 not_found" in text.stdout


def test_results_are_kept_so_a_second_run_reads_no_document(project: Path) -> None:
    make(project)
    files = ProjectFiles(project / "schedule.toml")
    collection = files.collection("checked")
    (project / "state").mkdir(exist_ok=True)
    with Store.open(files.store_path()) as store:
        first = verify(files, [collection], store)
        again = verify(files, [collection], store)
    assert first.documents_read == 2 and again.documents_read == 0
    assert [c.status for c in again.checks] == [c.status for c in first.checks]
    (project / "sources" / "review.md").write_text(SOURCE.replace("is not fit", "is fit"), encoding="utf-8")
    with Store.open(files.store_path()) as store:
        changed = verify(files, [collection], store)  # the document's bytes changed: read again
    assert changed.documents_read == 1
    assert {c.quote_id: c.status for c in changed.checks}["dropped-not"] == "verified"


def test_a_campaign_that_requires_verified_quotes_queues_only_those(project: Path, run_cli: Any) -> None:
    make(project, "require_verified = true\n")
    checked = run_cli("validate")
    assert checked.exit_code == 0, checked.output
    assert 'quote "dropped-not": differs' in checked.stdout and "not posted (require_verified)" in checked.stdout
    queued = []
    for _ in range(3):
        added = run_cli("queue", "add", "--now")
        if added.exit_code != 0:
            assert added.exit_code == ExitStatus.NOTHING_TO_QUEUE, added.output
            break
        queued.append(added)
    shown = json.loads(run_cli("queue", "list", "--json").stdout)
    used = [q for thread in shown for q in thread["quote_ids"]]
    assert sorted(used) == ["exact", "typography"]
    assert "not queued (require_verified" in queued[0].output


def test_a_preview_of_a_campaign_that_requires_verified_quotes_shows_only_those(project: Path, run_cli: Any) -> None:
    make(project, "require_verified = true\nquotes_per_thread = 5\n")
    previewed = run_cli("preview", "-o", "out")
    assert previewed.exit_code == 0, previewed.output
    threads = json.loads((project / "out" / "thread.json").read_text("utf-8"))["threads"]
    assert [t["quote_ids"] for t in threads] == [["exact", "typography"]]
    page = (project / "out" / "index.html").read_text("utf-8")
    for line in ("quote dropped-not: differs (missing: &quot;not&quot;)", "quote elsewhere: not found",
                 "quote unsourced: not found"):
        assert f"Not posted (require_verified): {line}" in page, line


def test_a_pack_of_a_campaign_that_requires_verified_quotes_holds_only_those(project: Path, run_cli: Any) -> None:
    import zipfile

    make(project, "require_verified = true\n")
    assert run_cli("pack", "--campaign", "daily", "--formats", "square", "-o", "pack.zip").exit_code == 0
    with zipfile.ZipFile(project / "pack.zip") as pack:
        assert sorted(n for n in pack.namelist() if n.endswith(".png")) == [
            "square/01-exact.png", "square/02-typography.png"]


def test_the_thread_page_shows_each_quote_s_check_with_its_passage(project: Path, run_cli: Any) -> None:
    from test_dashboard_app import make_site

    make(project, "quotes_per_thread = 2\n")
    assert run_cli("queue", "add", "--now").exit_code == 0  # checks the quotes (for their pages)
    site = make_site(project)
    assert "<strong>exact</strong>: verified in The Review." in site.browser().get("/threads/1").text
    with (project / "sources" / "review.md").open("a", encoding="utf-8") as edited:
        edited.write("\nA paragraph added since.\n")
    before = site.browser().get("/threads/1").text
    assert "The Review: not checked yet (publisher verify checks it)." in before  # a page never reads a document
    run_cli("verify")
    after = site.browser().get("/threads/1").text
    assert "<strong>exact</strong>: verified in The Review." in after
    assert '<blockquote class="passage">' in after and "institutional racism" in after
    card = site.browser().get("/cards?quote=checked:dropped-not&theme=&format=square").text
    assert "Source: differs in The Review." in card and '<blockquote class="passage">' in card


def test_status_names_each_quote_a_require_verified_campaign_will_not_post(project: Path, run_cli: Any) -> None:
    make(project, "require_verified = true\n")
    # status checks the quotes it counts (as queue add does), and keeps the results for the next command
    after = json.loads(run_cli("status", "--json").stdout)["campaigns"][0]["not_verified"]
    assert [line.split(":")[0] for line in after] == ["dropped-not", "elsewhere", "unsourced"]
    assert after[0].startswith("dropped-not: differs (")
    assert "not posted (require_verified): elsewhere: not found" in run_cli("status").stdout


def test_an_empty_bracket_stands_for_nothing(tmp_path: Path) -> None:
    """"[]" is no editor's word: a quote that drops "not" behind one differs (a new user's probe found it verified)."""
    from publisher.sources import read_source, verify_quote

    source = tmp_path / "review.txt"
    source.write_text("The Met has not just tolerated it: it has looked away.\n", encoding="utf-8")
    document = read_source(source)
    assert verify_quote("The Met has [] just tolerated it", document).status != "verified"
    assert verify_quote("The Met has [ ] just tolerated it", document).status != "verified"
    assert verify_quote("The Met has not just tolerated it", document).status == "verified"


def test_a_page_given_for_a_source_without_pages_differs(project: Path, run_cli: Any) -> None:
    make(project)
    path = project / "quotes" / "checked.toml"
    path.write_text(path.read_text("utf-8").replace('id = "exact"\n', 'id = "exact"\npage = 3\n'), encoding="utf-8")
    checks = {c["quote_id"]: c for c in json.loads(run_cli("verify", "checked", "--json").stdout)}
    assert checks["exact"]["status"] == "differs"
    assert checks["exact"]["diff"] == ["page 3: the source has no printed pages (leave page out)"]


def test_when_a_require_verified_campaign_runs_out_counts_only_verified_quotes(project: Path, run_cli: Any) -> None:
    make(project, "require_verified = true\n")
    run_out = json.loads(run_cli("status", "--json").stdout)["campaigns"][0]["run_out"]
    assert (run_out["quotes"], run_out["not_queued"]) == (2, 2)  # the two verified ones, not all five


def test_the_text_output_shows_each_passage_and_a_missing_document_names_its_collection(project: Path,
                                                                                         run_cli: Any) -> None:
    make(project)
    shown = run_cli("verify", "checked").stdout
    assert "institutional racism, sexism and homophobia" in shown.split("checked/exact")[1].splitlines()[1]
    (project / "sources" / "notes.txt").unlink()
    missing = run_cli("verify", "checked")
    assert missing.exit_code == ExitStatus.FILE
    assert missing.stderr.startswith("sources/notes.txt: cannot be read") and \
        "(source notes of collection checked): 1 quote not checked" in missing.stderr
    assert "verified   checked/exact" in missing.stdout  # the other source's quotes are still checked
    listed = json.loads(run_cli("verify", "checked", "--json").stdout)
    assert [c["quote_id"] for c in listed] == ["exact", "typography", "dropped-not", "elsewhere"]


def test_a_page_is_a_page_as_printed(project: Path, run_cli: Any) -> None:
    make(project)
    path = project / "quotes" / "checked.toml"
    path.write_text(path.read_text("utf-8").replace('id = "exact"\n', 'id = "exact"\npage = 0\n'), encoding="utf-8")
    refused = run_cli("validate")
    assert refused.exit_code == ExitStatus.CONFIG
    assert 'quotes[0].page: page 0 is no page (write the page as printed on it, e.g. 12 or "xii")' in refused.stderr
