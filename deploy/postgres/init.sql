-- One PostgreSQL for both: the owlmigrate ledger (database owlclaw, created by the image from
-- POSTGRES_DB) and Hatchet's own database.
CREATE ROLE hatchet LOGIN PASSWORD 'hatchet';
CREATE DATABASE hatchet OWNER hatchet;
