-- Runs once, when the compose stack's PostgreSQL volume is created (docker-entrypoint-initdb.d).
-- One database and one login per service, as in production: no service can read another's
-- tables. Each database is owned by its service's user, so its migrations may create tables
-- in the public schema (PostgreSQL 15+ no longer lets every user do that).
-- The passwords are for this local stack only.
CREATE ROLE identity        LOGIN PASSWORD 'identity-dev';
CREATE ROLE staff_directory LOGIN PASSWORD 'staff-directory-dev';
CREATE ROLE org_access      LOGIN PASSWORD 'org-access-dev';
CREATE ROLE notification    LOGIN PASSWORD 'notification-dev';

CREATE DATABASE identity        OWNER identity;
CREATE DATABASE staff_directory OWNER staff_directory;
CREATE DATABASE org_access      OWNER org_access;
CREATE DATABASE notification    OWNER notification;

REVOKE ALL ON DATABASE identity, staff_directory, org_access, notification FROM PUBLIC;
