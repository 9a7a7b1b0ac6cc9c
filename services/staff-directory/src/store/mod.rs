//! Staff-directory's store: its tables ([`entities`]) and typed queries that take the practice
//! and return domain values. The use cases (`app`) call these and never build a query; every
//! query of practice data is narrowed by [`ps_db::tenancy`], so another practice's row is as
//! absent as a missing one.

pub mod entities;
pub mod migration;

pub mod audit;
pub mod locations;
pub mod members;
pub mod offboardings;
pub mod practices;
