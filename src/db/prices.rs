//! Service prices, kept with their effective dates (never updated in place).

use super::{get_parsed, get_ts, ts, Conn};
use crate::domain::pricing::{CostService, Price, PriceUnit};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Every price, or one service's, oldest first.
pub async fn list(conn: &mut Conn, service: Option<CostService>) -> sqlx::Result<Vec<Price>> {
    let sql =
        "SELECT service, model, unit, price_micros, per_units, effective_from FROM service_prices";
    let rows = match service {
        Some(s) => {
            sqlx::query(&format!(
                "{sql} WHERE service = $1 ORDER BY service, model, unit, effective_from"
            ))
            .bind(s.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "{sql} ORDER BY service, model, unit, effective_from"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter()
        .map(|row| {
            Ok(Price {
                service: get_parsed(row, "service", |s| CostService::parse(&s))?,
                model: row.try_get("model")?,
                unit: get_parsed(row, "unit", |s| PriceUnit::parse(&s))?,
                price_micros: row.try_get("price_micros")?,
                per_units: row.try_get("per_units")?,
                effective_from: get_ts(row, "effective_from")?,
            })
        })
        .collect()
}

/// Adds a price; one already set for the same instant is replaced.
pub async fn put(conn: &mut Conn, price: &Price, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO service_prices (service, model, unit, price_micros, per_units, effective_from, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (service, model, unit, effective_from) \
         DO UPDATE SET price_micros = excluded.price_micros, per_units = excluded.per_units, \
         created_at = excluded.created_at",
    )
    .bind(price.service.as_str())
    .bind(&price.model)
    .bind(price.unit.as_str())
    .bind(price.price_micros)
    .bind(price.per_units)
    .bind(ts(price.effective_from))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
