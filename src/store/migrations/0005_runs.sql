-- The nightly run and what the report reads: each run with its stages, the
-- verification of posted payments, and the figures of each taken file.

-- One row per `run`. `night` is the run's start date in the biller's
-- timezone: what `report --date` selects.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    night       TEXT    NOT NULL,               -- YYYY-MM-DD, biller's timezone
    started_at  TEXT    NOT NULL,               -- RFC 3339, UTC
    finished_at TEXT,                           -- NULL: still running, or killed
    exit_code   INTEGER,
    summary     TEXT                            -- the run's JSON, as printed
);
CREATE INDEX runs_night ON runs(night);

-- Each stage of a run, in the order it ran, with its outcome.
CREATE TABLE run_stages (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    position    INTEGER NOT NULL,
    stage       TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    millis      INTEGER NOT NULL,
    exit_code   INTEGER NOT NULL,
    summary     TEXT    NOT NULL,               -- the stage's JSON
    PRIMARY KEY (run_id, position)
);

-- The balance check after posting: one row per account asked.
CREATE TABLE verifications (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER REFERENCES runs(id),
    account     TEXT    NOT NULL,               -- base-sub
    outcome     TEXT    NOT NULL CHECK (outcome = 'ok' OR outcome = 'mismatch' OR outcome = 'not_checked' OR outcome = 'unreachable'),
    balance_due TEXT,                           -- what RTDR said (D13)
    expected    TEXT,                           -- the most it may be
    posted      TEXT    NOT NULL,               -- posted since the invoice
    detail      TEXT    NOT NULL DEFAULT '',
    at          TEXT    NOT NULL
);
CREATE INDEX verifications_run ON verifications(run_id);

-- A file's figures for the report: its invoices and total (accepted files),
-- or its validation errors (quarantined files), as validation found them.
ALTER TABLE taken_files ADD COLUMN invoices INTEGER;
ALTER TABLE taken_files ADD COLUMN total TEXT;
ALTER TABLE taken_files ADD COLUMN errors TEXT;  -- JSON: {"count":N,"by_code":{...},"first":[...]}

-- The TotalAmountDue of the account's invoices of its latest date: what a
-- posted payment is checked against.
ALTER TABLE accounts ADD COLUMN amount_due TEXT;
