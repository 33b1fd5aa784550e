-- What tells a repeat of an export row from a conflict: the first 16 bytes
-- of the SHA-256 of the row's record (its JSON, as `outbox_records` holds
-- it). A payment's record is no longer stored whole: its payload is built
-- from its decided columns, and the file and line it came from are kept
-- (`file_id`, `line`, `export_files.sha256`). Items taken before this
-- migration have no digest; their record is still in `outbox_records`, and
-- the digest is computed from it when a repeat needs it.
ALTER TABLE outbox ADD COLUMN digest BLOB;
