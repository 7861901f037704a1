//! The `[jira]` settings: the site, the project and the field mapping. The Jira front door's own
//! type; the configuration embeds it and checks it.

use serde::Deserialize;

/// `[jira]`: the Jira Cloud site, the project whose issues are requests, and the field mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `https://your-org.atlassian.net` (tests point it at a fake Jira).
    pub base_url: String,
    /// The account the API token belongs to (`JIRA_API_TOKEN` is its token).
    pub email: String,
    /// The project key whose issues are requests, like `SHARE`.
    pub project: String,
    /// Only issues of this type are requests (any type when absent).
    #[serde(default)]
    pub issue_type: Option<String>,
    /// The status whose transition counts as an approval by the person who moved the issue.
    #[serde(default = "default_approved_status")]
    pub approved_status: String,
    /// Transition (name) to take after a successful share, if any.
    #[serde(default)]
    pub done_transition: Option<String>,
    /// Transition (name) to take after a failed, denied or expired request, if any.
    #[serde(default)]
    pub failed_transition: Option<String>,
    /// Which (custom) fields hold the request.
    pub fields: JiraFields,
    /// First retry delay of REST calls in milliseconds (doubles, with full jitter).
    #[serde(default = "default_jira_backoff_ms")]
    pub backoff_base_ms: u64,
}

fn default_approved_status() -> String {
    "Approved".into()
}
fn default_jira_backoff_ms() -> u64 {
    500
}

/// `[jira.fields]`: field ids (like `customfield_10050`) of the request's parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraFields {
    /// The image number.
    pub image: String,
    /// The target login IDs (text separated by commas, spaces or lines, or a labels field).
    pub targets: String,
    /// The duration, like `7d` (optional field).
    #[serde(default)]
    pub duration: Option<String>,
    /// The reason (optional; the issue's `summary` works too).
    #[serde(default)]
    pub reason: Option<String>,
}
