//! Tenants and their namespaces.

use super::changes::{Change, ChangeFeed};
use super::keys::{ensure_tenant, Keys};
use super::plans::Plans;
use super::response_cache::ResponseCache;
use super::{now, Error, Result};
pub use crate::db::tenants::{TenantSearch, TenantSort};
use crate::db::{self, Db};
use crate::domain::access::TenantScope;
use crate::domain::audit::Actor;
use crate::domain::ids::{NamespaceName, TenantId};
use crate::domain::namespace::Namespace;
use crate::domain::plan::{Plan, PlanLimits};
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::domain::ValidationError;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct NewNamespace {
    pub name: NamespaceName,
    pub tenant_id: TenantId,
    pub plan: Option<Plan>,
    pub sector: String,
    pub use_case: String,
}

/// A tenant with what hangs off it.
#[derive(Debug, Clone)]
pub struct TenantDetail {
    pub tenant: Tenant,
    pub limits: PlanLimits,
    pub namespaces: Vec<Namespace>,
    pub key_count: usize,
    /// Whether its invoice carries its sub-organisations' charges.
    pub invoices_children: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub plan: Option<Plan>,
    pub status: Option<TenantStatus>,
    /// Move under another tenant (`Some(Some(parent))`) or to the top (`Some(None)`).
    pub parent: Option<Option<TenantId>>,
    /// The day a plan change counts from for billing (default today).
    pub plan_from: Option<chrono::NaiveDate>,
    /// Take (or stop taking) its sub-organisations' charges on its invoice.
    pub invoices_children: Option<bool>,
}

/// Refuses a parent that does not exist, is the tenant itself, or sits
/// below it (a move that would make a cycle).
async fn check_new_parent(conn: &mut db::Conn, id: &TenantId, parent: &TenantId) -> Result<()> {
    let mut at = Some(parent.clone());
    let mut steps = 0;
    while let Some(current) = at {
        if &current == id {
            return Err(Error::conflict(
                "PARENT_CYCLE",
                format!("'{parent}' is '{id}' or one of its sub-organisations"),
            ));
        }
        let Some(t) = db::tenants::find(conn, &current).await? else {
            return Err(Error::not_found(
                "TENANT_NOT_FOUND",
                format!("parent tenant '{current}' does not exist"),
            ));
        };
        steps += 1;
        if steps > 64 {
            return Err(Error::conflict("PARENT_CYCLE", "the hierarchy is too deep"));
        }
        at = t.parent_id;
    }
    Ok(())
}

fn namespace_not_found(name: &NamespaceName) -> Error {
    Error::not_found(
        "NAMESPACE_NOT_FOUND",
        format!("namespace '{name}' does not exist"),
    )
}

fn tenant_not_found(id: &TenantId) -> Error {
    Error::not_found("TENANT_NOT_FOUND", format!("tenant '{id}' does not exist"))
}

/// The tenants service: tenants, their namespaces, and the customers table.
#[derive(Clone)]
pub struct Tenants {
    db: Db,
    /// Tenants are cached beside keys; a tenant change drops them.
    keys: Keys,
    plans: Plans,
    feed: ChangeFeed,
    /// A deleted namespace's responses leave the memory tier too.
    responses: Arc<ResponseCache>,
}

impl Tenants {
    pub fn new(
        db: Db,
        keys: Keys,
        plans: Plans,
        feed: ChangeFeed,
        responses: Arc<ResponseCache>,
    ) -> Self {
        Self {
            responses,
            db,
            keys,
            plans,
            feed,
        }
    }

    /// Creates a namespace for a tenant, creating the tenant (free plan unless
    /// told otherwise) when it does not exist yet.
    pub async fn create_namespace(&self, req: NewNamespace, actor: &Actor) -> Result<Namespace> {
        let now = now();
        let mut tx = self.db.begin().await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "namespace.create",
                "namespace",
                req.name.as_str(),
                Some(req.tenant_id.as_str()),
                json!({ "sector": req.sector, "use_case": req.use_case }),
            ),
            now,
        )
        .await?;
        ensure_tenant(&mut tx, &req.tenant_id, None, None, req.plan, now).await?;
        let ns = Namespace {
            name: req.name,
            tenant_id: req.tenant_id,
            sector: req.sector,
            use_case: req.use_case,
            created_at: now,
        };
        if !db::namespaces::insert_if_absent(&mut tx, &ns).await? {
            return Err(Error::conflict(
                "NAMESPACE_EXISTS",
                format!("namespace '{}' already exists", ns.name),
            ));
        }
        tx.commit().await?;
        Ok(ns)
    }

    pub async fn list_tenants(
        &self,
        plan: Option<Plan>,
        scope: &TenantScope,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Tenant>, i64)> {
        let mut conn = self.db.pool().acquire().await?;
        let tenants = db::tenants::list(&mut conn, plan, scope, limit, offset).await?;
        let total = db::tenants::count(&mut conn, plan, scope).await?;
        Ok((tenants, total))
    }

    pub async fn tenant_detail(&self, id: &TenantId) -> Result<TenantDetail> {
        let mut conn = self.db.pool().acquire().await?;
        let tenant = db::tenants::find(&mut conn, id)
            .await?
            .ok_or_else(|| tenant_not_found(id))?;
        Ok(TenantDetail {
            limits: db::plans::limits(&mut conn, tenant.plan).await?,
            namespaces: db::namespaces::list_for_tenant(&mut conn, id).await?,
            key_count: db::keys::list(&mut conn, Some(id)).await?.len(),
            invoices_children: db::money::invoices_children(&mut conn, id).await?,
            tenant,
        })
    }

    /// Erases a tenant: its keys (refused from the next request on, on every
    /// replica), namespaces and cached responses, provider secrets, usage
    /// (raw records, rollups, events) and cost rollups are deleted; its
    /// invoices stay (legal retention) and so does the audit trail, with one
    /// `tenant.erase` record. Refused while it has sub-organisations.
    pub async fn erase_tenant(&self, id: &TenantId, actor: &Actor) -> Result<db::erasure::Erased> {
        let now = now();
        let mut tx = self.db.begin().await?;
        // The write first: it takes the lock that serialises changes to the tenant.
        if !db::tenants::update(&mut tx, id, None, None, None, now).await? {
            return Err(tenant_not_found(id));
        }
        let children = db::tenants::children(&mut tx, id).await?;
        if !children.is_empty() {
            return Err(Error::conflict(
                "TENANT_HAS_CHILDREN",
                format!(
                    "tenant '{id}' has {} sub-organisations; move them (PATCH parent_id) or erase them first",
                    children.len()
                ),
            ));
        }
        let namespaces = db::namespaces::list_for_tenant(&mut tx, id).await?;
        let erased = db::erasure::erase_tenant(&mut tx, id, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "tenant.erase",
                "tenant",
                id.as_str(),
                Some(id.as_str()),
                json!({ "erased": erased }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.keys.invalidate_tenants();
        self.feed.announce(Change::Tenants).await;
        for ns in namespaces {
            self.responses.forget(&ns.name, None).await;
            self.feed
                .announce(Change::Responses {
                    namespace: ns.name.to_string(),
                    digest: None,
                })
                .await;
        }
        self.sweep_erased_later();
        Ok(erased)
    }

    /// Sweeps, a few seconds on, what usage and cost queues in flight at
    /// the erasure (here or on another replica) wrote afterwards; the hourly
    /// retention pass sweeps again.
    fn sweep_erased_later(&self) {
        let db = self.db.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let swept = async {
                let mut conn = db.pool().acquire().await?;
                db::erasure::sweep_erased(&mut conn).await
            };
            if let Err(e) = swept.await {
                tracing::warn!(error = %e, "sweeping erased tenants failed; the hourly pass retries");
            }
        });
    }

    /// A tenant's direct sub-organisations.
    pub async fn children(&self, id: &TenantId) -> Result<Vec<Tenant>> {
        let mut conn = self.db.pool().acquire().await?;
        if db::tenants::find(&mut conn, id).await?.is_none() {
            return Err(tenant_not_found(id));
        }
        Ok(db::tenants::children(&mut conn, id).await?)
    }

    /// Namespaces, of one tenant or all, by name.
    pub async fn list_namespaces(&self, tenant: Option<&TenantId>) -> Result<Vec<Namespace>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(match tenant {
            Some(t) => db::namespaces::list_for_tenant(&mut conn, t).await?,
            None => db::namespaces::list_all(&mut conn).await?,
        })
    }

    pub async fn namespace(&self, name: &NamespaceName) -> Result<Namespace> {
        let mut conn = self.db.pool().acquire().await?;
        db::namespaces::find(&mut conn, name)
            .await?
            .ok_or_else(|| namespace_not_found(name))
    }

    /// Deletes a namespace and every response cached in it (store and memory,
    /// on every replica); keys naming it lose that scope, so a name taken
    /// again later is not open to them.
    pub async fn delete_namespace(&self, name: &NamespaceName, actor: &Actor) -> Result<u64> {
        let now = now();
        let mut tx = self.db.begin().await?;
        let ns = db::namespaces::find(&mut tx, name)
            .await?
            .ok_or_else(|| namespace_not_found(name))?;
        let deleted = db::namespaces::delete(&mut tx, name).await?;
        let entries = deleted.cached_entries;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "namespace.delete",
                "namespace",
                name.as_str(),
                Some(ns.tenant_id.as_str()),
                json!({ "cached_entries": entries, "key_scopes_removed": deleted.key_scopes }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.responses.forget(name, None).await;
        self.keys.invalidate_tenants();
        self.feed.announce(Change::Tenants).await;
        self.feed
            .announce(Change::Responses {
                namespace: name.to_string(),
                digest: None,
            })
            .await;
        Ok(entries)
    }

    /// Renames a tenant, moves it to another plan, or suspends / reactivates
    /// it. Suspension stops every key of the tenant at the next request.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        changes: TenantChanges,
        actor: &Actor,
    ) -> Result<Tenant> {
        let now = now();
        let mut tx = self.db.begin().await?;
        let updated = db::tenants::update(
            &mut tx,
            id,
            changes.name.as_deref(),
            changes.plan,
            changes.status,
            now,
        )
        .await?;
        if !updated {
            return Err(tenant_not_found(id));
        }
        match (changes.plan, changes.plan_from) {
            (Some(plan), Some(from)) => {
                if from > now.date_naive() || chrono::Datelike::year(&from) < 2000 {
                    return Err(ValidationError::new(
                        "plan_effective_from",
                        "must be a day from 2000-01-01 up to today",
                    )
                    .into());
                }
                super::costs::check_open(&mut tx, from).await?;
                db::money::record_plan(&mut tx, id, plan, from).await?;
            }
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "plan_effective_from",
                    "is the day a plan change counts from: give it with plan",
                )
                .into())
            }
            _ => {}
        }
        if let Some(on) = changes.invoices_children {
            db::money::set_invoices_children(&mut tx, id, on).await?;
        }
        if let Some(parent) = &changes.parent {
            if let Some(p) = parent {
                check_new_parent(&mut tx, id, p).await?;
            }
            db::tenants::set_parent(&mut tx, id, parent.as_ref(), now).await?;
        }
        let tenant = db::tenants::find(&mut tx, id)
            .await?
            .ok_or_else(|| tenant_not_found(id))?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "tenant.update",
                "tenant",
                id.as_str(),
                Some(id.as_str()),
                json!({
                    "name": changes.name,
                    "plan": changes.plan,
                    "plan_effective_from": changes.plan_from,
                    "invoices_children": changes.invoices_children,
                    "status": changes.status,
                    "parent_id": changes.parent,
                }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.keys.invalidate_tenants();
        self.feed.announce(Change::Tenants).await;
        Ok(tenant)
    }
}

/// One row of the admin's customers table.
#[derive(Debug, Clone)]
pub struct CustomerSummary {
    pub tenant: Tenant,
    pub namespaces: Vec<String>,
    pub keys: Vec<crate::domain::api_key::ApiKey>,
    /// This calendar month (UTC), from the hourly rollups.
    pub activity: db::usage::TenantActivity,
    pub monthly_quota: i64,
}

impl Tenants {
    /// A page of the customers table: tenants matching the search with their
    /// namespaces, keys and this month's use against the plan's quota. A page
    /// costs a handful of indexed reads per row, however many tenants exist.
    pub async fn customers(
        &self,
        search: &db::tenants::TenantSearch,
    ) -> Result<(Vec<CustomerSummary>, i64)> {
        let mut conn = self.db.pool().acquire().await?;
        let (tenants, total) = db::tenants::search(&mut conn, search).await?;
        let month = crate::domain::limits::month_start(super::now());
        let mut rows = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let namespaces = db::namespaces::list_for_tenant(&mut conn, &tenant.id)
                .await?
                .into_iter()
                .map(|n| n.name.to_string())
                .collect();
            let keys = db::keys::list(&mut conn, Some(&tenant.id)).await?;
            let activity = db::usage::tenant_activity(&mut conn, tenant.id.as_str(), month).await?;
            rows.push(CustomerSummary {
                monthly_quota: self.plans.plan_limits(tenant.plan).requests_per_month,
                namespaces,
                keys,
                activity,
                tenant,
            });
        }
        Ok((rows, total))
    }
}
