//! A form shown again after the core refused it: the values the person entered, and
//! the core's message next to the field it is about (`aria-invalid`,
//! `aria-describedby`), or above the form when the error names no field the form shows.
//! The core names the field ([`AppError::field`]); this module only places the message.

use maud::{Markup, html};

use super::session::Fields;
use crate::app::{AppError, InputField};

/// A refused form: what was entered and why it was refused.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Which of the page's forms was sent (`client`, `token`, …).
    pub form: &'static str,
    pub fields: Fields,
    pub field: Option<InputField>,
    pub message: String,
}

impl Refused {
    /// The core's mistake `error` in form `form`, sent with `fields`.
    pub fn new(form: &'static str, fields: Fields, error: &AppError) -> Self {
        Self {
            form,
            fields,
            field: error.field().cloned(),
            message: error.public_message(),
        }
    }
}

/// One form as drawn: fresh, or again after the core refused it.
#[derive(Debug, Clone, Copy)]
pub struct FormView<'a> {
    refused: Option<&'a Refused>,
    /// The API fields the form shows; a mistake in another is shown above the form.
    shows: &'a [&'static str],
    /// The id of the form-level message.
    id: &'static str,
}

impl<'a> FormView<'a> {
    /// Form `form` of a page whose refused form, if any, is `refused`.
    pub fn new(
        form: &'static str,
        refused: Option<&'a Refused>,
        shows: &'a [&'static str],
        id: &'static str,
    ) -> Self {
        Self {
            refused: refused.filter(|r| r.form == form),
            shows,
            id,
        }
    }

    /// True when this form was sent and refused.
    pub fn is_refused(&self) -> bool {
        self.refused.is_some()
    }

    /// The value entered in input `name`, when the form comes back.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.refused.and_then(|r| r.fields.get(name))
    }

    /// The value entered, or `default` on a fresh form.
    pub fn value_or(&self, name: &str, default: &'a str) -> &'a str {
        match self.refused {
            Some(r) => r.fields.get(name).unwrap_or_default(),
            None => default,
        }
    }

    /// Whether checkbox `name` with `value` was ticked when sent; `fresh` otherwise.
    pub fn checked(&self, name: &str, value: &str, fresh: bool) -> bool {
        match self.refused {
            Some(r) => r.fields.all(name).iter().any(|v| v == value),
            None => fresh,
        }
    }

    fn names(&self, field: &str) -> bool {
        matches!(
            self.refused.and_then(|r| r.field.as_ref()),
            Some(InputField::Named(f)) if *f == field
        )
    }

    /// `aria-invalid` of the input for API field `field`.
    pub fn invalid(&self, field: &str) -> Option<&'static str> {
        self.names(field).then_some("true")
    }

    /// `aria-describedby` of the input with id `input` for API field `field`: its
    /// message when it is the one refused, and `help` (another element's id) if given.
    pub fn described(&self, field: &str, input: &str, help: Option<&str>) -> Option<String> {
        let error = self.names(field).then(|| format!("{input}-error"));
        match (error, help) {
            (Some(e), Some(h)) => Some(format!("{e} {h}")),
            (Some(e), None) => Some(e),
            (None, h) => h.map(str::to_owned),
        }
    }

    /// The message next to the input with id `input`, when API field `field` is the
    /// one refused.
    pub fn message(&self, field: &str, input: &str) -> Markup {
        html! {
            @if self.names(field) {
                @if let Some(r) = self.refused {
                    p.error.field-error id={ (input) "-error" } { (r.message) }
                }
            }
        }
    }

    /// A mistake in the filter on `column`: the message, to show next to that filter.
    pub fn filter_message(&self, column: &str) -> Option<&'a str> {
        let r = self.refused?;
        match &r.field {
            Some(InputField::Filter(c)) if c == column => Some(r.message.as_str()),
            _ => None,
        }
    }

    /// Whether the message belongs above the form: no field named, or one the form
    /// does not show.
    fn general(&self) -> Option<&'a str> {
        let r = self.refused?;
        let placed = match &r.field {
            Some(InputField::Named(f)) => self.shows.contains(f),
            Some(InputField::Filter(_)) => self.shows.contains(&"filter"),
            None => false,
        };
        (!placed).then_some(r.message.as_str())
    }

    /// The form-level message (role alert), when the mistake has no field here.
    pub fn form_message(&self) -> Markup {
        super::layout::form_error(self.general(), self.id)
    }

    /// `aria-describedby` of the form: its form-level message, if shown.
    pub fn form_described(&self) -> Option<&'static str> {
        self.general().map(|_| self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(field: Option<InputField>) -> Refused {
        Refused {
            form: "client",
            fields: Fields(vec![
                ("name".into(), "Nightly".into()),
                ("dataset".into(), "a".into()),
            ]),
            field,
            message: "days must be 1 to 730".into(),
        }
    }

    #[test]
    fn the_message_goes_next_to_the_field_the_core_names() {
        let r = refused(Some(InputField::Named("expires_in_days")));
        let view = FormView::new("client", Some(&r), &["name", "expires_in_days"], "e");
        assert_eq!(view.invalid("expires_in_days"), Some("true"));
        assert_eq!(view.invalid("name"), None);
        assert_eq!(
            view.described("expires_in_days", "client-days", None)
                .as_deref(),
            Some("client-days-error")
        );
        let next = view.message("expires_in_days", "client-days").into_string();
        assert!(
            next.contains("id=\"client-days-error\"") && next.contains("730"),
            "{next}"
        );
        assert!(view.form_message().into_string().is_empty());
        // What was entered comes back.
        assert_eq!(view.value("name"), Some("Nightly"));
        assert!(view.checked("dataset", "a", false) && !view.checked("dataset", "b", true));
    }

    #[test]
    fn a_mistake_without_a_field_here_is_shown_above_the_form_and_only_on_its_form() {
        let r = refused(None);
        let view = FormView::new("client", Some(&r), &["name"], "client-error");
        assert!(
            view.form_message()
                .into_string()
                .contains("id=\"client-error\"")
        );
        assert_eq!(view.form_described(), Some("client-error"));
        let other = FormView::new("token", Some(&r), &["name"], "token-error");
        assert!(!other.is_refused());
        assert_eq!(other.value_or("days", "30"), "30");
        assert!(other.form_message().into_string().is_empty());
        let elsewhere = refused(Some(InputField::Named("public_key")));
        let view = FormView::new("client", Some(&elsewhere), &["name"], "client-error");
        assert!(!view.form_message().into_string().is_empty());
    }
}
