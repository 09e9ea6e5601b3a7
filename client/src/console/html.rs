//! The console's markup: text is escaped where it enters, pages share one layout, and times are
//! written in UTC with the offset shown (the page's script restates them in the officer's own
//! time zone).

use std::fmt::Write;

/// Markup that is already safe to send: built only by this module's functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn new() -> Html {
        Html(String::new())
    }

    /// Markup written in this crate (never outside text).
    pub fn trusted(markup: impl Into<String>) -> Html {
        Html(markup.into())
    }

    pub fn push(&mut self, more: Html) {
        self.0.push_str(&more.0);
    }

    pub fn push_str(&mut self, markup: &str) {
        self.0.push_str(markup);
    }

    /// This markup inside `<tag class="class">`.
    pub fn wrap(self, tag: &str, class: &str) -> Html {
        match class {
            "" => Html(format!("<{tag}>{}</{tag}>", self.0)),
            class => Html(format!(
                "<{tag} class=\"{}\">{}</{tag}>",
                text(class).0,
                self.0
            )),
        }
    }

    /// This markup inside `<tag attributes>`; `attributes` are markup written in this crate.
    pub fn wrap_attr(self, tag: &str, attributes: &str) -> Html {
        Html(format!("<{tag} {attributes}>{}</{tag}>", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromIterator<Html> for Html {
    fn from_iter<I: IntoIterator<Item = Html>>(iter: I) -> Html {
        let mut all = Html::new();
        for part in iter {
            all.push(part);
        }
        all
    }
}

/// Text made safe for an element's content or a quoted attribute.
pub fn text(value: &str) -> Html {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Html(out)
}

/// A path segment made safe for a URL inside an attribute (percent-encoded, then escaped).
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// `<a href>` to a path built of safe segments.
pub fn link(path: &str, label: &str) -> Html {
    Html(format!(
        "<a href=\"{}\">{}</a>",
        text(path).0,
        text(label).0
    ))
}

/// A Unix-millisecond instant as `2026-12-02 18:55:22 +00:00` in a `<time>` element the page
/// script rewrites into the browser's time zone.
pub fn time(ms: u64) -> Html {
    let utc = crate::time::utc_text(ms);
    Html(format!(
        "<time datetime=\"{}\" data-ms=\"{ms}\">{} +00:00</time>",
        text(&crate::time::iso8601(ms)).0,
        text(&utc).0
    ))
}

/// An element with text content.
pub fn element(tag: &str, class: &str, content: &str) -> Html {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{}\"", text(class).0)
    };
    Html(format!("<{tag}{class}>{}</{tag}>", text(content).0))
}

/// A table with column headers and rows of cells.
pub fn table(caption: &str, headers: &[&str], rows: impl IntoIterator<Item = Vec<Html>>) -> Html {
    let mut out = format!("<table><caption>{}</caption><thead><tr>", text(caption).0);
    for header in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", text(header).0);
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", cell.0);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    Html(out)
}

/// Who is looking, through which node, against which genesis: the header of every page.
#[derive(Debug, Clone)]
pub struct Frame {
    pub org: String,
    pub roles: Vec<&'static str>,
    pub node: String,
    pub chain: String,
}

/// A whole page.
pub fn page(frame: &Frame, title: &str, body: Html) -> String {
    let mut nav = String::new();
    let links: [(&str, &str, &str); 3] = [
        ("customs", "/", "Work list"),
        ("brand", "/brand", "Brand audit"),
        ("party", "/mine", "My shipments"),
    ];
    for (role, path, label) in links {
        let shown = match role {
            "party" => frame
                .roles
                .iter()
                .any(|r| *r == "carrier" || *r == "platform"),
            role => frame.roles.contains(&role),
        };
        if shown {
            let _ = write!(nav, "<li>{}</li>", link(path, label).0);
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Waybill console</title>\
<link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\
<link rel=\"stylesheet\" href=\"/assets/console.css\">\
<script src=\"/assets/console.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a>\
<header><div class=\"brand\">Waybill console</div><nav aria-label=\"Views\"><ul>{nav}</ul></nav>\
<form class=\"go\" method=\"get\" action=\"/go\" role=\"search\"><label for=\"go-shipment\">Shipment</label>\
<input id=\"go-shipment\" name=\"shipment\" required maxlength=\"64\" autocomplete=\"off\"><button type=\"submit\">Open</button></form>\
<p class=\"who\">{org} ({roles}) · node {node} · genesis {chain} · every answer verified on this machine</p></header>\
<main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>{body}</main></body></html>\n",
        title = text(title).0,
        org = text(&frame.org).0,
        roles = text(&frame.roles.join(", ")).0,
        node = text(&frame.node).0,
        chain = text(&frame.chain).0,
        body = body.0,
    )
}

/// The banner over anything that did not verify: what failed, and that no action is offered.
pub fn not_verified(reason: &str) -> Html {
    Html(format!(
        "<div class=\"banner bad\" role=\"alert\"><strong>NOT VERIFIED</strong> {} \
<span>Nothing from this answer is shown as fact and no action is offered.</span></div>",
        text(reason).0
    ))
}

/// The banner over a verified answer: the block it is as of.
pub fn verified(height: u64, block_hash: &str) -> Html {
    Html(format!(
        "<div class=\"banner good\" role=\"status\"><strong>VERIFIED</strong> against the genesis on \
this machine, as of block {height} <code>{}</code></div>",
        text(block_hash).0
    ))
}

/// The node's refusal, said plainly.
pub fn refused(message: &str) -> Html {
    Html(format!(
        "<div class=\"banner refused\" role=\"alert\"><strong>REFUSED BY THE NODE</strong> {}</div>",
        text(message).0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            text("<a href=\"x\">'&'</a>").as_str(),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("HAWB 1/2?x"), "HAWB%201%2F2%3Fx");
        assert_eq!(segment("SN-1_a.b~"), "SN-1_a.b~");
    }

    #[test]
    fn a_time_says_its_offset() {
        let shown = time(1_764_700_000_000);
        assert!(
            shown.as_str().contains("2025-12-02 18:26:40 +00:00"),
            "{}",
            shown.as_str()
        );
        assert!(
            shown
                .as_str()
                .contains("datetime=\"2025-12-02T18:26:40.000Z\"")
        );
    }
}
