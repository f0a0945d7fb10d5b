//! SettingsService: convert, call the repository, convert back.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        finish,
        settings::{
            global_to_pb, item_effective_to_pb, item_stored_to_pb, patch, product_effective_to_pb,
            product_stored_to_pb,
        },
        sku, source_code,
    },
    pb::{self, settings_service_server::SettingsService},
};
use crate::{
    auth::SourceScope,
    domain::{SettingLevel, Sku},
    repo::{
        Repo,
        settings::{ProductSettingsView, SourceItemSettingsView},
    },
    validation::Violations,
};

/// gRPC face of the three levels of settings.
#[derive(Debug, Clone)]
pub(crate) struct SettingsApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl SettingsService for SettingsApi {
    async fn get_global_settings(
        &self,
        _request: Request<pb::GetGlobalSettingsRequest>,
    ) -> Result<Response<pb::SettingValues>, Status> {
        let global = self.repo.global_settings().await?;
        Ok(Response::new(global_to_pb(&global)))
    }

    async fn update_global_settings(
        &self,
        request: Request<pb::UpdateGlobalSettingsRequest>,
    ) -> Result<Response<pb::SettingValues>, Status> {
        SourceScope::of(&request).require_all("changing global settings")?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let patch = patch(&mut v, req.set.as_ref(), &[], SettingLevel::Global);
        let patch = finish(v, Some(patch))?;
        let global = self.repo.update_global_settings(&patch).await?;
        Ok(Response::new(global_to_pb(&global)))
    }

    async fn get_product_settings(
        &self,
        request: Request<pb::GetProductSettingsRequest>,
    ) -> Result<Response<pb::ProductSettings>, Status> {
        let mut v = Violations::new();
        let sku = sku(&mut v, "sku", &request.get_ref().sku);
        let sku = finish(v, sku)?;
        let view = self.repo.product_settings(&sku).await?;
        Ok(Response::new(product_view(&sku, &view)))
    }

    async fn update_product_settings(
        &self,
        request: Request<pb::UpdateProductSettingsRequest>,
    ) -> Result<Response<pb::ProductSettings>, Status> {
        SourceScope::of(&request).require_all("changing product settings")?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let sku = sku(&mut v, "sku", &req.sku);
        let patch = patch(&mut v, req.set.as_ref(), &req.clear, SettingLevel::Product);
        let sku = finish(v, sku)?;
        let view = self.repo.update_product_settings(&sku, &patch).await?;
        Ok(Response::new(product_view(&sku, &view)))
    }

    async fn get_source_item_settings(
        &self,
        request: Request<pb::GetSourceItemSettingsRequest>,
    ) -> Result<Response<pb::SourceItemSettings>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let source = source_code(&mut v, "source_code", &req.source_code);
        let sku = sku(&mut v, "sku", &req.sku);
        let (source, sku) = finish(v, source.zip(sku))?;
        scope.check(&source)?;
        let view = self.repo.source_item_settings(&source, &sku).await?;
        Ok(Response::new(item_view(&req.source_code, &sku, &view)))
    }

    async fn update_source_item_settings(
        &self,
        request: Request<pb::UpdateSourceItemSettingsRequest>,
    ) -> Result<Response<pb::SourceItemSettings>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let source = source_code(&mut v, "source_code", &req.source_code);
        let sku = sku(&mut v, "sku", &req.sku);
        let patch = patch(
            &mut v,
            req.set.as_ref(),
            &req.clear,
            SettingLevel::SourceItem,
        );
        let (source, sku) = finish(v, source.zip(sku))?;
        scope.check(&source)?;
        let view = self
            .repo
            .update_source_item_settings(&source, &sku, &patch)
            .await?;
        Ok(Response::new(item_view(&req.source_code, &sku, &view)))
    }
}

fn product_view(sku: &Sku, view: &ProductSettingsView) -> pb::ProductSettings {
    pb::ProductSettings {
        sku: sku.to_string(),
        stored: Some(product_stored_to_pb(&view.stored)),
        effective: Some(product_effective_to_pb(&view.effective)),
    }
}

fn item_view(source: &str, sku: &Sku, view: &SourceItemSettingsView) -> pb::SourceItemSettings {
    pb::SourceItemSettings {
        source_code: source.to_owned(),
        sku: sku.to_string(),
        stored: Some(item_stored_to_pb(&view.stored)),
        effective: Some(item_effective_to_pb(&view.effective)),
    }
}
