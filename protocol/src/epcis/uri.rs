//! URIs and JSON-LD prefixes: what EPCIS accepts where it asks for a URI, and how a compact
//! name (`example:myField`) expands to its namespace.

use std::collections::BTreeMap;

use serde_json::Value;

/// The EPCIS 2.0 JSON-LD context every document names.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// Prefixes the standard context defines.
const STANDARD_PREFIXES: [(&str, &str); 8] = [
    ("epcis", "https://ref.gs1.org/epcis/"),
    ("cbv", "https://ref.gs1.org/cbv/"),
    ("cbvmda", "urn:epcglobal:cbv:mda:"),
    ("gs1", "https://gs1.org/voc/"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("owl", "http://www.w3.org/2002/07/owl#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dcterms", "http://purl.org/dc/terms/"),
];

/// An absolute URI as RFC 3986 writes one: a scheme, a colon, and no space or character a
/// URI may not hold. (EPCIS names things with URNs, web addresses and CURIEs alike.)
pub fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && !text
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"<>\\^`{|}".contains(c))
}

/// The context's term definitions a document (and an event) add to the standard context:
/// prefix → namespace, and any other term as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub terms: BTreeMap<String, Value>,
}

impl Context {
    /// Adds the definitions of a `@context` value: a URI (the standard context, or another
    /// one, which defines nothing we can read), an object, or an array of both.
    pub fn extend(&mut self, context: &Value) -> Result<(), String> {
        match context {
            Value::String(uri) if is_uri(uri) => Ok(()),
            Value::Object(terms) => {
                for (term, definition) in terms {
                    self.terms.insert(term.clone(), definition.clone());
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|item| match item {
                Value::Array(_) => Err("a @context array holds URIs and objects only".into()),
                item => self.extend(item),
            }),
            _ => Err("@context must be a URI, an object, or an array of them".into()),
        }
    }

    /// The namespace a prefix stands for, from this context or the standard one.
    pub fn namespace(&self, prefix: &str) -> Option<&str> {
        match self.terms.get(prefix) {
            Some(Value::String(namespace)) => Some(namespace),
            Some(Value::Object(definition)) => definition.get("@id").and_then(Value::as_str),
            _ => STANDARD_PREFIXES
                .iter()
                .find(|(known, _)| *known == prefix)
                .map(|(_, namespace)| *namespace),
        }
    }

    /// Whether `key` may name a user extension: a compact name whose prefix is defined, or an
    /// absolute web or URN name.
    pub fn is_extension_name(&self, key: &str) -> bool {
        match key.split_once(':') {
            Some((prefix, local)) if !local.starts_with("//") && !local.is_empty() => {
                self.namespace(prefix).is_some() || matches!(prefix, "urn")
            }
            Some((scheme, _)) => matches!(scheme, "http" | "https") && is_uri(key),
            None => false,
        }
    }

    /// `{namespace}local` for a compact name, as the CBV event hash writes extension names;
    /// an absolute name is split at its last `/` or `#`. A name in a URN namespace (the CBV's
    /// master data, `cbvmda:`) stays compact, as GS1's reference implementation writes it.
    pub fn expanded_name(&self, key: &str) -> String {
        if let Some((prefix, local)) = key.split_once(':')
            && !local.starts_with("//")
            && let Some(namespace) = self.namespace(prefix)
        {
            if namespace.starts_with("urn:") {
                return key.to_string();
            }
            return format!("{{{namespace}}}{local}");
        }
        match key.rfind(['/', '#']) {
            Some(at) => format!("{{{}}}{}", &key[..=at], &key[at + 1..]),
            None => key.to_string(),
        }
    }

    /// A compact value (`example:x`) expanded to its full URI when its prefix is defined.
    pub fn expanded_value(&self, value: &str) -> String {
        if let Some((prefix, local)) = value.split_once(':')
            && !local.starts_with("//")
            && let Some(namespace) = self.namespace(prefix)
        {
            return format!("{namespace}{local}");
        }
        value.to_string()
    }

    /// The definitions of this context that `used` names (each a prefix or a whole term): what
    /// an event must carry to mean the same on its own.
    pub fn restricted_to(&self, used: &std::collections::BTreeSet<String>) -> Context {
        Context {
            terms: self
                .terms
                .iter()
                .filter(|(term, _)| used.contains(*term))
                .map(|(term, definition)| (term.clone(), definition.clone()))
                .collect(),
        }
    }
}
