"""The posting engine's overhead: a 5-part image thread to the local reference PDS through publisher (store
writes, frozen records, putRecord) against the bare atproto SDK calls for the same posts (upload_blob,
send_post with reply refs). Target: <= 1.2x. Needs scripts/install-pds."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

ROUNDS = 12


def bare_sdk(url: str, handle: str, password: str, parts: list[tuple[str, list[tuple[bytes, str]]]]) -> float:
    from atproto import Client, models
    from atproto_client.request import Request

    from publisher.platforms.bluesky import build_facets

    client = Client(base_url=url, request=Request(timeout=30))
    client.login(handle, password, fetch_bsky_profile=False)
    start = time.perf_counter()
    root = parent = None
    for text, images in parts:  # the same texts, facets, images, alt text, aspect ratios and reply chain
        embed = None
        if images:
            uploaded = [models.AppBskyEmbedImages.Image(alt=alt, image=client.upload_blob(png).blob,
                                                        aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(
                                                            width=1080, height=1080)) for png, alt in images]
            embed = models.AppBskyEmbedImages.Main(images=uploaded)
        reply = models.AppBskyFeedPost.ReplyRef(root=root, parent=parent) if root and parent else None
        facets = [models.AppBskyRichtextFacet.Main.model_validate(f) for f in build_facets(text, {})[1]]
        sent = client.send_post(text=text, embed=embed, reply_to=reply, facets=facets or None, langs=["en"],
                                profile_identify=client._session.did)
        ref = models.create_strong_ref(sent)
        root = root or ref
        parent = ref
    return time.perf_counter() - start


def main() -> None:
    from fakes.local_pds import LocalPDS
    from posting_project import make_project
    from publisher.app import Project
    from publisher.platforms.factory import platforms_for
    from publisher.poster import Poster
    from publisher.store import Store

    with tempfile.TemporaryDirectory() as folder:
        pds = LocalPDS(Path(folder) / "pds")
        pds.start()
        try:
            engine_times: list[float] = []
            sdk_times: list[float] = []
            reference_parts: list[tuple[str, list[tuple[bytes, str]]]] = []
            for round_number in range(ROUNDS + 1):
                handle2, _, password2 = pds.create_account(f"sdk{round_number}")
                sdk_first = round_number % 2 == 0  # alternate, so neither side always meets a warmer server
                if sdk_first and round_number:
                    sdk_times.append(bare_sdk(pds.url, handle2, password2, reference_parts))
                handle, _, password = pds.create_account(f"bench{round_number}")
                root = make_project(Path(folder) / f"p{round_number}", bluesky=(pds.url, handle),
                                    campaign=f"bench{round_number}")
                os.environ["PUBLISHER_BSKY_APP_PASSWORD"] = password
                project = Project(root / "schedule.toml")
                project.queue_add(f"bench{round_number}", now=True)
                schedule = project.schedule()
                store = Store.open(project.files.store_path())
                platforms = platforms_for(schedule, store, dict(os.environ), lambda: datetime.now(UTC))
                platforms["bsky"].login()  # both sides start logged in
                poster = Poster(store, platforms, lambda: datetime.now(UTC))
                start = time.perf_counter()
                outcomes = poster.post_due()
                engine = time.perf_counter() - start
                assert [o.state for o in outcomes] == ["posted"]
                reference_parts = [(p.text, [(store.image(i["sha256"])[0], i["alt"]) for i in p.images])
                                   for p in store.parts(1, "bsky")]
                store.close()
                if round_number:  # the first round warms both up
                    engine_times.append(engine)
                    if not sdk_first:
                        sdk_times.append(bare_sdk(pds.url, handle2, password2, reference_parts))
        finally:
            pds.stop()
    engine, sdk = statistics.median(engine_times), statistics.median(sdk_times)
    print(f"5-part thread with 3 images to the local PDS: publisher {engine * 1000:.0f} ms, bare SDK "
          f"{sdk * 1000:.0f} ms (medians of {ROUNDS}); overhead {engine / sdk:.2f}x (target <= 1.2x)")



if __name__ == "__main__":
    main()
