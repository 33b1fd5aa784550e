-- What tells a repeat of an export row from a conflict: a digest of the
-- row's values (`pump::exports::RowDigest`: the first 16 bytes of a SHA-256
-- over each value, length-prefixed). A payment's row is no longer stored
-- whole: its payload is built from its decided columns, and the file and
-- line it came from are kept (`file_id`, `line`, `export_files.sha256`).
-- Items taken before this migration have no digest; their row is still in
-- `outbox_records`, and the digest is computed from it when a repeat needs
-- it.
ALTER TABLE outbox ADD COLUMN digest BLOB;
