//! Black-box tests of the motcua API: each test starts the real application
//! on port 0 with its own database and talks to it over HTTP. Tests written
//! with `api_tests!` run twice, as `sqlite::<name>` and `postgres::<name>`.

#[macro_use]
mod helpers;

mod abuse;
mod access_log;
mod audit;
mod auth;
mod authorization;
mod binary;
mod catalogue;
mod compare;
mod concurrency;
mod council;
mod destinations;
mod dossiers;
mod errors;
mod file_stores;
mod files;
mod fixture;
mod hygiene;
mod interagency;
mod openapi;
mod operations;
mod outbox;
mod outreach;
mod payments;
mod printing;
mod reports;
mod weed;
