//! StockService: convert, call the repository, convert back.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        batch_size,
        catalogue::{links, stock_to_pb},
        finish, no_duplicates, sales_channel, source_code, stock_id,
    },
    paging::{PageKey, next_token, page_request},
    pb::{self, stock_service_server::StockService},
};
use crate::auth::SourceScope;
use crate::{domain::source::check_text, repo::Repo, validation::Violations};

/// gRPC face of the stocks in the repository.
#[derive(Debug, Clone)]
pub(crate) struct StockApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl StockService for StockApi {
    async fn create_stock(
        &self,
        request: Request<pb::CreateStockRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        SourceScope::of(&request).require_all("creating a stock")?;
        let name = request.into_inner().name;
        let mut v = Violations::new();
        let checked = v.check("name", check_text(&name, true));
        finish(v, checked)?;
        let stock = self.repo.create_stock(&name).await?;
        Ok(Response::new(stock_to_pb(stock)))
    }

    async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        let scope = SourceScope::of(&request);
        let mut v = Violations::new();
        let id = stock_id(&mut v, "stock_id", request.get_ref().stock_id);
        let id = finish(v, id)?;
        let mut stock = self.repo.get_stock(id).await?;
        scope.retain(&mut stock.links, |link| &link.source);
        Ok(Response::new(stock_to_pb(stock)))
    }

    async fn list_stocks(
        &self,
        request: Request<pb::ListStocksRequest>,
    ) -> Result<Response<pb::ListStocksResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, "stocks");
        let after = match page.as_ref().and_then(|p| p.after.as_deref()) {
            Some(token) => v
                .check(
                    "page_token",
                    token
                        .parse::<i32>()
                        .map_err(|_| "is not a token this listing issued"),
                )
                .map(Some),
            None => Some(None),
        };
        let (page, after) = finish(v, page.zip(after))?;
        let mut stocks = self.repo.list_stocks(after, page.size).await?;
        // A scoped admin sees the links of its own sources only (DOMAIN §7).
        for stock in &mut stocks {
            scope.retain(&mut stock.links, |link| &link.source);
        }
        let last = stocks.last().map(|s| s.id.get().to_string());
        let next_page_token =
            next_token(&pages, "stocks", stocks.len(), page.size, last.as_deref());
        Ok(Response::new(pb::ListStocksResponse {
            stocks: stocks.into_iter().map(stock_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn link_sources(
        &self,
        request: Request<pb::LinkSourcesRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        SourceScope::of(&request).require_all("linking sources")?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = stock_id(&mut v, "stock_id", req.stock_id);
        batch_size(&mut v, "links", req.links.len())?;
        no_duplicates(&mut v, req.links.iter().map(|l| &l.source_code), |i| {
            format!("links[{i}].source_code")
        });
        let links = links(&mut v, &req.links);
        let id = finish(v, id)?;
        Ok(Response::new(stock_to_pb(
            self.repo.link_sources(id, &links).await?,
        )))
    }

    async fn unlink_sources(
        &self,
        request: Request<pb::UnlinkSourcesRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        SourceScope::of(&request).require_all("unlinking sources")?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = stock_id(&mut v, "stock_id", req.stock_id);
        batch_size(&mut v, "source_codes", req.source_codes.len())?;
        no_duplicates(&mut v, &req.source_codes, |i| format!("source_codes[{i}]"));
        for (i, code) in req.source_codes.iter().enumerate() {
            source_code(&mut v, &format!("source_codes[{i}]"), code);
        }
        let id = finish(v, id)?;
        let codes: Vec<&str> = req.source_codes.iter().map(String::as_str).collect();
        Ok(Response::new(stock_to_pb(
            self.repo.unlink_sources(id, &codes).await?,
        )))
    }

    async fn assign_sales_channels(
        &self,
        request: Request<pb::AssignSalesChannelsRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        SourceScope::of(&request).require_all("assigning sales channels")?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = stock_id(&mut v, "stock_id", req.stock_id);
        batch_size(&mut v, "sales_channels", req.sales_channels.len())?;
        no_duplicates(
            &mut v,
            req.sales_channels.iter().map(|c| (&c.r#type, &c.code)),
            |i| format!("sales_channels[{i}]"),
        );
        let channels: Vec<_> = req
            .sales_channels
            .iter()
            .enumerate()
            .filter_map(|(i, c)| sales_channel(&mut v, &format!("sales_channels[{i}]"), c))
            .collect();
        let id = finish(v, id)?;
        Ok(Response::new(stock_to_pb(
            self.repo.assign_sales_channels(id, &channels).await?,
        )))
    }
}
