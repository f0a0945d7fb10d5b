//! SourceService: convert, call the repository, convert back.

use tonic::{Request, Response, Status};

use super::{
    convert::{
        catalogue::{source_details, source_to_pb},
        finish, source_code, too_long,
    },
    paging::{PageKey, next_token, page_request},
    pb::{self, source_service_server::SourceService},
};
use crate::{
    auth::SourceScope,
    domain::source::{Source, SourceField},
    repo::Repo,
    validation::Violations,
};

/// gRPC face of the sources in the repository.
#[derive(Debug, Clone)]
pub(crate) struct SourceApi {
    pub(crate) repo: Repo,
}

#[tonic::async_trait]
impl SourceService for SourceApi {
    async fn create_source(
        &self,
        request: Request<pb::CreateSourceRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        SourceScope::of(&request).require_all("creating a source")?;
        let source = parse_new_source(request.into_inner())?;
        let created = self.repo.create_source(&source).await?;
        Ok(Response::new(source_to_pb(created)))
    }

    async fn get_source(
        &self,
        request: Request<pb::GetSourceRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        let mut v = Violations::new();
        let code = source_code(&mut v, "code", &request.get_ref().code);
        let code = finish(v, code)?;
        SourceScope::of(&request).check(&code)?;
        let source = self.repo.get_source(&code).await?;
        Ok(Response::new(source_to_pb(source)))
    }

    async fn list_sources(
        &self,
        request: Request<pb::ListSourcesRequest>,
    ) -> Result<Response<pb::ListSourcesResponse>, Status> {
        let only = SourceScope::of(&request).codes();
        let req = request.into_inner();
        let pages = PageKey::of(&self.repo).await?;
        let mut v = Violations::new();
        let page = page_request(&mut v, &pages, req.page_size, &req.page_token, "sources");
        let page = finish(v, page)?;
        let sources = self
            .repo
            .list_sources(page.after.as_deref(), page.size, only.as_deref())
            .await?;
        let last = sources.last().map(|s| s.code.to_string());
        let next_page_token =
            next_token(&pages, "sources", sources.len(), page.size, last.as_deref());
        Ok(Response::new(pb::ListSourcesResponse {
            sources: sources.into_iter().map(source_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn update_source(
        &self,
        request: Request<pb::UpdateSourceRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let source = req.source.unwrap_or_default();
        let code = source_code(&mut v, "source.code", &source.code);
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let fields = mask_fields(&mut v, &paths);
        let details = source_details(
            &mut v,
            "source",
            &source,
            fields.contains(&SourceField::Name),
        );
        let code = finish(v, code)?;
        scope.check(&code)?;
        let updated = self.repo.update_source(&code, &details, &fields).await?;
        Ok(Response::new(source_to_pb(updated)))
    }

    async fn set_source_enabled(
        &self,
        request: Request<pb::SetSourceEnabledRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        let scope = SourceScope::of(&request);
        let req = request.into_inner();
        let mut v = Violations::new();
        let code = source_code(&mut v, "code", &req.code);
        let code = finish(v, code)?;
        scope.check(&code)?;
        let source = self.repo.set_source_enabled(&code, req.enabled).await?;
        Ok(Response::new(source_to_pb(source)))
    }
}

fn parse_new_source(req: pb::CreateSourceRequest) -> Result<Source, Status> {
    let mut v = Violations::new();
    let source = req.source.unwrap_or_default();
    let code = source_code(&mut v, "source.code", &source.code);
    let details = source_details(&mut v, "source", &source, true);
    let code = finish(v, code)?;
    Ok(Source {
        code,
        details,
        enabled: source.enabled.unwrap_or(true),
    })
}

/// The fields an update mask names; an empty mask means every field.
fn mask_fields(v: &mut Violations, paths: &[String]) -> Vec<SourceField> {
    if paths.is_empty() {
        return SourceField::ALL.to_vec();
    }
    if too_long(v, "update_mask.paths", paths.len()) {
        return Vec::new();
    }
    paths
        .iter()
        .enumerate()
        .filter_map(|(i, path)| {
            let field = SourceField::parse(path);
            if field.is_none() {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{path} cannot be updated"),
                );
            }
            field
        })
        .collect()
}
