//! Integration tests: the app on a random port with a fresh database, driven
//! through its public HTTP interface (and the CLI as a process).

mod admins;
mod audit;
mod automation;
mod bad_input;
mod billing;
mod cli;
mod costs;
mod crash;
mod dashboards;
mod data_plane;
mod erasure;
mod hardening;
mod helpers;
mod lifecycle;
mod limits;
mod migrate_store;
mod money;
mod openapi;
mod pages;
mod providers_stub;
mod provision;
mod receiver;
mod replicas;
mod restart;
mod retention;
mod rollups;
mod tokens;
mod usage;
mod vault;
mod verify;
mod xero_stub;
