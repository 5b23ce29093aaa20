//! The dynamic parts of the PostgreSQL case listing: filters, sort key and
//! keyset condition.

use sqlx::{Postgres, QueryBuilder};
use vigil_engine::case::{CaseStatus, Severity};
use vigil_engine::store::{AssigneeFilter, CaseQuery, CaseSortKey, SortDirection, SortValue};

use crate::case_queries as q;

/// `CASE <column> WHEN '<name>' THEN <rank> ... END` over `ranks`.
fn rank_sql(column: &str, ranks: impl Iterator<Item = (&'static str, i64)>) -> String {
    let mut sql = format!("CASE {column}");
    for (name, rank) in ranks {
        sql.push_str(&format!(" WHEN '{name}' THEN {rank}"));
    }
    sql.push_str(" END");
    sql
}

/// The SQL expression a sort key orders by (see
/// `vigil_engine::store::backend::Backend::cases`).
pub(crate) fn sort_expr(key: CaseSortKey) -> String {
    match key {
        CaseSortKey::Number => "c.number".to_owned(),
        CaseSortKey::Title => "c.title_key COLLATE \"C\"".to_owned(),
        CaseSortKey::Severity => rank_sql(
            "c.severity",
            Severity::ALL.iter().map(|s| (s.as_str(), s.rank())),
        ),
        CaseSortKey::Status => rank_sql(
            "c.status",
            CaseStatus::ALL.iter().map(|s| (s.as_str(), s.rank())),
        ),
        CaseSortKey::Assignee => "coalesce(c.assignee, '') COLLATE \"C\"".to_owned(),
        CaseSortKey::CreatedAt => "c.created_at".to_owned(),
        CaseSortKey::UpdatedAt => "c.updated_at".to_owned(),
        CaseSortKey::StatusChangedAt => "c.status_changed_at".to_owned(),
        CaseSortKey::AlertCount => q::COUNT_ALERTS.to_owned(),
        CaseSortKey::ObservableCount => q::COUNT_OBSERVABLES.to_owned(),
    }
}

/// Appends the query's filters; its statuses only with `statuses`.
pub(crate) fn push_filters(b: &mut QueryBuilder<Postgres>, query: &CaseQuery, statuses: bool) {
    if !query.include_deleted {
        b.push(" AND c.deleted_at IS NULL");
    }
    if statuses && !query.statuses.is_empty() {
        b.push(" AND c.status IN (");
        let mut list = b.separated(", ");
        for status in &query.statuses {
            list.push_bind(status.as_str());
        }
        b.push(")");
    }
    if !query.severities.is_empty() {
        b.push(" AND c.severity IN (");
        let mut list = b.separated(", ");
        for severity in &query.severities {
            list.push_bind(severity.as_str());
        }
        b.push(")");
    }
    match &query.assignee {
        Some(AssigneeFilter::Is(name)) => {
            b.push(" AND c.assignee = ")
                .push_bind(name.trim().to_owned());
        }
        Some(AssigneeFilter::Unassigned) => {
            b.push(" AND c.assignee IS NULL");
        }
        None => {}
    }
    if let Some(tag) = query.tag_value() {
        b.push(q::FILTER_TAG).push_bind(tag).push(")");
    }
    if let Some((value, lower)) = query.observable_values() {
        b.push(q::FILTER_OBSERVABLE)
            .push_bind(value)
            .push(", ")
            .push_bind(lower)
            .push("))");
    }
    if let Some(needle) = query.text_needle() {
        b.push(q::FILTER_TEXT).push_bind(needle).push(") > 0");
    }
}

/// Appends the keyset condition (after the cursor), the order and the limit.
pub(crate) fn push_page(b: &mut QueryBuilder<Postgres>, query: &CaseQuery) {
    let key = sort_expr(query.sort.key);
    let (cmp, dir) = match query.sort.direction {
        SortDirection::Asc => (">", "ASC"),
        SortDirection::Desc => ("<", "DESC"),
    };
    if let Some(after) = &query.after {
        b.push(format!(" AND ({key}, c.id) {cmp} ("));
        match &after.value {
            SortValue::Int(n) => b.push_bind(*n),
            SortValue::Time(t) => b.push_bind(*t),
            SortValue::Text(s) => b.push_bind(s.clone()),
        };
        b.push(", ").push_bind(after.id.0).push(")");
    }
    b.push(format!(" ORDER BY {key} {dir}, c.id {dir} LIMIT "))
        .push_bind(i64::from(query.page_size()));
}
