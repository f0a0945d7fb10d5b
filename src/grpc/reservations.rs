//! ReservationService: checkout's write path (holds, orders, cancellations) and its reads.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        finish,
        reservations::{
            cancel_line_to_pb, cancellation_id, cart_id, holder_to_pb, optional_cart_id, order_id,
            order_to_pb, pb_lines, quantity_lines, reservation_to_pb, reserved_line_to_pb,
            timestamp,
        },
        sales_channel, scope, sku,
    },
    paging::{PageKey, next_token, page_request},
    pb::{self, reservation_service_server::ReservationService},
};
use crate::{
    repo::{
        Repo,
        holds::HoldRequest,
        orders::{CancelRequest, OrderRequest},
    },
    validation::Violations,
};

/// gRPC face of cart holds, orders and cancellations.
#[derive(Debug, Clone)]
pub(crate) struct ReservationApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl ReservationService for ReservationApi {
    async fn set_cart_holds(
        &self,
        request: Request<pb::SetCartHoldsRequest>,
    ) -> Result<Response<pb::SetCartHoldsResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let cart = cart_id(&mut v, "cart_id", &req.cart_id);
        let scope = scope(&mut v, "scope", req.scope.as_ref());
        let lines = quantity_lines(&mut v, "lines", pb_lines(&req.lines), true);
        let ttl = v.check(
            "ttl_seconds",
            self.repo.hold_policy().ttl_secs(Some(req.ttl_seconds)),
        );
        let (((cart, scope), lines), ttl_secs) = finish(v, cart.zip(scope).zip(lines).zip(ttl))?;
        let stock = self.repo.resolve_stock(&scope).await?;
        let held = self
            .repo
            .set_cart_holds(&HoldRequest {
                cart,
                stock,
                lines,
                ttl_secs,
            })
            .await?;
        Ok(Response::new(pb::SetCartHoldsResponse {
            stock_id: stock.get(),
            expires_at: held.expires_at.map(timestamp),
            lines: held.lines.iter().map(reserved_line_to_pb).collect(),
        }))
    }

    async fn extend_cart_holds(
        &self,
        request: Request<pb::ExtendCartHoldsRequest>,
    ) -> Result<Response<pb::ExtendCartHoldsResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let cart = cart_id(&mut v, "cart_id", &req.cart_id);
        let ttl = v.check(
            "ttl_seconds",
            self.repo.hold_policy().ttl_secs(Some(req.ttl_seconds)),
        );
        let (cart, ttl_secs) = finish(v, cart.zip(ttl))?;
        let (expires_at, holds) = self.repo.extend_cart_holds(&cart, ttl_secs).await?;
        Ok(Response::new(pb::ExtendCartHoldsResponse {
            expires_at: Some(timestamp(expires_at)),
            holds: u32::try_from(holds).unwrap_or(u32::MAX),
        }))
    }

    async fn release_cart_holds(
        &self,
        request: Request<pb::ReleaseCartHoldsRequest>,
    ) -> Result<Response<pb::ReleaseCartHoldsResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let cart = cart_id(&mut v, "cart_id", &req.cart_id);
        let cart = finish(v, cart)?;
        let released = self.repo.release_cart_holds(&cart).await?;
        Ok(Response::new(pb::ReleaseCartHoldsResponse {
            released: u32::try_from(released).unwrap_or(u32::MAX),
        }))
    }

    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let time_left = super::deadline::time_left(request.metadata());
        let req = request.into_inner();
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let channel = match &req.sales_channel {
            Some(channel) => sales_channel(&mut v, "sales_channel", channel),
            None => {
                v.add("sales_channel", "is required");
                None
            }
        };
        let lines = quantity_lines(&mut v, "lines", pb_lines(&req.lines), false);
        let cart = optional_cart_id(&mut v, "cart_id", &req.cart_id);
        let (((order_id, channel), lines), cart) =
            finish(v, order.zip(channel).zip(lines).zip(cart))?;
        let placed = self
            .repo
            .place_order_within(
                &OrderRequest {
                    order_id,
                    channel,
                    cart,
                    lines,
                },
                time_left,
            )
            .await?;
        Ok(Response::new(pb::PlaceOrderResponse {
            order_id: placed.order_id.to_string(),
            stock_id: placed.stock.get(),
            lines: placed.lines.iter().map(reserved_line_to_pb).collect(),
            replayed: placed.replayed,
        }))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let cancellation = cancellation_id(&mut v, "cancellation_id", &req.cancellation_id);
        let raw = req
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity.as_str()));
        let lines = quantity_lines(&mut v, "lines", raw, true);
        let ((order_id, cancellation_id), lines) = finish(v, order.zip(cancellation).zip(lines))?;
        let done = self
            .repo
            .cancel_order(&CancelRequest {
                order_id,
                cancellation_id,
                lines,
            })
            .await?;
        Ok(Response::new(pb::CancelOrderResponse {
            canceled: done
                .canceled
                .iter()
                .map(|(sku, qty)| cancel_line_to_pb(sku, *qty))
                .collect(),
            replayed: done.replayed,
            order: Some(order_to_pb(&done.order)),
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let order = finish(v, order)?;
        Ok(Response::new(order_to_pb(&self.repo.order(&order).await?)))
    }

    async fn list_order_reservations(
        &self,
        request: Request<pb::ListOrderReservationsRequest>,
    ) -> Result<Response<pb::ListOrderReservationsResponse>, Status> {
        let req = request.into_inner();
        let kind = format!("reservations/{}", req.order_id);
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let order = order_id(&mut v, "order_id", &req.order_id);
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, &kind);
        let after = match page.as_ref().and_then(|p| p.after.as_deref()) {
            Some(key) => key.parse::<i64>().ok().or_else(|| {
                v.add("page_token", "is not a token this listing issued");
                None
            }),
            None => None,
        };
        let (order, page) = finish(v, order.zip(page))?;
        let rows = self
            .repo
            .order_reservations(&order, after, page.size)
            .await?;
        let last = rows.last().map(|r| r.id.to_string());
        Ok(Response::new(pb::ListOrderReservationsResponse {
            next_page_token: next_token(&pages, &kind, rows.len(), page.size, last.as_deref()),
            reservations: rows.iter().map(reservation_to_pb).collect(),
        }))
    }

    async fn list_sku_holders(
        &self,
        request: Request<pb::ListSkuHoldersRequest>,
    ) -> Result<Response<pb::ListSkuHoldersResponse>, Status> {
        let req = request.into_inner();
        let kind = format!("holders/{}", req.sku);
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let scope = scope(&mut v, "scope", req.scope.as_ref());
        let sku = sku(&mut v, "sku", &req.sku);
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, &kind);
        let after = match page.as_ref().and_then(|p| p.after.as_deref()) {
            Some(key) => holder_key(key).or_else(|| {
                v.add("page_token", "is not a token this listing issued");
                None
            }),
            None => None,
        };
        let ((scope, sku), page) = finish(v, scope.zip(sku).zip(page))?;
        let stock = self.repo.resolve_stock(&scope).await?;
        let holders = self.repo.sku_holders(stock, &sku, after, page.size).await?;
        let last = holders
            .last()
            .map(|h| format!("{}:{}", u8::from(h.is_order), h.id));
        Ok(Response::new(pb::ListSkuHoldersResponse {
            stock_id: stock.get(),
            next_page_token: next_token(&pages, &kind, holders.len(), page.size, last.as_deref()),
            holders: holders.iter().map(holder_to_pb).collect(),
        }))
    }
}

/// Reads the "kind:id" key of a holders page token.
fn holder_key(key: &str) -> Option<(bool, String)> {
    let (kind, id) = key.split_once(':')?;
    match kind {
        "0" => Some((false, id.to_owned())),
        "1" => Some((true, id.to_owned())),
        _ => None,
    }
}
