//! HTTP handlers, grouped by area. Each handler is registered with
//! `service(...)` so that utoipa-actix-web sees it and the OpenAPI document
//! is generated from the same registration that serves requests.

pub mod access_log;
pub mod agencies;
pub mod auth;
pub mod calendars;
pub mod catalogue;
pub mod dossiers;
pub mod files;
pub mod forms;
pub mod ops;
pub mod public;
pub mod reports;
pub mod tracking_book;
pub mod users;
pub mod webhooks;

use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{Governor, GovernorConfig};
use actix_web::middleware::from_fn;

use crate::client::PublicCaller;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every documented route of the application. `limits` rate-limit the public
/// look-up and the deadline preview (one pair per application, shared by its
/// workers); behind them the same rates are counted in the database
/// ([`public::SharedRates`]), shared by every server.
pub fn configure(limits: &(PublicLimit, PublicLimit)) -> impl FnOnce(&mut ServiceConfig) {
    let limiters = (Governor::new(&limits.0), Governor::new(&limits.1));
    move |config| routes(config, limiters)
}

type Limiter = Governor<PublicCaller, NoOpMiddleware>;

/// The per-address rate limit of a public endpoint (its own counters;
/// authenticated staff are not counted).
pub type PublicLimit = GovernorConfig<PublicCaller, NoOpMiddleware>;

fn routes(config: &mut ServiceConfig, (lookup, preview): (Limiter, Limiter)) {
    config
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(
            scope("/api/v1")
                .service(auth::register_citizen)
                .service(auth::login)
                .service(auth::rotate)
                .service(auth::log_out)
                .service(auth::me)
                .service(agencies::list_agencies)
                .service(agencies::create_agency)
                .service(agencies::get_agency)
                .service(agencies::update_agency)
                .service(agencies::merge_agency)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                .service(calendars::get_calendar)
                .service(calendars::put_calendar)
                .service(catalogue::list_procedures)
                .service(catalogue::create_procedure)
                .service(catalogue::get_procedure)
                .service(catalogue::new_procedure_version)
                .service(catalogue::list_groups)
                .service(catalogue::put_group)
                .service(webhooks::register_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::remove_webhook)
                .service(webhooks::replay)
                .service(webhooks::list_destinations)
                .service(dossiers::intake::file_online)
                .service(dossiers::intake::file_assisted)
                .service(dossiers::intake::intake)
                .service(dossiers::groups::file_group)
                .service(dossiers::groups::get_group)
                .service(dossiers::reads::list_dossiers)
                .service(dossiers::reads::get_dossier)
                .service(dossiers::reads::dossier_events)
                .service(dossiers::reads::dossier_deadline)
                .service(forms::dossier_form)
                .service(dossiers::reads::verify_history)
                .service(access_log::list_access_log)
                .service(dossiers::actions::accept)
                .service(dossiers::actions::request_supplement)
                .service(dossiers::actions::supply)
                .service(dossiers::actions::refuse)
                .service(dossiers::actions::hand_over)
                .service(dossiers::actions::request_payment)
                .service(dossiers::payments::record_payment)
                .service(dossiers::portal::receive_filing)
                .service(files::upload)
                .service(files::download)
                .service(reports::kstt06_report)
                .service(reports::overdue_report)
                .service(reports::late_report)
                .service(reports::late_steps_report)
                .service(reports::portal_sync_report)
                .service(reports::outreach_report)
                .service(tracking_book::tracking_book)
                .service(reports::online_uptake)
                .service(reports::indicators_report)
                .service(reports::indicators_compare)
                .service(reports::uptake_compare)
                .service(reports::kstt06_compare)
                .service(reports::audit_report)
                .service(dossiers::actions::extend_verification)
                .service(dossiers::actions::apologise)
                .service(dossiers::actions::stop_processing)
                .service(dossiers::actions::complete)
                .service(dossiers::actions::return_result)
                .service(dossiers::actions::withdraw)
                .service(dossiers::actions::rate)
                .service(
                    scope("/public")
                        .wrap(from_fn(public::shared_lookup_rate))
                        .wrap(lookup)
                        .service(public::lookup),
                )
                .service(
                    scope("/deadlines")
                        .wrap(from_fn(public::shared_preview_rate))
                        .wrap(preview)
                        .service(calendars::preview),
                ),
        );
}
