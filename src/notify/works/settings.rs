//! The `[works]` settings: the NAVER WORKS bot and the hosts it is reached at. The NAVER WORKS
//! adapters' own type (the courier's client and the `/works/callback` front both read it); the
//! configuration embeds it and checks it.

use serde::Deserialize;

/// `[works]`: the NAVER WORKS (LINE WORKS) bot. Absent: `/works/callback` answers 404 and no
/// message goes to NAVER WORKS. The secrets are `WORKS_CLIENT_ID`, `WORKS_CLIENT_SECRET`,
/// `WORKS_SERVICE_ACCOUNT`, `WORKS_PRIVATE_KEY` and `WORKS_BOT_SECRET`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorksConfig {
    /// The bot's id (Developer Console → Bot), a number: in every API path, and what a
    /// callback's `X-WORKS-BotId` must say.
    pub bot_id: String,
    /// Base URL of the API 2.0 (public-sector tenants: `https://gov.worksapis.com/v1.0`; tests
    /// point it at a fake NAVER WORKS).
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    /// The token endpoint (some tenants use `https://auth.naverworks.com/oauth2/v2.0/token`,
    /// public-sector ones `https://auth.gov-naverworks.com/oauth2/v2.0/token`).
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// The OAuth scopes the token is asked for (`bot`, or `bot.message`).
    #[serde(default = "default_scope")]
    pub scope: String,
}

fn default_api_base_url() -> String {
    "https://www.worksapis.com/v1.0".into()
}
fn default_auth_url() -> String {
    "https://auth.worksmobile.com/oauth2/v2.0/token".into()
}
fn default_scope() -> String {
    "bot".into()
}

impl WorksConfig {
    /// The first problem with the settings, as the key and what is wrong with it.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let bot = self.bot_id.trim();
        if bot.is_empty() || bot.len() > 19 || !bot.bytes().all(|b| b.is_ascii_digit()) {
            return Some((
                "works.bot_id",
                format!(
                    "{:?} is not a bot id (the number Developer Console → Bot shows)",
                    crate::domain::truncate_for_display(&self.bot_id)
                ),
            ));
        }
        for (key, url) in [
            ("works.api_base_url", &self.api_base_url),
            ("works.auth_url", &self.auth_url),
        ] {
            let ok = reqwest::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.query().is_none()
            });
            if !ok {
                return Some((key, format!("{url:?} is not an http(s) URL")));
            }
        }
        if self.scope.trim().is_empty() {
            return Some(("works.scope", "is empty (use \"bot\")".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> WorksConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn only_the_bot_id_is_required_and_the_hosts_default_to_the_public_service() {
        let c = parse("bot_id = \"2000001\"");
        assert_eq!(c.api_base_url, "https://www.worksapis.com/v1.0");
        assert_eq!(c.auth_url, "https://auth.worksmobile.com/oauth2/v2.0/token");
        assert_eq!(c.scope, "bot");
        assert_eq!(c.problem(), None);
        let gov = parse(
            "bot_id = \"1\"\napi_base_url = \"https://gov.worksapis.com/v1.0\"\nauth_url = \"https://auth.gov-naverworks.com/oauth2/v2.0/token\"",
        );
        assert_eq!(gov.problem(), None);
    }

    #[test]
    fn a_bad_bot_id_host_or_scope_names_its_key() {
        for (text, key) in [
            ("bot_id = \"\"", "works.bot_id"),
            ("bot_id = \"bot-1\"", "works.bot_id"),
            (
                "bot_id = \"1\"\napi_base_url = \"ftp://x\"",
                "works.api_base_url",
            ),
            ("bot_id = \"1\"\nauth_url = \"no url\"", "works.auth_url"),
            ("bot_id = \"1\"\nscope = \" \"", "works.scope"),
        ] {
            assert_eq!(parse(text).problem().map(|p| p.0), Some(key), "{text}");
        }
        assert!(toml::from_str::<WorksConfig>("bot_id = \"1\"\nbot_secret = \"x\"").is_err());
    }
}
