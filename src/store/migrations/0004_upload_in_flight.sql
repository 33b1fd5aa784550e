-- Uploads to InvoiceCloud: an attempt is recorded *before* its request
-- leaves ('sending'), and finished once it is known what happened.
-- UploadInvoiceFile has no idempotency key, so a request that was sent but
-- got no usable answer is 'unknown' (InvoiceCloud may hold the file), never
-- resent by itself; a 'sending' row left by a crash means the same. HTTP
-- 401/403/404 are 'configuration': the file stays pending. SQLite cannot
-- change a CHECK, so the table is copied.
CREATE TABLE uploads_v4 (
    id            INTEGER PRIMARY KEY,
    file_name     TEXT NOT NULL,
    sha256        TEXT NOT NULL,          -- of the bytes sent (the transformed file)
    source_sha256 TEXT NOT NULL,          -- of the file as taken (taken_files.sha256)
    at            TEXT NOT NULL,          -- RFC 3339, UTC: when the outcome was written
    outcome       TEXT NOT NULL CHECK (outcome IN
                    ('sending', 'accepted', 'rejected', 'failed', 'unknown', 'configuration')),
    message       TEXT NOT NULL DEFAULT ''
);
INSERT INTO uploads_v4 (id, file_name, sha256, source_sha256, at, outcome, message)
    SELECT id, file_name, sha256, source_sha256, at, outcome, message FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v4 RENAME TO uploads;
CREATE INDEX uploads_sha256 ON uploads(sha256);
CREATE INDEX uploads_source_sha256 ON uploads(source_sha256);
