//! FulfilmentService: shipments, returns, source selection, low stock and the consistency check.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{
    convert::{
        finish,
        fulfilment::{
            algorithm, destination, difference_to_pb, low_stock_to_pb, source_lines,
            suggestion_to_pb, summary_to_pb,
        },
        reservations::{order_id, order_to_pb, pb_lines, quantity_lines},
        scope, source_code,
    },
    paging::{PageKey, next_token, page_request},
    pb::{self, fulfilment_service_server::FulfilmentService},
};
use crate::{
    auth::SourceScope,
    domain::{ReturnId, ShipmentId},
    repo::{
        Repo,
        fulfilment::{Fulfilled, ReturnLine, ReturnRequest, ShipmentRequest},
    },
    validation::Violations,
};

/// gRPC face of fulfilment.
#[derive(Debug, Clone)]
pub(crate) struct FulfilmentApi {
    pub(crate) repo: Repo,
}

/// The consistency report stream.
type ReportStream = Pin<Box<dyn Stream<Item = Result<pb::ConsistencyReport, Status>> + Send>>;

fn fulfilled_to_pb(done: &Fulfilled) -> pb::FulfilmentResponse {
    pb::FulfilmentResponse {
        replayed: done.replayed,
        order: Some(order_to_pb(&done.order)),
    }
}

#[tonic::async_trait]
impl FulfilmentService for FulfilmentApi {
    async fn confirm_shipment(
        &self,
        request: Request<pb::ConfirmShipmentRequest>,
    ) -> Result<Response<pb::FulfilmentResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let shipment = v.check("shipment_id", ShipmentId::parse(&req.shipment_id));
        let raw = req
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.source_code.as_str(), l.quantity.as_str()));
        let lines = source_lines(&mut v, "lines", raw);
        let ((order_id, shipment_id), lines) = finish(v, order.zip(shipment).zip(lines))?;
        scope.check_lines("lines", lines.iter().map(|l| &l.source))?;
        let done = self
            .repo
            .confirm_shipment(&ShipmentRequest {
                order_id,
                shipment_id,
                lines,
            })
            .await?;
        Ok(Response::new(fulfilled_to_pb(&done)))
    }

    async fn return_items(
        &self,
        request: Request<pb::ReturnItemsRequest>,
    ) -> Result<Response<pb::FulfilmentResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let return_id = v.check("return_id", ReturnId::parse(&req.return_id));
        let raw = req
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.source_code.as_str(), l.quantity.as_str()));
        let lines = source_lines(&mut v, "lines", raw).map(|lines| {
            lines
                .into_iter()
                .zip(&req.lines)
                .map(|(line, raw)| ReturnLine {
                    line,
                    back_to_stock: raw.back_to_stock,
                })
                .collect()
        });
        let ((order_id, return_id), lines): (_, Vec<ReturnLine>) =
            finish(v, order.zip(return_id).zip(lines))?;
        scope.check_lines("lines", lines.iter().map(|l| &l.line.source))?;
        let done = self
            .repo
            .return_items(&ReturnRequest {
                order_id,
                return_id,
                lines,
            })
            .await?;
        Ok(Response::new(fulfilled_to_pb(&done)))
    }

    async fn suggest_sources(
        &self,
        request: Request<pb::SuggestSourcesRequest>,
    ) -> Result<Response<pb::SuggestSourcesResponse>, Status> {
        let only = SourceScope::of(&request).codes();
        let only = only.as_deref();
        let req = request.into_inner();
        let mut v = Violations::new();
        let algorithm = algorithm(&mut v, req.algorithm);
        let destination = destination(&mut v, algorithm, req.destination.as_ref());
        let (stock, lines) = match &req.subject {
            Some(pb::suggest_sources_request::Subject::OrderId(id)) => {
                let order = order_id(&mut v, "order_id", id);
                let ((algorithm, destination), order) =
                    finish(v, algorithm.zip(destination).zip(order))?;
                let (stock, lines) = self.repo.open_lines(&order).await?;
                return self
                    .answer(stock, &lines, algorithm, destination, only)
                    .await;
            }
            Some(pb::suggest_sources_request::Subject::Lines(to_ship)) => (
                scope(&mut v, "lines.scope", to_ship.scope.as_ref()),
                quantity_lines(&mut v, "lines.lines", pb_lines(&to_ship.lines), false),
            ),
            None => {
                v.add("subject", "must name an order_id or lines");
                (None, None)
            }
        };
        let (((algorithm, destination), scope), lines) =
            finish(v, algorithm.zip(destination).zip(stock).zip(lines))?;
        let stock = self.repo.resolve_stock(&scope).await?;
        let lines: Vec<_> = lines.into_iter().map(|(s, q)| (s, q.get())).collect();
        self.answer(stock, &lines, algorithm, destination, only)
            .await
    }

    async fn list_low_stock(
        &self,
        request: Request<pb::ListLowStockRequest>,
    ) -> Result<Response<pb::ListLowStockResponse>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let kind = format!("low-stock/{}", req.source_code);
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let source = if req.source_code.is_empty() {
            Some(None)
        } else {
            source_code(&mut v, "source_code", &req.source_code).map(Some)
        };
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, &kind);
        let after = match page.as_ref().and_then(|p| p.after.as_deref()) {
            Some(key) => match key.split_once('/') {
                Some((src, sku)) => Some((src.to_owned(), sku.to_owned())),
                None => {
                    v.add("page_token", "is not a token this listing issued");
                    None
                }
            },
            None => None,
        };
        let (source, page) = finish(v, source.zip(page))?;
        if let Some(code) = &source {
            scope.check(code)?;
            self.repo.get_source(code).await?;
        }
        let only = scope.codes();
        let items = self
            .repo
            .low_stock(source.as_ref(), after, page.size, only.as_deref())
            .await?;
        let last = items.last().map(|i| format!("{}/{}", i.source_code, i.sku));
        Ok(Response::new(pb::ListLowStockResponse {
            next_page_token: next_token(&pages, &kind, items.len(), page.size, last.as_deref()),
            items: items.iter().map(low_stock_to_pb).collect(),
        }))
    }

    type CheckConsistencyStream = ReportStream;

    async fn check_consistency(
        &self,
        request: Request<pb::CheckConsistencyRequest>,
    ) -> Result<Response<Self::CheckConsistencyStream>, Status> {
        SourceScope::of(&request).require_all("the consistency check")?;
        let repair = request.into_inner().repair;
        let (out_tx, out_rx) = mpsc::channel(64);
        let repo = self.repo.clone();
        tokio::spawn(async move {
            let (found_tx, mut found_rx) = mpsc::channel(64);
            let forward = async {
                while let Some(difference) = found_rx.recv().await {
                    if out_tx.send(Ok(difference_to_pb(difference))).await.is_err() {
                        break;
                    }
                }
            };
            let (result, ()) = tokio::join!(repo.check_consistency(repair, found_tx), forward);
            let last = result.map(summary_to_pb).map_err(Status::from);
            let _ = out_tx.send(last).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

impl FulfilmentApi {
    /// The suggestion over the caller's sources only, when it is limited to some (DOMAIN §7).
    async fn answer(
        &self,
        stock: crate::domain::StockId,
        lines: &[(crate::domain::Sku, rust_decimal::Decimal)],
        algorithm: crate::domain::source_selection::Algorithm,
        destination: Option<crate::domain::source::GeoPoint>,
        only: Option<&[String]>,
    ) -> Result<Response<pb::SuggestSourcesResponse>, Status> {
        let suggestion = self
            .repo
            .suggest_sources(stock, lines, algorithm, destination, only)
            .await?;
        Ok(Response::new(suggestion_to_pb(stock.get(), &suggestion)))
    }
}
