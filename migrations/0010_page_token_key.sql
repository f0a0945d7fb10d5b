-- The key that signs page tokens (decision 0010): one row, made here by PostgreSQL, so that
-- every replica and every restart signs and checks tokens with the same key.
-- gen_random_uuid() is core since PostgreSQL 13 and draws from the server's strong random source
-- (122 random bits a UUID); pgcrypto's gen_random_bytes would need an extension. Four UUIDs
-- give a 64-byte key with 488 random bits.
CREATE TABLE page_token_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret bytea NOT NULL CHECK (length(secret) >= 32)
);

INSERT INTO page_token_key (secret)
SELECT decode(string_agg(replace(gen_random_uuid()::text, '-', ''), ''), 'hex')
FROM generate_series(1, 4);
