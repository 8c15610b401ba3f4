//! The law of the one-stop desk, in code: the legal clock, working calendars,
//! the dossier lifecycle and the value types (codes, personal IDs, money).
//!
//! This crate is pure: no database, no HTTP, no clock of its own ("now" is
//! always a parameter), no I/O. CI checks that it depends on neither diesel
//! nor actix-web. The rules it implements are explained, with their legal
//! sources, in `docs/`.

pub mod agency;
pub mod calendar;
pub mod calendar_spec;
pub mod clock;
pub mod codes;
pub mod contact;
pub mod dossier;
pub mod explain;
pub mod history;
pub mod indicators;
pub mod lifecycle;
pub mod money;
pub mod national;
pub mod online;
pub mod personal_id;
pub mod portal;
pub mod procedure;
pub mod reports;
pub mod time;
