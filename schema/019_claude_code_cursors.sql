-- Where each Claude Code log was read up to, so that a later import reads only what is new:
-- the file's identity (device, inode), its size and mtime when read, the byte offset after its
-- last complete line (and how many lines that is, to name a malformed one by its number), and
-- the SHA-256 of its first 4 KiB (at most its size), which tells a rewritten file from a grown
-- one. Written in a transaction after the one that recorded the rows it covers.
CREATE TABLE IF NOT EXISTS claude_code_cursors(
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    head_sha256 TEXT NOT NULL
);
