"""The store's schema, as the ordered migrations that build it: the n-th script takes a file from schema version
n - 1 to n (``PRAGMA user_version``). Never edit one that has shipped; add the next.

``store.Store.migrate`` applies the missing ones in one transaction, with foreign keys off (so rebuilding a table
does not cascade into the rows that refer to it). Statements are split on ";", so none may contain one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the queue, attempts, sessions
    """
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'posting', 'posted', 'needs_attention', 'cancelled')),
        quote_ids TEXT NOT NULL,
        slot TEXT,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX threads_by_slot ON threads (campaign, slot) WHERE slot IS NOT NULL;
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        png BLOB NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL
    );
    CREATE TABLE parts (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        account TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        images TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'posted', 'unknown', 'failed')),
        not_before TEXT,
        prepared TEXT,
        post_id TEXT,
        cid TEXT,
        url TEXT,
        last_error TEXT,
        fix TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        UNIQUE (thread_id, account, position)
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,
        error TEXT,
        retry_at TEXT
    );
    CREATE TABLE sessions (
        account TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        saved_at TEXT NOT NULL
    );
    CREATE TABLE logins (
        account TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE handles (
        handle TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        resolved_at TEXT NOT NULL
    );
    CREATE TABLE cursors (
        campaign TEXT PRIMARY KEY,
        used INTEGER NOT NULL
    );
    """,
    # 2: the scheduler's memory: every slot instant handled, and since when each campaign is watched
    """
    CREATE TABLE slot_firings (
        campaign TEXT NOT NULL,
        slot_at TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('queued', 'late', 'skipped', 'no_quotes')),
        thread_ids TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (campaign, slot_at)
    );
    CREATE TABLE watched (
        campaign TEXT PRIMARY KEY,
        since TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 3: threads gain their number in the campaign, a reason for their state, the quotes' fingerprints and the
    # states held, over_budget and skipped; a slot is held only by a live thread; parts gain cost and posted_at,
    # and ids that are never reused (a recomposed thread's new parts are new rows, so a poster holding the old
    # ones can never write to them); which quotes come next is read from the threads themselves, so the cursor
    # goes; a slot whose thread could not be made is recorded as failed; quotes a campaign passed over because
    # their card could not be made are kept, with the quote's fingerprint then (once edited, it is tried again).
    """
    CREATE TABLE threads_v3 (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        number INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'posting', 'posted', 'needs_attention', 'cancelled', 'held',
                                             'over_budget', 'skipped')),
        reason TEXT,
        quote_ids TEXT NOT NULL,
        quote_digests TEXT NOT NULL DEFAULT '{}',
        slot TEXT,
        created_at TEXT NOT NULL,
        changed_at TEXT
    );
    INSERT INTO threads_v3 (id, campaign, number, due_at, state, quote_ids, slot, created_at)
        SELECT id, campaign, ROW_NUMBER() OVER (PARTITION BY campaign ORDER BY id), due_at, state, quote_ids, slot,
               created_at
        FROM threads;
    DROP TABLE threads;
    ALTER TABLE threads_v3 RENAME TO threads;
    CREATE UNIQUE INDEX threads_by_slot ON threads (campaign, slot)
        WHERE slot IS NOT NULL AND state NOT IN ('cancelled', 'skipped');
    CREATE INDEX threads_by_state ON threads (state, due_at);
    CREATE TABLE parts_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        account TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        images TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'posted', 'unknown', 'failed')),
        not_before TEXT,
        prepared TEXT,
        post_id TEXT,
        cid TEXT,
        url TEXT,
        last_error TEXT,
        fix TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        cost REAL,
        posted_at TEXT,
        UNIQUE (thread_id, account, position)
    );
    INSERT INTO parts_v3 (id, thread_id, account, position, text, images, state, not_before, prepared, post_id, cid,
                          url, last_error, fix, attempts, posted_at)
        SELECT id, thread_id, account, position, text, images, state, not_before, prepared, post_id, cid, url,
               last_error, fix, attempts,
               (SELECT MAX(finished_at) FROM attempts WHERE attempts.part_id = parts.id AND outcome = 'posted')
        FROM parts;
    DROP TABLE parts;
    ALTER TABLE parts_v3 RENAME TO parts;
    CREATE INDEX parts_by_account ON parts (account, state);
    DROP TABLE cursors;
    CREATE TABLE slot_firings_v3 (
        campaign TEXT NOT NULL,
        slot_at TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('queued', 'late', 'skipped', 'no_quotes', 'failed')),
        thread_ids TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (campaign, slot_at)
    );
    INSERT INTO slot_firings_v3 SELECT * FROM slot_firings;
    DROP TABLE slot_firings;
    ALTER TABLE slot_firings_v3 RENAME TO slot_firings;
    CREATE TABLE skipped_quotes (
        campaign TEXT NOT NULL,
        quote_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (campaign, quote_id, digest)
    );
    """,
    # 4: sign-off. A campaign with approval = true queues its threads as awaiting_approval, which never post until
    # a person approves them; every decision (approved, rejected, sent back for sign-off) is kept with who and when.
    """
    CREATE TABLE threads_v4 (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        number INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'posting', 'posted', 'needs_attention', 'cancelled', 'held',
                                             'over_budget', 'skipped', 'awaiting_approval')),
        reason TEXT,
        quote_ids TEXT NOT NULL,
        quote_digests TEXT NOT NULL DEFAULT '{}',
        slot TEXT,
        created_at TEXT NOT NULL,
        changed_at TEXT
    );
    INSERT INTO threads_v4 SELECT id, campaign, number, due_at, state, reason, quote_ids, quote_digests, slot,
                                  created_at, changed_at FROM threads;
    DROP TABLE threads;
    ALTER TABLE threads_v4 RENAME TO threads;
    CREATE UNIQUE INDEX threads_by_slot ON threads (campaign, slot)
        WHERE slot IS NOT NULL AND state NOT IN ('cancelled', 'skipped');
    CREATE INDEX threads_by_state ON threads (state, due_at);
    CREATE TABLE signoffs (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected', 'sent_back')),
        by_user TEXT NOT NULL,
        at TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX signoffs_by_thread ON signoffs (thread_id, id);
    """,
    # 5: an approval is for one revision of the thread (what it posts and where), kept with the decision; the
    # revisions the store has shown or composed, so a stale approval can say what changed; when a campaign was
    # seen disabled, so its slots that fell meanwhile are never posted when it is enabled again.
    """
    ALTER TABLE signoffs ADD COLUMN revision TEXT;
    CREATE TABLE revisions (
        thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        revision TEXT NOT NULL,
        manifest TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (thread_id, revision)
    );
    ALTER TABLE watched ADD COLUMN disabled_since TEXT;
    """,
    # 6: what was learnt of a platform's server and kept for a while (a Mastodon instance's limits), by key; the
    # language of a thread's words (its collection's), for platforms that label a post's language.
    """
    ALTER TABLE threads ADD COLUMN language TEXT;
    CREATE TABLE learnt (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        learnt_at TEXT NOT NULL
    );
    """,
    # 7: what each posted part achieved, read at set times after posting (and on request): a time series per part.
    # A reading that failed or was skipped keeps why (error) and no figures; cost is what reading it cost (X).
    """
    CREATE TABLE readings (
        id INTEGER PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        due TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        likes INTEGER,
        reposts INTEGER,
        replies INTEGER,
        quotes INTEGER,
        cost REAL,
        error TEXT
    );
    CREATE INDEX readings_by_part ON readings (part_id, fetched_at);
    CREATE INDEX readings_by_time ON readings (fetched_at);
    """,
]
