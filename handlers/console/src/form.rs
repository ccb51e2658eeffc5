//! A form's fields, as the browser posts them (`application/x-www-form-urlencoded`).

use nexuma_sdk::Request;

/// The fields of a posted form, in order; a name may repeat (checkboxes).
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The request's body read as a form (a body that is not one has no fields).
    pub fn of(req: &Request) -> Self {
        Form {
            fields: form_urlencoded::parse(&req.body).into_owned().collect(),
        }
    }

    /// A form of these fields (a stored record shown for an edit).
    pub fn from_fields(fields: Vec<(String, String)>) -> Self {
        Form { fields }
    }

    /// A form with no fields (a page shown before anything was typed).
    pub fn empty() -> Self {
        Form { fields: Vec::new() }
    }

    /// The first value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// The first value of `name`, trimmed, when it is not empty.
    pub fn filled(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every value of `name` (checked boxes).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Form {
        Form {
            fields: form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    #[test]
    fn fields_are_decoded_trimmed_and_repeated() {
        let f = form("name=Basic+plan&price=%20100%20&p=vless&p=trojan&empty=");
        assert_eq!(f.get("name"), Some("Basic plan"));
        assert_eq!(f.get("price"), Some("100"));
        assert_eq!(f.all("p").collect::<Vec<_>>(), ["vless", "trojan"]);
        assert_eq!(f.filled("empty"), None);
        assert_eq!(f.get("missing"), None);
    }
}
