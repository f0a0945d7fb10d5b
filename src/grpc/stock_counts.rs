//! The stock-count calls of SourceItemService: adjustments by delta and the quantity history.
//! Both are source-scoped like the other source-item calls.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        finish,
        stock_counts::{adjusted_to_pb, adjustment_request, change_to_pb, history_filter},
    },
    paging::{PageKey, next_token, page_request},
    pb,
};
use crate::{
    auth::SourceScope,
    repo::{Repo, history::HistoryFilter},
    validation::Violations,
};

/// AdjustSourceItems: every line's source must be in the caller's scope.
pub(super) async fn adjust(
    repo: &Repo,
    request: Request<pb::AdjustSourceItemsRequest>,
) -> Result<Response<pb::AdjustSourceItemsResponse>, Status> {
    let scope = SourceScope::of(&request);
    let req = request.into_inner();
    let mut v = Violations::new();
    let adjustment = adjustment_request(&mut v, &req);
    let adjustment = finish(v, adjustment)?;
    for delta in &adjustment.deltas {
        scope.check(&delta.source)?;
    }
    let adjusted = repo.adjust_source_items(&adjustment).await?;
    Ok(Response::new(adjusted_to_pb(adjusted)))
}

/// ListSourceItemHistory: a named source must be in scope; a SKU's history shows only the
/// sources in scope.
pub(super) async fn list_history(
    repo: &Repo,
    request: Request<pb::ListSourceItemHistoryRequest>,
) -> Result<Response<pb::ListSourceItemHistoryResponse>, Status> {
    let scope = SourceScope::of(&request);
    let req = request.into_inner();
    let mut v = Violations::new();
    let filter = history_filter(&mut v, &req);
    // The token names the filter too, so a token of one listing cannot page another.
    let kind = match &filter {
        Some(HistoryFilter::Item(source, sku)) => format!("history/{source}/{sku}"),
        Some(HistoryFilter::Source(source)) => format!("history-by-source/{source}"),
        Some(HistoryFilter::Sku(sku)) => format!("history-by-sku/{sku}"),
        None => String::new(),
    };
    let pages = PageKey::of(repo).await?;
    let page = page_request(&mut v, &pages, req.page_size, &req.page_token, &kind);
    let before = match page.as_ref().and_then(|p| p.after.as_deref()) {
        None => None,
        Some(key) => match key.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                v.add("page_token", "is not a token this listing issued");
                None
            }
        },
    };
    let (filter, page) = finish(v, filter.zip(page))?;
    if let HistoryFilter::Item(source, _) | HistoryFilter::Source(source) = &filter {
        scope.check(source)?;
    }
    let only = scope.codes();
    let changes = repo
        .list_source_item_history(&filter, before, page.size, only.as_deref())
        .await?;
    let last = changes.last().map(|c| c.id.to_string());
    let next_page_token = next_token(&pages, &kind, changes.len(), page.size, last.as_deref());
    Ok(Response::new(pb::ListSourceItemHistoryResponse {
        changes: changes.into_iter().map(change_to_pb).collect(),
        next_page_token,
    }))
}
