//! SourceItemService: convert, call the repository, convert back.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        batch_size,
        catalogue::{source_item_to_pb, source_item_write},
        finish, no_duplicates, sku, source_code,
        stock_counts::expected_quantities,
    },
    paging::{PageKey, next_token, page_request},
    pb::{self, source_item_service_server::SourceItemService},
    stock_counts,
};
use crate::{
    auth::SourceScope,
    domain::SourceItem,
    repo::{Repo, source_items::SourceItemFilter},
    validation::Violations,
};

/// gRPC face of the source items in the repository.
#[derive(Debug, Clone)]
pub(crate) struct SourceItemApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl SourceItemService for SourceItemApi {
    async fn upsert_source_items(
        &self,
        request: Request<pb::UpsertSourceItemsRequest>,
    ) -> Result<Response<pb::UpsertSourceItemsResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        batch_size(&mut v, "items", req.items.len())?;
        no_duplicates(
            &mut v,
            req.items.iter().map(|item| (&item.source_code, &item.sku)),
            |i| format!("items[{i}]"),
        );
        let items: Vec<_> = req
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| source_item_write(&mut v, i, item))
            .collect();
        let expected = expected_quantities(&mut v, &req.items);
        let items = finish(v, Some(items))?;
        scope.check_lines("items", items.iter().map(|item| &item.source))?;
        let stored = self
            .repo
            .upsert_source_items_expecting(&items, &expected)
            .await?;
        Ok(Response::new(pb::UpsertSourceItemsResponse {
            items: stored.into_iter().map(source_item_to_pb).collect(),
        }))
    }

    async fn delete_source_items(
        &self,
        request: Request<pb::DeleteSourceItemsRequest>,
    ) -> Result<Response<pb::DeleteSourceItemsResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        batch_size(&mut v, "keys", req.keys.len())?;
        no_duplicates(
            &mut v,
            req.keys.iter().map(|k| (&k.source_code, &k.sku)),
            |i| format!("keys[{i}]"),
        );
        let keys: Vec<_> = req
            .keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let source = source_code(&mut v, &format!("keys[{i}].source_code"), &k.source_code);
                let sku = sku(&mut v, &format!("keys[{i}].sku"), &k.sku);
                Some((source?, sku?))
            })
            .collect();
        let keys = finish(v, Some(keys))?;
        scope.check_lines("keys", keys.iter().map(|(source, _)| source))?;
        let deleted = self.repo.delete_source_items(&keys).await?;
        Ok(Response::new(pb::DeleteSourceItemsResponse {
            deleted: u32::try_from(deleted).unwrap_or(u32::MAX),
        }))
    }

    async fn get_source_item(
        &self,
        request: Request<pb::GetSourceItemRequest>,
    ) -> Result<Response<pb::SourceItem>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let source = source_code(&mut v, "source_code", &req.source_code);
        let sku = sku(&mut v, "sku", &req.sku);
        let (source, sku) = finish(v, source.zip(sku))?;
        scope.check(&source)?;
        let item = self.repo.get_source_item(&source, &sku).await?;
        Ok(Response::new(source_item_to_pb(item)))
    }

    async fn list_source_items(
        &self,
        request: Request<pb::ListSourceItemsRequest>,
    ) -> Result<Response<pb::ListSourceItemsResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let filter = match &req.filter {
            Some(pb::list_source_items_request::Filter::Sku(s)) => {
                sku(&mut v, "sku", s).map(SourceItemFilter::Sku)
            }
            Some(pb::list_source_items_request::Filter::SourceCode(c)) => {
                source_code(&mut v, "source_code", c).map(SourceItemFilter::Source)
            }
            None => {
                v.add("filter", "must give a sku or a source_code");
                None
            }
        };
        // The token names the filter value too, so a token of one SKU cannot page another.
        let kind = match &filter {
            Some(SourceItemFilter::Sku(sku)) => format!("items-by-sku/{sku}"),
            Some(SourceItemFilter::Source(code)) => format!("items-by-source/{code}"),
            None => String::new(),
        };
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, &kind);
        let (filter, page) = finish(v, filter.zip(page))?;
        if let SourceItemFilter::Source(code) = &filter {
            scope.check(code)?;
        }
        let only = scope.codes();
        let items = self
            .repo
            .list_source_items(&filter, page.after.as_deref(), page.size, only.as_deref())
            .await?;
        let last = items.last().map(|item| page_key(&filter, item));
        let next_page_token = next_token(&pages, &kind, items.len(), page.size, last.as_deref());
        Ok(Response::new(pb::ListSourceItemsResponse {
            items: items.into_iter().map(source_item_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn adjust_source_items(
        &self,
        request: Request<pb::AdjustSourceItemsRequest>,
    ) -> Result<Response<pb::AdjustSourceItemsResponse>, Status> {
        stock_counts::adjust(&self.repo, request).await
    }

    async fn list_source_item_history(
        &self,
        request: Request<pb::ListSourceItemHistoryRequest>,
    ) -> Result<Response<pb::ListSourceItemHistoryResponse>, Status> {
        stock_counts::list_history(&self.repo, request).await
    }
}

fn page_key(filter: &SourceItemFilter, item: &SourceItem) -> String {
    match filter {
        SourceItemFilter::Sku(_) => item.source.to_string(),
        SourceItemFilter::Source(_) => item.sku.to_string(),
    }
}
