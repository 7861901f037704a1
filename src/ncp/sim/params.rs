//! Request parameters as the NCP gateway sees them: query string and form body merged.

/// The decoded parameters of one call, in the order they arrived (query first, then body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a raw query string and, when given, an `application/x-www-form-urlencoded` body.
    ///
    /// Both use form decoding, so `+` is a space and `%XX` sequences are UTF-8 bytes; that is
    /// what the SDKs' encoders (Go `url.QueryEscape`, Java `URLEncoder`) produce.
    pub(crate) fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut pairs = Vec::new();
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if let Some(body) = form_body {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Self { pairs }
    }

    /// Every decoded pair, for the call log.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value of a scalar parameter; an empty value counts as absent, as in the SDKs,
    /// which leave unset optional parameters out instead of sending them empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The values of a list parameter `name.1`, `name.2`, ... sorted by index.
    ///
    /// Gaps are ignored (`name.1` and `name.3` give two values), because the real gateway's
    /// handling of gaps is undocumented and the SDKs never produce them. Keys like
    /// `name.1.field` (lists of objects) are not part of a plain list and are skipped.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        let mut indexed: Vec<(u64, &str)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(name)?.strip_prefix('.')?;
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some((index.parse().ok()?, v.as_str()))
            })
            .collect();
        // A stable sort keeps the arrival order of a repeated index.
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, v)| v.to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_sorted_by_index_and_gaps_are_ignored() {
        let p = Params::parse(
            Some("t.3=c&t.1=a&x=1&t.10=d&t=no&t.x=no&t.2.sub=no&tt.1=no"),
            Some(b"t.2=b"),
        );
        assert_eq!(p.list("t"), ["a", "b", "c", "d"]);
        assert!(p.list("missing").is_empty());
    }

    #[test]
    fn query_and_form_body_are_merged_and_form_decoded() {
        let p = Params::parse(
            Some("responseFormatType=json&a=with%20space"),
            Some("b=a%2Bb%40x.example&c=with+space&d=%EB%AA%A8%EB%91%90&e=".as_bytes()),
        );
        assert_eq!(p.get("responseFormatType"), Some("json"));
        assert_eq!(p.get("a"), Some("with space"));
        assert_eq!(p.get("b"), Some("a+b@x.example"));
        assert_eq!(p.get("c"), Some("with space"));
        assert_eq!(p.get("d"), Some("모두"));
        assert_eq!(p.get("e"), None, "an empty value counts as absent");
        assert_eq!(p.pairs().len(), 6);
    }
}
