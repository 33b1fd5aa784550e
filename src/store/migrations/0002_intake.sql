-- Files taken by `pull` (SFTP or drop box). A file is identified by its name
-- and the sha256 of its bytes: the same name with the same bytes is never
-- processed twice (issue 4); a corrected resend under the same name is new.
CREATE TABLE taken_files (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    mtime       INTEGER,                -- the source's modification time, Unix seconds
    source      TEXT    NOT NULL,       -- sftp://user@host:port/dir or dropbox:/dir
    verdict     TEXT    NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
    local_path  TEXT    NOT NULL,       -- where it landed: inbox or quarantine
    taken_at    TEXT    NOT NULL,       -- RFC 3339, UTC
    UNIQUE (name, sha256)
);

-- The account directory: one row per account (base-sub), from the latest
-- invoice of every accepted file. The data pump reads the location (Custom4)
-- from here (D10).
CREATE TABLE accounts (
    account         TEXT PRIMARY KEY,   -- base-sub as in the BIF, 35909-001
    ms_id           TEXT NOT NULL,      -- base+sub, the MultiSpeak id (D2)
    base            TEXT NOT NULL,
    sub             TEXT NOT NULL,
    location        TEXT NOT NULL,      -- Custom4
    name            TEXT NOT NULL,
    address1        TEXT NOT NULL,
    address2        TEXT NOT NULL,
    city            TEXT NOT NULL,
    state           TEXT NOT NULL,
    zip             TEXT NOT NULL,
    phone           TEXT NOT NULL,
    email           TEXT NOT NULL,
    invoice_number  TEXT NOT NULL,
    invoice_date    TEXT NOT NULL,      -- YYYY-MM-DD
    source_file_id  INTEGER NOT NULL REFERENCES taken_files(id),
    first_seen      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX accounts_ms_id ON accounts(ms_id);

-- What each accepted file changed in the directory, for the report.
CREATE TABLE account_changes (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL REFERENCES taken_files(id),
    account     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN
                  ('new', 'absent', 'name', 'address', 'phone', 'email', 'location')),
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX account_changes_file ON account_changes(file_id);

-- Uploads to InvoiceCloud UploadInvoiceFile, one row per attempt.
CREATE TABLE uploads (
    id          INTEGER PRIMARY KEY,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,          -- of the bytes sent (the transformed file)
    source_sha256 TEXT NOT NULL,        -- of the file as taken (taken_files.sha256)
    at          TEXT NOT NULL,          -- RFC 3339, UTC
    outcome     TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'failed')),
    message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX uploads_sha256 ON uploads(sha256);
CREATE INDEX uploads_source_sha256 ON uploads(source_sha256);
