//! The money model applied to the store: each tenant's statement for a
//! span (see `domain::statement`), and the sub-organisations a parent's
//! figures roll up.

use super::Costs;
use crate::db::{self, Conn};
use crate::domain::analytics::Span;
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::statement::{statement, DayCost, Schedule, Statement};
use crate::services::Result;
use std::collections::{BTreeMap, BTreeSet};

/// One tenant's statement, with its plan today.
#[derive(Debug, Clone)]
pub struct TenantStatement {
    pub tenant_id: String,
    pub plan: Option<Plan>,
    pub statement: Statement,
}

impl Costs {
    /// The tenant and every sub-organisation below it, the tenant first.
    pub async fn family(&self, conn: &mut Conn, tenant: &TenantId) -> Result<Vec<TenantId>> {
        let mut out = vec![tenant.clone()];
        let mut seen: BTreeSet<TenantId> = out.iter().cloned().collect();
        let mut i = 0;
        while i < out.len() {
            for child in db::tenants::children(conn, &out[i]).await? {
                if seen.insert(child.id.clone()) {
                    out.push(child.id);
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// Every tenant's statement for `span` added up: what the platform bills
    /// and earns (the optimisation page's week).
    pub async fn platform_statement(&self, span: Span) -> Result<Statement> {
        self.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let mut total = Statement::default();
        for s in self.statements(&mut conn, None, span).await? {
            total.add(&s.statement);
        }
        Ok(total)
    }

    /// The statements for `span` of `tenants`, or (`None`) of every tenant,
    /// in the order given (else by id).
    pub(crate) async fn statements(
        &self,
        conn: &mut Conn,
        tenants: Option<&[TenantId]>,
        span: Span,
    ) -> Result<Vec<TenantStatement>> {
        let terms = db::money::terms(conn).await?;
        let one = match tenants {
            Some([t]) => Some(t),
            _ => None,
        };
        let plans = db::money::plan_histories(conn, one).await?;
        let mut costs: BTreeMap<String, Vec<DayCost>> = BTreeMap::new();
        let engine = self.db.engine();
        for (tenant, c) in segment_costs(conn, engine, tenants, span, &terms, &plans).await? {
            costs.entry(tenant).or_default().push(c);
        }
        // Every tenant has a plan history from its creation; cost rows of an
        // erased tenant (a late write not yet swept) have none and are left out.
        let ids: Vec<String> = match tenants {
            Some(ids) => ids.iter().map(|t| t.to_string()).collect(),
            None => {
                let all: BTreeSet<&String> = plans.keys().collect();
                all.into_iter().cloned().collect()
            }
        };
        let empty = Schedule::new(Vec::new());
        let label = span.label();
        Ok(ids
            .into_iter()
            .map(|id| {
                let history = plans.get(&id).unwrap_or(&empty);
                let used = costs.get(&id).map(Vec::as_slice).unwrap_or_default();
                TenantStatement {
                    plan: history.entries().last().map(|e| e.1),
                    statement: statement(span, &label, history, &terms, used),
                    tenant_id: id,
                }
            })
            .collect())
    }
}

/// At most this many stretches of unchanged terms are read grouped; with
/// more, the days are read one by one.
const MAX_SEGMENTS: usize = 64;

/// Each tenant's use of each service in `span`, summed over each stretch of
/// days on which no plan, plan terms or allocation rates change (dated on
/// the stretch's first day). A statement is linear in cost within such a
/// stretch (exact sums, rounded once at the end), so it comes out the same
/// as from the days one by one, from far fewer rows.
async fn segment_costs(
    conn: &mut Conn,
    engine: db::Engine,
    tenants: Option<&[TenantId]>,
    span: Span,
    terms: &crate::domain::statement::Terms,
    plans: &std::collections::HashMap<String, Schedule<Plan>>,
) -> Result<Vec<(String, DayCost)>> {
    let plan_days = plans.values().flat_map(|s| s.entries().iter().map(|e| e.0));
    let starts: BTreeSet<chrono::NaiveDate> = std::iter::once(span.from)
        .chain(terms.change_days())
        .chain(plan_days)
        .filter(|d| span.from <= *d && *d < span.to)
        .collect();
    if starts.len() > MAX_SEGMENTS {
        return Ok(db::costs::tenant_day_costs(conn, tenants, span.from, span.to).await?);
    }
    let starts: Vec<_> = starts.into_iter().collect();
    Ok(db::costs::tenant_segment_costs(conn, engine, tenants, span.to, &starts).await?)
}
