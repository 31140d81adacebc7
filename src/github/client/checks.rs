//! The check run riskgate creates on a head commit and updates with the score.

use serde::Deserialize;
use serde_json::{json, Value};

use super::transport::Verb;
use super::types::{Annotation, CheckRunId, CheckRunUpdate};
use super::{GitHubApi, GitHubError, RepoId, ANNOTATIONS_PER_REQUEST};

impl GitHubApi {
    /// `POST /repos/{o}/{r}/check-runs` with status `in_progress`.
    pub async fn create_check_run(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<CheckRunId, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let body = json!({
            "name": name,
            "head_sha": head_sha,
            "status": "in_progress",
            "external_id": external_id,
        });
        let path = format!("{}/check-runs", repo.path());
        let created: Created = self
            .call_json(
                "check_runs.create",
                installation_id,
                Verb::Post,
                &path,
                Some(&body),
            )
            .await?;
        Ok(CheckRunId(created.id))
    }

    /// The check run this App made on `head_sha` under `name` with `external_id` that is still
    /// in progress, if there is one: `GET /repos/{o}/{r}/commits/{sha}/check-runs`, filtered
    /// by name, App and status. A job resumed after creating its check run, but before saving
    /// the run's id, takes that run up again instead of leaving it in progress for good.
    pub async fn find_open_check_run(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<CheckRunId>, GitHubError> {
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            external_id: Option<String>,
            status: Option<String>,
            app: Option<App>,
        }
        #[derive(Deserialize)]
        struct App {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Listing {
            check_runs: Vec<Listed>,
        }
        let app_id = self.tokens().app_id();
        let path = format!(
            "{}/commits/{}/check-runs?check_name={}&app_id={app_id}&status=in_progress&filter=all",
            repo.path(),
            super::seg(head_sha),
            super::seg(name),
        );
        let runs = self
            .all_pages("check_runs.list", installation_id, &path, |page| {
                serde_json::from_value::<Listing>(page).map(|l| l.check_runs)
            })
            .await?;
        // GitHub filters already; the App and status are checked again so that a run of
        // another App, or one completed meanwhile, is never taken up.
        Ok(runs
            .into_iter()
            .filter(|r| {
                r.external_id.as_deref() == Some(external_id)
                    && r.status.as_deref() == Some("in_progress")
                    && r.app.as_ref().is_some_and(|a| a.id == app_id)
            })
            .map(|r| CheckRunId(r.id))
            .max_by_key(|id| id.0))
    }

    /// `PATCH /repos/{o}/{r}/check-runs/{id}`: status, conclusion, output and the first 50
    /// annotations in one request; the remaining annotations in further requests of at most 50
    /// with the same output title and summary (GitHub appends them).
    pub async fn update_check_run(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        id: CheckRunId,
        update: &CheckRunUpdate,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/check-runs/{}", repo.path(), id.0);
        let route = "check_runs.update";
        let mut chunks = update.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let mut first = serde_json::Map::new();
        if let Some(status) = &update.status {
            first.insert("status".into(), json!(status));
        }
        if let Some(conclusion) = &update.conclusion {
            first.insert("conclusion".into(), json!(conclusion));
        }
        if !update.actions.is_empty() {
            first.insert("actions".into(), json!(update.actions));
        }
        let output = |annotations: &[Annotation], with_text: bool| -> Option<Value> {
            let title = update.title.as_ref()?;
            let mut o = json!({
                "title": title,
                "summary": update.summary.clone().unwrap_or_default(),
            });
            if with_text {
                if let Some(text) = &update.text {
                    o["text"] = json!(text);
                }
            }
            if !annotations.is_empty() {
                o["annotations"] = json!(annotations);
            }
            Some(o)
        };
        if let Some(o) = output(chunks.next().unwrap_or(&[]), true) {
            first.insert("output".into(), o);
        }
        self.call(
            route,
            installation_id,
            Verb::Patch,
            &path,
            Some(&Value::Object(first)),
        )
        .await?;
        for chunk in chunks {
            let Some(o) = output(chunk, false) else { break };
            self.call(
                route,
                installation_id,
                Verb::Patch,
                &path,
                Some(&json!({ "output": o })),
            )
            .await?;
        }
        Ok(())
    }
}
