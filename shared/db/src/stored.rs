//! Statuses stored through sea-orm active enums while the domain keeps its own enum:
//! [`stored_as!`](crate::stored_as) declares the store's string enum and both conversions from
//! one list, so the domain never sees sea-orm and the two cannot drift apart.

/// Declares a string active enum mirroring a domain enum of the same variants, with `From`
/// both ways. Use it where `sea_orm::entity::prelude::*` is in scope:
///
/// ```ignore
/// ps_db::stored_as!(
///     /// `deliveries.status`.
///     DeliveryState <=> DeliveryStatus { Queued => "queued", Sent => "sent" }
/// );
/// ```
#[macro_export]
macro_rules! stored_as {
    ($(#[$doc:meta])* $name:ident <=> $domain:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(#[sea_orm(string_value = $text)] $variant),*
        }

        impl From<$domain> for $name {
            fn from(value: $domain) -> Self {
                match value { $($domain::$variant => $name::$variant),* }
            }
        }

        impl From<$name> for $domain {
            fn from(value: $name) -> Self {
                match value { $($name::$variant => $domain::$variant),* }
            }
        }
    };
}
