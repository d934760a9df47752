//! The embed page's link parameters ([`EmbedParams::parse`]) and the `<iframe>` snippet the
//! playground's "Embed this" button offers ([`iframe_snippet`]). Pure, tested natively.
//!
//! # Parameters (the query string of `/embed/`)
//! | name | values | default |
//! |------|--------|---------|
//! | `scenario` | a library scenario's name (`log-is-the-truth`, `group-commit`, ...) | the first one |
//! | `seed` | a whole number, 0 to 2⁶⁴−1 | the scenario's own |
//! | `panel` | `all`, `narration`, `world`, `keys`, `events` | `all` |
//! | `theme` | `auto`, `light`, `dark` | `auto` (the reader's preference) |
//! | `autoplay` | `on`/`off` (also `1`/`0`, `true`/`false`, `yes`/`no`) | `off` |
//! | `controls` | `on`/`off` (the same spellings) | `on` |
//! | `speed` | `1`, `4`, `16`, `64` (ticks of virtual time per 50 ms) | `4` |
//! | `origins` | comma-separated origins allowed to drive the widget by `postMessage` | none |
//! | `id` | the widget's name in its messages (letters, digits, `-`, `_`; 64 at most) | `logspine` |
//!
//! A malformed value is reported ([`EmbedParams::problems`], shown by the page and posted
//! to the host as an `error`) and replaced by its default; an unknown scenario falls back to
//! the first library scenario. Nothing here is ever put into markup as markup: the page
//! shows these strings as text (Yew escapes it), and the snippet escapes what it quotes.

use logspine_core::world::library;

use crate::scenario_state::SPEEDS;

/// The query string's parameters the page reads (others are reported as unknown).
pub const KNOWN: [&str; 9] = [
    "scenario", "seed", "panel", "theme", "autoplay", "controls", "speed", "origins", "id",
];
/// At most this many origins in `origins`.
pub const MAX_ORIGINS: usize = 16;
/// At most this many parameters are read (the rest are ignored, and that is reported).
pub const MAX_PARAMS: usize = 32;
/// Values are quoted back to the reader cut to this many characters.
const QUOTE_CHARS: usize = 40;
/// The longest widget id.
pub const MAX_ID_CHARS: usize = 64;
/// The widget id when the link gives none.
pub const DEFAULT_ID: &str = "logspine";
/// The default play speed (ticks per interval).
pub const DEFAULT_SPEED: u32 = 4;

/// Which part of the scenario view the widget shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Panel {
    /// The narration, the world, the keys and the recent events.
    #[default]
    All,
    /// The narration steps.
    Narration,
    /// Counters and invariant checks.
    World,
    /// The database's keys.
    Keys,
    /// The recent events.
    Events,
}

impl Panel {
    /// Every panel, in the order the picker lists them.
    pub const ALL: [Panel; 5] = [
        Panel::All,
        Panel::Narration,
        Panel::World,
        Panel::Keys,
        Panel::Events,
    ];

    /// The parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Panel::All => "all",
            Panel::Narration => "narration",
            Panel::World => "world",
            Panel::Keys => "keys",
            Panel::Events => "events",
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Panel::All => "Everything",
            Panel::Narration => "Narration",
            Panel::World => "Counters and invariant checks",
            Panel::Keys => "Keys in the database",
            Panel::Events => "Recent events",
        }
    }

    /// The panel named `s`.
    pub fn parse(s: &str) -> Option<Panel> {
        Panel::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the widget shows `part` when this panel is chosen.
    pub fn shows(self, part: Panel) -> bool {
        self == Panel::All || self == part
    }
}

/// The colour theme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Theme {
    /// The reader's `prefers-color-scheme`.
    #[default]
    Auto,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

impl Theme {
    /// The parameter's value (and the root element's `data-theme`).
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

/// The embed page's settings, from its link (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedParams {
    /// The library scenario to load.
    pub scenario: String,
    /// The seed (`None`: the scenario's own).
    pub seed: Option<u64>,
    /// What to show.
    pub panel: Panel,
    /// The colours.
    pub theme: Theme,
    /// Play as soon as loaded (unless the reader prefers reduced motion).
    pub autoplay: bool,
    /// Show the play/pause/step controls and the scrub slider.
    pub controls: bool,
    /// Ticks per play interval (one of [`SPEEDS`]).
    pub speed: u32,
    /// Origins whose messages the widget obeys (normalized: `scheme://host[:port]`).
    pub origins: Vec<String>,
    /// The widget's name in its messages.
    pub id: String,
    /// What was wrong with the link, one sentence each.
    pub problems: Vec<String>,
}

impl Default for EmbedParams {
    fn default() -> Self {
        EmbedParams {
            scenario: default_scenario(),
            seed: None,
            panel: Panel::All,
            theme: Theme::Auto,
            autoplay: false,
            controls: true,
            speed: DEFAULT_SPEED,
            origins: Vec::new(),
            id: DEFAULT_ID.to_owned(),
            problems: Vec::new(),
        }
    }
}

/// The first library scenario: what a widget shows when its link names none (or a bad one).
pub fn default_scenario() -> String {
    library::names().next().unwrap_or_default().to_owned()
}

/// `s` cut to a length worth quoting back.
fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE_CHARS).collect();
    if s.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    format!("\u{201c}{out}\u{201d}")
}

fn flag(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "1" | "true" | "yes" => Some(true),
        "off" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl EmbedParams {
    /// The settings a query string (with or without its leading `?`) asks for; every
    /// problem is described in [`EmbedParams::problems`] and the default used instead.
    pub fn parse(query: &str) -> EmbedParams {
        let mut p = EmbedParams::default();
        let pairs = parse_query(query);
        if pairs.len() > MAX_PARAMS {
            p.problems.push(format!(
                "The link has {} parameters; only the first {MAX_PARAMS} were read.",
                pairs.len()
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs.iter().take(MAX_PARAMS) {
            let Some(known) = KNOWN.iter().copied().find(|k| k == key) else {
                p.problems
                    .push(format!("Unknown parameter {} ignored.", quote(key)));
                continue;
            };
            if seen.contains(&known) {
                p.problems.push(format!(
                    "The parameter {known} is given twice; the first one is used."
                ));
                continue;
            }
            seen.push(known);
            p.set(known, value.trim());
        }
        p
    }

    fn set(&mut self, key: &str, value: &str) {
        let problem = match key {
            "scenario" => {
                if library::scenario(value).is_some() {
                    self.scenario = value.to_owned();
                    None
                } else {
                    Some(format!(
                        "There is no scenario called {}; showing {} instead. The scenarios are: {}.",
                        quote(value),
                        self.scenario,
                        library::names().collect::<Vec<_>>().join(", ")
                    ))
                }
            }
            "seed" => match value.parse::<u64>() {
                Ok(s) => {
                    self.seed = Some(s);
                    None
                }
                Err(_) => Some(format!(
                    "The seed {} is not a whole number from 0 to {}; the scenario's own seed is used.",
                    quote(value),
                    u64::MAX
                )),
            },
            "panel" => match Panel::parse(value) {
                Some(panel) => {
                    self.panel = panel;
                    None
                }
                None => Some(format!(
                    "There is no panel called {}; showing everything. The panels are: {}.",
                    quote(value),
                    Panel::ALL.map(Panel::as_str).join(", ")
                )),
            },
            "theme" => {
                let theme = match value {
                    "auto" | "" => Some(Theme::Auto),
                    "light" => Some(Theme::Light),
                    "dark" => Some(Theme::Dark),
                    _ => None,
                };
                match theme {
                    Some(t) => {
                        self.theme = t;
                        None
                    }
                    None => Some(format!(
                        "The theme {} is not light, dark or auto; the reader's preference is used.",
                        quote(value)
                    )),
                }
            }
            "autoplay" | "controls" => match flag(value) {
                Some(on) => {
                    if key == "autoplay" {
                        self.autoplay = on;
                    } else {
                        self.controls = on;
                    }
                    None
                }
                None => Some(format!(
                    "{key} must be on or off, not {}; {} is used.",
                    quote(value),
                    if key == "autoplay" { "off" } else { "on" }
                )),
            },
            "speed" => match value.parse::<u32>() {
                Ok(s) if SPEEDS.contains(&s) => {
                    self.speed = s;
                    None
                }
                _ => Some(format!(
                    "The speed {} is not one of {}; {DEFAULT_SPEED} is used.",
                    quote(value),
                    SPEEDS.map(|s| s.to_string()).join(", ")
                )),
            },
            "origins" => {
                let mut bad = Vec::new();
                for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match normalize_origin(part) {
                        Some(o) if self.origins.len() < MAX_ORIGINS => {
                            if !self.origins.contains(&o) {
                                self.origins.push(o);
                            }
                        }
                        Some(_) => bad.push(format!(
                            "more than {MAX_ORIGINS} origins: {} ignored",
                            quote(part)
                        )),
                        None => bad.push(format!(
                            "{} is not an origin like https://docs.example or http://localhost:5000",
                            quote(part)
                        )),
                    }
                }
                (!bad.is_empty()).then(|| format!("origins: {}.", bad.join("; ")))
            }
            "id" => {
                let ok = !value.is_empty()
                    && value.chars().count() <= MAX_ID_CHARS
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if ok {
                    self.id = value.to_owned();
                    None
                } else {
                    Some(format!(
                        "The id {} must be 1 to {MAX_ID_CHARS} letters, digits, - or _; {DEFAULT_ID} is used.",
                        quote(value)
                    ))
                }
            }
            _ => None,
        };
        if let Some(problem) = problem {
            self.problems.push(problem);
        }
    }

    /// Whether a message from `origin` may drive the widget: it is in the allow-list, or
    /// it is the widget's own origin (a page of the same site can reach into the frame
    /// anyway).
    pub fn allows(&self, origin: &str, own_origin: &str) -> bool {
        origin == own_origin || self.origins.iter().any(|o| o == origin)
    }
}

/// `origin` as browsers serialize `MessageEvent.origin`: lower-case scheme and host, the
/// default port dropped, no path (a trailing `/` is accepted); `None` if it is not an
/// `http` or `https` origin.
pub fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", inside.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !host_ok {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) => {
            let n: u16 = p
                .parse()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))?;
            if n.to_string() == default_port {
                Some(format!("{scheme}://{host}"))
            } else {
                Some(format!("{scheme}://{host}:{n}"))
            }
        }
    }
}

/// The origin of an absolute `http`/`https` URL (`document.referrer`, an ancestor
/// origin), normalized as [`normalize_origin`] does.
pub fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return None;
    }
    normalize_origin(&format!("{scheme}://{authority}"))
}

/// The `key=value` pairs of a query string (`+` is a space, `%XX` a byte; bytes that are
/// not UTF-8 become U+FFFD), in order.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decodes one query component.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` safe inside a double-quoted HTML attribute.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The site's root URL for a page at `pathname` on `origin`: the directory the page is in
/// (`/` for the playground at `/` or `/index.html`).
pub fn site_base(origin: &str, pathname: &str) -> String {
    let dir = pathname.rfind('/').map_or("/", |i| &pathname[..=i]);
    format!("{origin}{dir}")
}

/// The embed page's link for a scenario, seed and panel, under `base` (the site's root
/// URL, with or without a trailing `/`). Defaults are left out, so links stay short.
pub fn embed_url(base: &str, scenario: &str, seed: Option<u64>, panel: Panel) -> String {
    let mut url = format!(
        "{}/embed/?scenario={}",
        base.trim_end_matches('/'),
        encode(scenario)
    );
    if let Some(seed) = seed {
        url.push_str(&format!("&seed={seed}"));
    }
    if panel != Panel::All {
        url.push_str(&format!("&panel={}", panel.as_str()));
    }
    url
}

/// The height an iframe snippet starts at (the widget reports its real height; a host
/// that listens sets it).
pub fn snippet_height(panel: Panel) -> u32 {
    match panel {
        Panel::All => 720,
        Panel::Narration | Panel::Keys => 360,
        Panel::World | Panel::Events => 420,
    }
}

/// The `<iframe>` element that embeds `url`, titled for screen readers.
pub fn iframe_snippet(url: &str, title: &str, panel: Panel) -> String {
    format!(
        "<iframe src=\"{}\" title=\"{}\" width=\"100%\" height=\"{}\" loading=\"lazy\"></iframe>",
        escape_attr(url),
        escape_attr(&format!("Logspine: {title}")),
        snippet_height(panel)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_link_gives_the_defaults() {
        let p = EmbedParams::parse("");
        assert_eq!(p, EmbedParams::default());
        assert_eq!(p.scenario, "log-is-the-truth");
        assert!(p.controls && !p.autoplay);
        assert!(p.problems.is_empty());
    }

    #[test]
    fn every_parameter_is_read() {
        let p = EmbedParams::parse(
            "?scenario=group-commit&seed=42&panel=keys&theme=dark&autoplay=on&controls=off\
             &speed=64&origins=http://localhost:5000,%20HTTPS://Docs.Example:443/&id=w-2",
        );
        assert_eq!(p.scenario, "group-commit");
        assert_eq!(p.seed, Some(42));
        assert_eq!(p.panel, Panel::Keys);
        assert_eq!(p.theme, Theme::Dark);
        assert!(p.autoplay);
        assert!(!p.controls);
        assert_eq!(p.speed, 64);
        assert_eq!(p.origins, ["http://localhost:5000", "https://docs.example"]);
        assert_eq!(p.id, "w-2");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
    }

    #[test]
    fn malformed_values_are_reported_and_replaced_by_defaults() {
        let p = EmbedParams::parse(
            "scenario=nope&seed=-1&panel=x&theme=blue&autoplay=maybe&controls=2&speed=5\
             &origins=javascript:alert(1),http://ok.example&id=<b>&colour=red&seed=3",
        );
        assert_eq!(p.scenario, "log-is-the-truth");
        assert_eq!(p.seed, None, "the second seed is not used either");
        assert_eq!(p.panel, Panel::All);
        assert_eq!(p.theme, Theme::Auto);
        assert!(!p.autoplay);
        assert!(p.controls);
        assert_eq!(p.speed, DEFAULT_SPEED);
        assert_eq!(p.origins, ["http://ok.example"]);
        assert_eq!(p.id, DEFAULT_ID);
        let all = p.problems.join("\n");
        for expected in [
            "no scenario called \u{201c}nope\u{201d}",
            "seed \u{201c}-1\u{201d}",
            "no panel called \u{201c}x\u{201d}",
            "theme \u{201c}blue\u{201d}",
            "autoplay must be on or off",
            "controls must be on or off",
            "speed \u{201c}5\u{201d}",
            "\u{201c}javascript:alert(1)\u{201d} is not an origin",
            "id \u{201c}<b>\u{201d}",
            "Unknown parameter \u{201c}colour\u{201d}",
            "seed is given twice",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
        assert_eq!(p.problems.len(), 11, "{all}");
    }

    #[test]
    fn long_values_are_quoted_short_and_many_parameters_are_capped() {
        let long = "x".repeat(500);
        let p = EmbedParams::parse(&format!("scenario={long}"));
        assert_eq!(p.problems.len(), 1);
        // The message lists the scenarios; the visitor's value in it is cut short.
        let list = library::names().collect::<Vec<_>>().join(", ");
        assert!(p.problems[0].len() < 200 + list.len(), "{}", p.problems[0]);
        assert!(!p.problems[0].contains(&long[..100]));
        assert!(p.problems[0].contains('…'));
        let many: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
        let p = EmbedParams::parse(&many.join("&"));
        assert_eq!(p.problems.len(), MAX_PARAMS + 1);
    }

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            parse_query("?a=b%20c+d&e&=f&g=%zz%4&h=%E2%9C%93&i=%FF"),
            [
                ("a".into(), "b c d".into()),
                ("e".into(), String::new()),
                (String::new(), "f".into()),
                ("g".into(), "%zz%4".into()),
                ("h".into(), "✓".into()),
                ("i".into(), "\u{fffd}".into()),
            ]
        );
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%41"), "A");
    }

    #[test]
    fn origins_are_normalized_like_message_event_origin() {
        let n = |s: &str| normalize_origin(s);
        assert_eq!(
            n("http://localhost:5000").as_deref(),
            Some("http://localhost:5000")
        );
        assert_eq!(
            n("HTTP://LocalHost:80/").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(
            n("https://a.example:443").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            n("https://a.example:8443").as_deref(),
            Some("https://a.example:8443")
        );
        assert_eq!(n("http://[::1]:8080").as_deref(), Some("http://[::1]:8080"));
        for bad in [
            "localhost:5000",
            "ftp://a.example",
            "http://",
            "http://a.example/path",
            "http://a.example:99999",
            "http://a.example:+80",
            "http://a b",
            "http://[zz]",
            "null",
            "*",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_urls_origin_is_found() {
        let o = |s: &str| origin_of_url(s);
        assert_eq!(
            o("http://127.0.0.1:5000/host.html?x=1").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            o("https://Docs.Example/a/b#c").as_deref(),
            Some("https://docs.example")
        );
        assert_eq!(
            o("https://docs.example?q").as_deref(),
            Some("https://docs.example")
        );
        assert_eq!(o("https://user@docs.example/"), None);
        assert_eq!(o("about:blank"), None);
        assert_eq!(o(""), None);
    }

    #[test]
    fn only_allowed_origins_and_the_own_origin_may_drive_the_widget() {
        let p = EmbedParams::parse("origins=http://127.0.0.1:5000");
        let own = "http://127.0.0.1:8080";
        assert!(p.allows("http://127.0.0.1:5000", own));
        assert!(p.allows(own, own));
        assert!(!p.allows("http://127.0.0.1:5001", own));
        assert!(!p.allows("null", own));
        assert!(!EmbedParams::parse("").allows("http://127.0.0.1:5000", own));
    }

    #[test]
    fn the_site_base_is_the_pages_directory() {
        assert_eq!(site_base("http://h:8080", "/"), "http://h:8080/");
        assert_eq!(site_base("http://h:8080", "/index.html"), "http://h:8080/");
        assert_eq!(
            site_base("https://x", "/logspine/index.html"),
            "https://x/logspine/"
        );
        assert_eq!(site_base("https://x", ""), "https://x/");
        assert_eq!(
            embed_url(
                &site_base("https://x", "/logspine/"),
                "torn-write",
                None,
                Panel::All
            ),
            "https://x/logspine/embed/?scenario=torn-write"
        );
    }

    #[test]
    fn the_snippet_quotes_safely_and_leaves_defaults_out() {
        let url = embed_url("https://x.example/", "group-commit", Some(7), Panel::Keys);
        assert_eq!(
            url,
            "https://x.example/embed/?scenario=group-commit&seed=7&panel=keys"
        );
        assert_eq!(
            embed_url("http://h", "a b&c", None, Panel::All),
            "http://h/embed/?scenario=a%20b%26c"
        );
        let s = iframe_snippet(&url, "A \"title\" <b>&</b>", Panel::Keys);
        assert_eq!(
            s,
            "<iframe src=\"https://x.example/embed/?scenario=group-commit&amp;seed=7&amp;panel=keys\" \
             title=\"Logspine: A &quot;title&quot; &lt;b&gt;&amp;&lt;/b&gt;\" width=\"100%\" \
             height=\"360\" loading=\"lazy\"></iframe>"
        );
        // The link the snippet holds reads back as what was asked for.
        let query = url.split_once('?').unwrap().1;
        let p = EmbedParams::parse(query);
        assert_eq!(
            (p.scenario.as_str(), p.seed, p.panel),
            ("group-commit", Some(7), Panel::Keys)
        );
        assert!(p.problems.is_empty());
    }
}
