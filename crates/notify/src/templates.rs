//! Mail templates: a subject, a plain-text part and an HTML part per template and language,
//! compiled into the binary (`templates/<locale>/<name>.{subject.txt,txt,html}`) and rendered
//! with minijinja. Templates whose name ends in `.html` escape every value (HTML auto-escape);
//! the text parts and the subject show values as they are. Parameters are validated first
//! (links must be http(s) URLs, names one line and bounded), see [`Params::from_template`].

use kanjian_contracts::notify::EmailTemplate;
use minijinja::{Environment, Value};

use crate::domain::{InvalidRequest, Link, Locale, one_line};

macro_rules! templates {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../templates/", $path)))),*]
    };
}

const SOURCES: &[(&str, &str)] = templates!(
    "en/layout.html",
    "en/verify_email.subject.txt",
    "en/verify_email.txt",
    "en/verify_email.html",
    "en/password_reset.subject.txt",
    "en/password_reset.txt",
    "en/password_reset.html",
    "en/live_reminder.subject.txt",
    "en/live_reminder.txt",
    "en/live_reminder.html",
    "en/live_cancelled.subject.txt",
    "en/live_cancelled.txt",
    "en/live_cancelled.html",
    "zh-CN/layout.html",
    "zh-CN/verify_email.subject.txt",
    "zh-CN/verify_email.txt",
    "zh-CN/verify_email.html",
    "zh-CN/password_reset.subject.txt",
    "zh-CN/password_reset.txt",
    "zh-CN/password_reset.html",
    "zh-CN/live_reminder.subject.txt",
    "zh-CN/live_reminder.txt",
    "zh-CN/live_reminder.html",
    "zh-CN/live_cancelled.subject.txt",
    "zh-CN/live_cancelled.txt",
    "zh-CN/live_cancelled.html",
);

/// A mail ready to be put in an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template's validated parameters (the values the mail shows).
#[derive(Debug, Clone)]
pub struct Params {
    name: &'static str,
    values: Vec<(&'static str, Value)>,
}

impl Params {
    pub const NAME_MAX: usize = 64;
    pub const TITLE_MAX: usize = 200;

    /// Checks every value of `template`: links are absolute http(s) URLs, names and titles one
    /// line of bounded length.
    pub fn from_template(template: &EmailTemplate) -> Result<Self, InvalidRequest> {
        let values = match template {
            EmailTemplate::VerifyEmail { link } => {
                vec![("link", Value::from(Link::parse("link", link)?.as_str()))]
            }
            EmailTemplate::PasswordReset { link, expires_in_minutes } => {
                if *expires_in_minutes == 0 {
                    return Err(InvalidRequest("expires_in_minutes: zero".into()));
                }
                vec![
                    ("link", Value::from(Link::parse("link", link)?.as_str())),
                    ("expires_in_minutes", Value::from(*expires_in_minutes)),
                ]
            }
            EmailTemplate::LiveReminder { channel_name, room_title, link }
            | EmailTemplate::LiveCancelled { channel_name, room_title, link } => vec![
                ("channel_name", Value::from(one_line("channel_name", channel_name, Self::NAME_MAX)?)),
                ("room_title", Value::from(one_line("room_title", room_title, Self::TITLE_MAX)?)),
                ("link", Value::from(Link::parse("link", link)?.as_str())),
            ],
        };
        Ok(Self { name: template.name(), values })
    }
}

/// The compiled templates. Cheap to share (`Arc` it); rendering takes `&self`.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// Compiles every template; an error here is a broken template in this crate (a unit test
    /// compiles them all).
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // Block tags leave no blank lines behind in the text parts.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Values a template does not define are an error, not an empty string.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in SOURCES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders `params` in `locale`. `unsubscribe_url` is shown (text and HTML) in mail that
    /// can be unsubscribed from.
    pub fn render(
        &self,
        params: &Params,
        locale: Locale,
        unsubscribe_url: Option<&str>,
    ) -> Result<Rendered, minijinja::Error> {
        let mut ctx: Vec<(&str, Value)> = params.values.clone();
        ctx.push(("unsubscribe_url", unsubscribe_url.map(Value::from).unwrap_or(Value::from(()))));
        let ctx = Value::from_iter(ctx);
        let render =
            |part: &str| self.env.get_template(&format!("{}/{}.{part}", locale.tag(), params.name))?.render(&ctx);
        // One line, whatever the template's trailing newline; control characters were refused
        // in the values already.
        let subject = render("subject.txt")?.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Rendered { subject, text: render("txt")?, html: render("html")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a browser shows for the escapes minijinja writes.
    fn unescape(html: &str) -> String {
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
    }

    fn every_template() -> Vec<EmailTemplate> {
        vec![
            EmailTemplate::VerifyEmail { link: "https://kanjian.example/verify?t=1".into() },
            EmailTemplate::PasswordReset { link: "https://kanjian.example/reset?t=2".into(), expires_in_minutes: 30 },
            EmailTemplate::LiveReminder {
                channel_name: "Alice 的厨房".into(),
                room_title: "Dumplings tonight".into(),
                link: "https://kanjian.example/live/7".into(),
            },
            EmailTemplate::LiveCancelled {
                channel_name: "Alice 的厨房".into(),
                room_title: "Dumplings tonight".into(),
                link: "https://kanjian.example/channels/alice".into(),
            },
        ]
    }

    #[test]
    fn every_template_renders_in_every_language_with_its_values() {
        let templates = Templates::new().unwrap();
        for template in every_template() {
            let params = Params::from_template(&template).unwrap();
            for locale in [Locale::En, Locale::ZhCn] {
                let unsubscribe =
                    (!template.category().is_essential()).then_some("https://kanjian.example/unsubscribe?token=abc");
                let r = templates.render(&params, locale, unsubscribe).unwrap();
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{r:?}");
                assert!(r.html.starts_with("<!DOCTYPE html>"), "{}", r.html);
                assert!(r.html.contains(&format!("<html lang=\"{}\">", locale.tag())));
                let link = match &template {
                    EmailTemplate::VerifyEmail { link }
                    | EmailTemplate::PasswordReset { link, .. }
                    | EmailTemplate::LiveReminder { link, .. }
                    | EmailTemplate::LiveCancelled { link, .. } => link,
                };
                assert!(r.text.contains(link.as_str()) && unescape(&r.html).contains(link.as_str()), "{r:?}");
                assert_eq!(unescape(&r.html).contains("/unsubscribe?token=abc"), unsubscribe.is_some());
                assert_eq!(r.text.contains("unsubscribe?token=abc"), unsubscribe.is_some());
            }
        }
    }

    #[test]
    fn chinese_and_english_differ_and_the_reset_mail_says_when_it_expires() {
        let templates = Templates::new().unwrap();
        let params = Params::from_template(&every_template()[1]).unwrap();
        let en = templates.render(&params, Locale::En, None).unwrap();
        let zh = templates.render(&params, Locale::ZhCn, None).unwrap();
        assert_eq!(en.subject, "Reset your Kanjian password");
        assert_eq!(zh.subject, "重置你的看见密码");
        assert!(en.text.contains("within 30 minutes") && zh.text.contains("30 分钟内"));
    }

    #[test]
    fn values_are_escaped_in_html_and_raw_in_text() {
        let templates = Templates::new().unwrap();
        let hostile = EmailTemplate::LiveReminder {
            channel_name: "<script>alert('x')</script>".into(),
            room_title: "Tom & \"Jerry\"".into(),
            link: "https://kanjian.example/live/7?a=1&b=2".into(),
        };
        let params = Params::from_template(&hostile).unwrap();
        let r = templates.render(&params, Locale::En, Some("https://kanjian.example/unsubscribe?token=t")).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;"), "{}", r.html);
        assert!(r.html.contains("Tom &amp; &quot;Jerry&quot;"));
        assert!(
            r.html.contains("href=\"https:&#x2f;&#x2f;kanjian.example&#x2f;live&#x2f;7?a=1&amp;b=2\""),
            "{}",
            r.html
        );
        assert!(r.text.contains("<script>alert('x')</script> is going live now: Tom & \"Jerry\""), "{}", r.text);
        assert_eq!(r.subject, "<script>alert('x')</script> is live: Tom & \"Jerry\"");
    }

    #[test]
    fn bad_values_are_refused_before_rendering() {
        for bad in [
            EmailTemplate::VerifyEmail { link: "javascript:alert(1)".into() },
            EmailTemplate::PasswordReset { link: "https://k.example/r".into(), expires_in_minutes: 0 },
            EmailTemplate::LiveReminder {
                channel_name: " ".into(),
                room_title: "t".into(),
                link: "https://k.example".into(),
            },
            EmailTemplate::LiveReminder {
                channel_name: "c".repeat(65),
                room_title: "t".into(),
                link: "https://k.example".into(),
            },
        ] {
            assert!(Params::from_template(&bad).is_err(), "{bad:?}");
        }
    }
}
