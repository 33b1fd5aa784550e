-- The data pump: InvoiceCloud's exports taken in, the outbox of items for
-- Daffron, every call and attempt, and what Daffron was last told.

-- Export files read by `ingest` (payments.csv, events.csv). A file's content
-- is taken once from the exports folder, by sha256.
CREATE TABLE export_files (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    kind        TEXT    CHECK (kind = 'payments' OR kind = 'events'),
    rows        INTEGER NOT NULL DEFAULT 0,
    taken       INTEGER NOT NULL DEFAULT 0,   -- new outbox items
    already     INTEGER NOT NULL DEFAULT 0,   -- keys already held, same content
    refused     INTEGER NOT NULL DEFAULT 0,   -- rows with errors
    conflicts   INTEGER NOT NULL DEFAULT 0,   -- keys already held, other content
    issues      TEXT    NOT NULL DEFAULT '[]',-- the file's row issues, JSON
    ingested_at TEXT    NOT NULL
);
CREATE INDEX export_files_sha256 ON export_files(sha256);

-- One row per payment (payment_guid) or event (event_id): the idempotency
-- key. Its payload lives in `outbox_payloads`.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    source          TEXT    NOT NULL CHECK (source = 'payment' OR source = 'event'),
    key             TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind = 'payment' OR kind = 'paperless' OR kind = 'autopay' OR kind = 'scheduled'),
    route           TEXT    NOT NULL CHECK (route = 'payments' OR route = 'paperless' OR route = 'comments'),
    account         TEXT    NOT NULL,           -- base-sub, 35909-001
    ms_id           TEXT    NOT NULL,           -- base+sub (D2): how answers name it
    match_key       TEXT    NOT NULL DEFAULT '',-- a payment's transactionId (D4, D15)
    tender          TEXT,                       -- CC, ACH, ECHECK, CASH
    payment_mode    TEXT,                       -- D3
    auth_code       TEXT,                       -- D4: the authorizationCode, cut to 50
    biller_ref      TEXT,                       -- D6: a kiosk payment's billerReference
    amount_cents    INTEGER,                    -- a payment's or scheduled payment's amount, in cents
    fee_cents       INTEGER,                    -- a payment's fee, in cents: never sent
    batch_group     TEXT,                       -- D12: one call for the whole group
    desired         TEXT,                       -- paperless: Y or N (D9)
    occurred        INTEGER NOT NULL,           -- paid_at / occurred_at, Unix seconds
    state           TEXT    NOT NULL CHECK (state = 'pending' OR state = 'in_flight' OR state = 'posted' OR state = 'duplicate' OR state = 'rejected' OR state = 'retrying' OR state = 'dead' OR state = 'skipped' OR state = 'held' OR state = 'cancelled'),
    reason          TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0, -- leases since it was last put back
    last_call       INTEGER,                    -- the call that carries (carried) it last
    next_attempt_at INTEGER NOT NULL DEFAULT 0, -- Unix seconds
    file_id         INTEGER REFERENCES export_files(id),
    line            INTEGER,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    settled_at      TEXT,                       -- when it reached a final state
    UNIQUE (source, key)
);
-- The sweep's lookups: the open items of a route (settled_at is NULL exactly
-- while an item may still be sent), in id order. Leasing an item does not
-- touch this index; settling it removes it once. (A partial index `WHERE
-- state IN (...)`, and CHECKs written with IN, would make SQLite build a
-- temporary table for the list on every insert: 8 us a row.)
CREATE INDEX outbox_open ON outbox(route, id) WHERE settled_at IS NULL;
-- Items of one account, for the ordered routes (paperless and comments go
-- per account in order). Payments, the bulk of every night, are independent
-- of each other and stay out of it: `outbox list --account` scans for them.
CREATE INDEX outbox_account ON outbox(account, route) WHERE route <> 'payments';
CREATE INDEX outbox_group ON outbox(batch_group) WHERE batch_group IS NOT NULL;

-- The export row an item came from, as JSON: what the rules read, and what
-- tells a repeat (same record) from a conflict (same key, another record).
-- Apart from `outbox`, like the payload, so that the rows a sweep rewrites
-- twice per item stay small.
CREATE TABLE outbox_records (
    item_id     INTEGER PRIMARY KEY REFERENCES outbox(id),
    record      TEXT    NOT NULL
);

-- An item's XML exactly as sent: built from `record` by the rules when the
-- item is first leased, then never changed, so a resend after a crash is the
-- same bytes (same transactionId, same logTime). Apart from `outbox` so that
-- the two state changes of every send rewrite small rows.
CREATE TABLE outbox_payloads (
    item_id     INTEGER PRIMARY KEY REFERENCES outbox(id),
    wire        TEXT    NOT NULL
);

-- A key seen again with other content: the first is kept, never overwritten.
CREATE TABLE outbox_conflicts (
    id              INTEGER PRIMARY KEY,
    item_id         INTEGER NOT NULL REFERENCES outbox(id),
    file_id         INTEGER REFERENCES export_files(id),
    line            INTEGER,
    record          TEXT    NOT NULL,
    at              TEXT    NOT NULL
);

-- One row per sweep.
CREATE TABLE sweeps (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    summary     TEXT                            -- the sweep's JSON summary
);

-- Every MultiSpeak call the pump made. The request is the items' `wire` in
-- `position` order inside the operation's envelope (the header's Pwd is never
-- stored); `answer` keeps what Daffron said when it was not a clean success
-- (a Fault, garbage, any item refused), cut to 64 KiB.
CREATE TABLE pump_calls (
    id          INTEGER PRIMARY KEY,
    sweep_id    INTEGER NOT NULL REFERENCES sweeps(id),
    route       TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    millis      INTEGER,                        -- NULL: no answer recorded (killed)
    http_status INTEGER,
    outcome     TEXT,                           -- ok, partial, transient, fault, http_error
    items       INTEGER NOT NULL,               -- how many items it carried
    detail      TEXT    NOT NULL DEFAULT '',
    answer      TEXT
);

-- What a call's answer said of each item it carried, written with the
-- answer. A call answered `ok` (every item accepted) has no rows here: it is
-- the `last_call` of its items, now posted. A call whose answer was never
-- recorded (a killed sweep) is the `last_call` of its items, left in flight.
CREATE TABLE pump_attempts (
    item_id     INTEGER NOT NULL REFERENCES outbox(id),
    call_id     INTEGER NOT NULL REFERENCES pump_calls(id),
    position    INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,               -- accepted, duplicate, rejected, unknown, failed
    reason      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, call_id)
) WITHOUT ROWID;

-- What a person did to an item: replay or cancel, who, when, why.
CREATE TABLE outbox_actions (
    id          INTEGER PRIMARY KEY,
    item_id     INTEGER NOT NULL REFERENCES outbox(id),
    action      TEXT    NOT NULL CHECK (action = 'replay' OR action = 'cancel'),
    from_state  TEXT    NOT NULL,
    by          TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    at          TEXT    NOT NULL
);

-- D9: the paperless flag Daffron last confirmed, per account.
CREATE TABLE paperless_told (
    account     TEXT    PRIMARY KEY,            -- base-sub
    enrolled    INTEGER NOT NULL,
    item_id     INTEGER NOT NULL REFERENCES outbox(id),
    at          TEXT    NOT NULL
);
