//! What unmatched requests get: 405 with `Allow` when the path exists for other
//! methods, 404 otherwise. The route table comes from the OpenAPI document, which
//! lists every route (see [`crate::routes`]).

use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

use crate::app::AppError;

/// Path templates of the API with their methods.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    /// The routes of an OpenAPI document.
    pub fn from_document(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods = Vec::new();
                let operations = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                for (method, present) in operations {
                    if present {
                        methods.push(method.to_owned());
                    }
                }
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// Methods allowed on `path`, if it is an API route.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .map(|(_, methods)| methods.join(", "))
    }
}

/// The default service.
pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, AppError> {
    match routes.allowed(req.path()) {
        Some(methods) => Err(AppError::MethodNotAllowed(methods)),
        None => Err(AppError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        let table = RouteTable::from_document(&crate::openapi::document());
        assert_eq!(
            table.allowed("/api/v1/datasets/x.y/rows").as_deref(),
            Some("GET")
        );
        assert_eq!(table.allowed("/api/v1/datasets").as_deref(), Some("GET"));
        assert_eq!(table.allowed("/api/v1/datasets//rows"), None);
        assert_eq!(table.allowed("/api/v1/datasets/x/rows/more"), None);
        assert_eq!(table.allowed("/nope"), None);
    }
}
