-- Content hashes of local source files by (size, mtime, inode): collect rereads only changed files.
-- A cache: deleting its rows costs one full read of the source folders on the next build, nothing else.
CREATE TABLE collect_file_hashes (
    path VARCHAR PRIMARY KEY,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL
);
