//! AvailabilityService: the storefront's read path.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        availability::{line_check_to_pb, salable_to_pb},
        batch_size, finish, qty,
        reservations::{optional_cart_id, pb_lines, quantity_lines},
        scope, sku_list,
    },
    pb::{self, availability_service_server::AvailabilityService},
};
use crate::{auth::SourceScope, repo::Repo, validation::Violations};

/// gRPC face of salable quantity and quantity checks.
#[derive(Debug, Clone)]
pub(crate) struct AvailabilityApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl AvailabilityService for AvailabilityApi {
    async fn get_salable_quantities(
        &self,
        request: Request<pb::GetSalableQuantitiesRequest>,
    ) -> Result<Response<pb::GetSalableQuantitiesResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::new();
        let scope = scope(&mut v, "scope", req.scope.as_ref());
        batch_size(&mut v, "skus", req.skus.len())?;
        let skus = sku_list(&mut v, "skus", &req.skus);
        let scope = finish(v, scope)?;
        let (stock, salable) = self.repo.salable_quantities(&scope, &skus).await?;
        Ok(Response::new(pb::GetSalableQuantitiesResponse {
            stock_id: stock.get(),
            items: skus
                .iter()
                .zip(salable)
                .map(|(sku, s)| salable_to_pb(sku, s))
                .collect(),
        }))
    }

    async fn check_quantities(
        &self,
        request: Request<pb::CheckQuantitiesRequest>,
    ) -> Result<Response<pb::CheckQuantitiesResponse>, Status> {
        let sources = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let scope = scope(&mut v, "scope", req.scope.as_ref());
        let lines = quantity_lines(&mut v, "lines", pb_lines(&req.lines), false);
        let cart = optional_cart_id(&mut v, "cart_id", &req.cart_id);
        let (scope, (lines, cart)) = finish(v, scope.zip(lines.zip(cart)))?;
        let (stock, mut checks) = self
            .repo
            .check_quantities(&scope, &lines, cart.as_ref())
            .await?;
        // A scoped caller sees the plan lines of its own sources; the numbers stay whole.
        for check in &mut checks {
            sources.retain(&mut check.plan, |line| &line.source);
        }
        Ok(Response::new(pb::CheckQuantitiesResponse {
            stock_id: stock.get(),
            lines: lines
                .iter()
                .zip(checks)
                .map(|((sku, quantity), check)| line_check_to_pb(sku, qty(*quantity), check))
                .collect(),
        }))
    }
}
